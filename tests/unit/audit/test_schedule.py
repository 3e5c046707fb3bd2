"""The scheduler runs the audit anchor every few minutes and the archive daily, with egov.yml's retention."""

from __future__ import annotations

import datetime as dt

from controlplane.audit import anchor, schedule
from controlplane.scheduler import create_scheduler
from tests.unit.audit.conftest import fill


def test_the_jobs_are_persisted_with_their_triggers(store, config) -> None:
    scheduler = create_scheduler(store)
    scheduler.start(paused=True)
    try:
        schedule.add_jobs(scheduler, config)
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert jobs[schedule.ANCHOR_JOB_ID].trigger.interval == dt.timedelta(minutes=schedule.ANCHOR_MINUTES)
    assert str(jobs[schedule.ARCHIVE_JOB_ID].trigger).startswith("cron[hour='3', minute='40'")
    assert jobs[schedule.ANCHOR_JOB_ID].args == (str(config.source),)


def test_the_anchor_job_anchors_the_moved_head(store, config) -> None:
    fill(store, 3)
    results = schedule.anchor_job(str(config.source), store)
    assert [(r["where"], r["seq"], r["written"]) for r in results] == [("local", 3, True)]
    assert anchor.read_local(config)[0][-1].seq == 3


def test_the_archive_job_keeps_records_younger_than_the_retention(store, config) -> None:
    fill(store, 2)
    assert schedule.archive_job(str(config.source), store) is None  # 365 days by default: nothing that old
    assert not list(config.audit_archive_dir.glob("*.gz"))
