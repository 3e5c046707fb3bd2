"""The daily scan: one persisted cron job per site, and the job itself stores a scheduled scan."""

from __future__ import annotations

from controlplane.compliance import schedule
from controlplane.store.models import Run


def test_the_daily_scan_is_one_cron_job_that_a_restart_replaces(store, config_path) -> None:
    from controlplane.scheduler import create_scheduler

    scheduler = create_scheduler(store)
    scheduler.start(paused=True)
    try:
        schedule.add_daily_scan(scheduler, config_path)
        schedule.add_daily_scan(scheduler, config_path)
        jobs = scheduler.get_jobs()
        assert [job.id for job in jobs] == [schedule.JOB_ID]
        assert jobs[0].args == (str(config_path),) and "hour='2'" in str(jobs[0].trigger)
    finally:
        scheduler.shutdown(wait=False)


def test_the_job_scans_every_host_as_the_scheduler(store, config_path, monkeypatch) -> None:
    from tests.unit.compliance.test_collector import LocalPool

    class ClosingPool(LocalPool):
        def close(self) -> None:
            """SSHPool's close: nothing to close locally."""

    monkeypatch.setattr("controlplane.ssh.SSHPool.from_config", classmethod(lambda cls, config: ClosingPool()))
    summary = schedule.daily_scan(str(config_path), store=store)
    with store.session() as session:
        run = session.get(Run, summary["run_id"])
    assert (run.actor, run.trigger, run.kind, run.status) == ("scheduler", "schedule", "scan", "succeeded")
    assert run.summary["hosts"] == 15  # the zoned lab of issue 16: 9 hosts + 3 gateways, a probe, a province, a school
