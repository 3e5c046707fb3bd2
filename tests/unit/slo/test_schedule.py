"""The scheduled work: last month's reports written once (listed for the console), and the rollups' retention."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.unit.slo.conftest import at, drive, timeline


def test_the_jobs_are_scheduled_in_the_objectives_time_zone() -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from controlplane.slo.schedule import REPORT_JOB, RETENTION_JOB, add_jobs

    scheduler = BackgroundScheduler(timezone="UTC")
    add_jobs(scheduler, "/site/egov.yml")
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {REPORT_JOB, RETENTION_JOB}
    assert jobs[REPORT_JOB].args == ("/site/egov.yml",)
    assert str(jobs[REPORT_JOB].trigger.timezone) == "Asia/Shanghai"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium comes with scripts/setup.sh")
def test_the_previous_months_reports_are_written_once_and_recorded(monitor, store, levels, site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.models import ReportFile
    from controlplane.slo.schedule import monthly_reports

    drive(monitor, timeline(600, lambda s: not 100 <= s < 160))
    december = at(30 * 86400 + 7200)  # 1 December, 02:00 in Beijing
    written = monthly_reports(store, levels, site, now=december)
    assert sorted(p.name for p in written) == sorted(
        f"availability-2026-11-national-{lang}.{fmt}"
        for lang, fmt in (("zh", "html"), ("zh", "pdf"), ("en", "html"), ("en", "pdf"), ("zh", "csv"), ("zh", "json"))
    )
    for path in written:
        assert path.parent == Path(site.state_dir) / "reports" and oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert written[1].read_bytes().startswith(b"%PDF")
    with store.session() as session:
        rows = list(session.scalars(select(ReportFile)))
    assert {(r.month, r.site, r.created_by) for r in rows} == {("2026-11", "", "scheduler")}
    assert monthly_reports(store, levels, site, now=december + dt.timedelta(days=1)) == []


def test_rollups_older_than_their_retention_are_deleted(store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.models import SloHour, SloMinute
    from controlplane.slo.schedule import rollup_retention

    now = at(400 * 86400)
    with store.session() as session:
        for days in (10, 40, 500):
            moment = int((now - dt.timedelta(days=days)).timestamp()) // 3600 * 3600
            session.add(SloMinute(service="portal", minute=moment, good=1, bad=0, slice_seconds=10))
            session.add(SloHour(service="portal", hour=moment, good=1, bad=0, slice_seconds=10))
    assert rollup_retention(store, 35, 400, now) == {"minutes": 2, "hours": 1}
    with store.session() as session:
        assert len(list(session.scalars(select(SloMinute)))) == 1
        assert len(list(session.scalars(select(SloHour)))) == 2
    assert rollup_retention(store, 0, 0, now) == {"minutes": 0, "hours": 0}
