"""Engine parts that need only a store: locks, restore roots, records, report, metrics, schedules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controlplane.backup import center_setup, locks, records, report, restore, schedule
from controlplane.backup.jsonout import BackupSummary
from controlplane.backup.metrics import BackupCollector
from controlplane.backup.models import BackupDrill
from controlplane.backup.policy import load_policies
from controlplane.errors import BadInputError
from controlplane.runs import create_run, finish_run
from controlplane.store.models import utcnow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def bstore(store: Any) -> Any:
    return store


def _run(store: Any, target: str = "oa-data@mn-oa-1") -> int:
    with store.session() as session:
        return create_run(session, kind="backup", target=target, actor="t").id


def test_only_one_run_holds_a_repository_and_a_finished_holder_is_taken_over(bstore: Any) -> None:
    first, second = _run(bstore), _run(bstore)
    assert locks.try_acquire(bstore, "sftp:r", first, "backup") is None
    holder = locks.try_acquire(bstore, "sftp:r", second, "backup-prune")
    assert holder is not None and holder.id == first
    busy = locks.repository_lock(bstore, "sftp:r", second, "backup-prune", wait=0)
    with pytest.raises(locks.RepositoryBusyError, match=f"run {first}"), busy:
        pass
    with bstore.session() as session:
        from controlplane.store.models import Run

        finish_run(session, session.get(Run, first), "failed")
    assert locks.try_acquire(bstore, "sftp:r", second, "backup-prune") is None


def test_a_stale_lock_is_only_removed_when_no_other_run_of_ours_uses_the_repository(bstore: Any) -> None:
    mine, other = _run(bstore), _run(bstore)
    assert locks.other_active_runs(bstore, "oa-data@mn-oa-1", mine) == [other]
    with bstore.session() as session:
        from controlplane.store.models import Run

        finish_run(session, session.get(Run, other), "succeeded")
    assert locks.other_active_runs(bstore, "oa-data@mn-oa-1", mine) == []


@pytest.mark.parametrize("folder", ["/etc", "/var/lib/egov/restore/../../etc", "relative", "/var/lib/egov/restored"])
def test_a_restore_outside_the_allowed_roots_is_refused(folder: str) -> None:
    with pytest.raises(BadInputError):
        restore.check_restore_dir(folder, ["/var/lib/egov/restore"])


def test_a_restore_inside_a_root_or_confirmed_in_place_is_allowed() -> None:
    roots = ["/var/lib/egov/restore", "/srv/restore"]
    assert restore.check_restore_dir("/srv/restore/a/./b", roots) == "/srv/restore/a/b"
    assert restore.check_restore_dir("/srv/oa", roots, in_place=True) == "/srv/oa"
    with pytest.raises(BadInputError):
        restore.check_restore_dir("/srv/oa/../../etc", roots, in_place=True)


def _ctx(store: Any) -> Any:
    from controlplane.inventory import load_inventory

    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    policy = load_policies(REPO / "backup", inventory)

    def targets(dataset: Any) -> Any:
        from controlplane.backup.targets import targets_of

        return targets_of(policy, inventory, dataset)

    return SimpleNamespace(store=store, policy=policy, targets=targets, config=SimpleNamespace(site_name="lab"))


def test_the_readiness_report_gives_each_dataset_and_host_a_verdict(bstore: Any) -> None:
    run = _run(bstore)
    summary = BackupSummary("ab" * 32, 2, 0, 0, 1, 0, 100, 90, 2, 100, 1.5)
    records.record_backup(
        bstore,
        run_id=run,
        dataset="oa-data",
        host="mn-oa-1",
        site="ministry",
        status="succeeded",
        message="ok",
        duration=2.0,
        summary=summary,
    )
    data = report.report_data(_ctx(bstore))
    rows = {(r["dataset"], r["host"]): r for r in data["rows"]}
    assert rows[("oa-data", "mn-oa-1")]["verdict"] == "warning"  # a drill target but no drill yet
    # The lab policy has a secondary center and nothing was copied there yet.
    assert rows[("oa-data", "mn-oa-1")]["reasons"] == [
        "no restore drill in the last 35 days",
        "no off-site copy on the secondary center",
    ]
    assert rows[("oa-data", "gd-edu-1")]["verdict"] == "never"
    assert data["ready"] is False
    html = report.render_html(data)
    assert "<script" not in html and "oa-data" in html and "NOT READY" in html


def test_a_success_older_than_the_rpo_is_stale_and_a_passed_drill_makes_it_ok() -> None:
    base = {
        "age_seconds": 100.0,
        "last_status": "succeeded",
        "last_check_status": None,
        "last_drill_passed": True,
        "drill_age_seconds": 50.0,
    }
    assert report.verdict(base, 3600, True) == ("ok", [])
    assert report.verdict({**base, "age_seconds": 7200.0}, 3600, True)[0] == "stale"
    assert report.verdict({**base, "last_drill_passed": False}, 3600, True)[0] == "warning"
    assert report.verdict({**base, "age_seconds": None}, 3600, True)[0] == "never"


def test_the_metrics_collector_exports_last_success_duration_bytes_and_drill_figures(bstore: Any) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    run = _run(bstore)
    summary = BackupSummary("cd" * 32, 2, 0, 0, 1, 0, 4096, 90, 2, 100, 1.5)
    records.record_backup(
        bstore,
        run_id=run,
        dataset="oa-data",
        host="mn-oa-1",
        site="ministry",
        status="succeeded",
        message="ok",
        duration=2.5,
        summary=summary,
    )
    drill = BackupDrill(
        dataset="oa-data",
        host="mn-oa-1",
        drill_host="dr-app-1",
        started_at=utcnow(),
        passed=True,
        data_age_seconds=60.0,
        rto_seconds=12.5,
        files_checked=3,
        message="",
    )
    records.record_drill(bstore, drill, "ministry")
    registry = CollectorRegistry()
    registry.register(BackupCollector(bstore))
    text = generate_latest(registry).decode()
    labels = 'dataset="oa-data",host="mn-oa-1",site="ministry"'
    assert f"egov_backup_last_added_bytes{{{labels}}} 4096.0" in text
    assert f"egov_backup_last_duration_seconds{{{labels}}} 2.5" in text
    assert f"egov_backup_last_drill_duration_seconds{{{labels}}} 12.5" in text
    assert f"egov_backup_last_drill_success{{{labels}}} 1.0" in text
    assert "egov_backup_last_success_timestamp_seconds{" in text
    assert "egov_backup_last_check_success{" not in text  # never checked: absent, not 0


def test_every_dataset_and_host_gets_backup_check_prune_and_drill_jobs_with_jitter(bstore: Any) -> None:
    ctx = _ctx(bstore)
    jobs = schedule.planned_jobs(ctx.policy, ctx)
    ids = {job.id for job in jobs}
    assert "backup:backup:oa-data:mn-oa-1" in ids and "backup:drill:oa-data:gd-edu-1" in ids
    assert "backup:check:edu-db:mn-db-1" in ids and "backup:prune:controlplane-db:controlplane" in ids
    assert len(ids) == len(jobs)
    trigger = schedule.trigger_for("0 */4 * * *", 120)
    assert trigger.jitter == 120
    start = dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.UTC)
    assert trigger.get_next_fire_time(None, start).replace(second=0, microsecond=0) in (
        dt.datetime(2026, 1, 1, 4, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 4, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 4, 2, tzinfo=dt.UTC),
    )


def test_jobs_persist_with_one_instance_coalesced_and_stale_backup_jobs_are_removed(bstore: Any) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from controlplane.scheduler import create_scheduler

    scheduler: BackgroundScheduler = create_scheduler(bstore)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(
            schedule.JOB_FUNCTION,
            "interval",
            hours=1,
            id="backup:backup:gone:nowhere",
            args=["backup", "gone", "nowhere"],
        )
        ctx = _ctx(bstore)
        ids = schedule.sync_jobs(scheduler, SimpleNamespace(), bstore, ctx=ctx)
        stored = {job.id: job for job in scheduler.get_jobs()}
        assert "backup:backup:gone:nowhere" not in stored
        job = stored["backup:backup:oa-data:mn-oa-1"]
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time is None
        assert set(ids) <= set(stored)
    finally:
        scheduler.shutdown(wait=False)


def test_the_center_configuration_chroots_each_site_account_and_ends_its_match_blocks() -> None:
    text = center_setup.render_conf("/srv/restic", {"backup-ministry": "ministry", "backup-school-gd-1": "school-gd-1"})
    block = "Match User backup-ministry\n    ChrootDirectory /srv/restic/ministry\n    ForceCommand internal-sftp"
    assert block in text
    assert "ChrootDirectory /srv/restic/school-gd-1" in text
    assert text.rstrip().endswith("Match all")


def test_the_center_program_refuses_names_and_keys_that_could_escape() -> None:
    good = {
        "root": "/srv/restic",
        "sites": [
            {
                "site": "ministry",
                "user": "backup-ministry",
                "hosts": ["mn-oa-1"],
                "keys": ["ssh-ed25519 AAAAC3Nz egov-backup@mn-oa-1"],
            }
        ],
    }
    center_setup._check(good)
    for bad in (
        {**good, "root": "/"},
        {**good, "sites": [{**good["sites"][0], "hosts": ["../etc"]}]},
        {**good, "sites": [{**good["sites"][0], "keys": ['command="sh" ssh-ed25519 AAAA']}]},
        {**good, "sites": [{**good["sites"][0], "user": "root;x"}]},
    ):
        with pytest.raises(ValueError):
            center_setup._check(bad)
