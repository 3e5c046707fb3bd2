"""The scheduler started by `egov serve`: jobs persisted in the store, housekeeping."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from controlplane import scheduler
from controlplane.store.models import LoginThrottle, Run, RunStatus


def test_jobs_are_persisted_in_the_store_and_not_duplicated_on_restart(store) -> None:
    first = scheduler.start_scheduler(store)
    try:
        job = first.get_job(scheduler.HOUSEKEEPING_ID)
        assert job is not None and job.next_run_time is not None
    finally:
        scheduler.stop_scheduler(first)
    second = scheduler.start_scheduler(store)
    scheduler.stop_scheduler(second)
    with store.engine.connect() as connection:
        ids = [row[0] for row in connection.execute(text("SELECT id FROM apscheduler_jobs"))]
    assert ids == [scheduler.HOUSEKEEPING_ID]


def test_housekeeping_purges_old_failures_and_interrupts_orphaned_runs(store) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with store.session() as session:
        session.add(LoginThrottle(key="addr:192.0.2.1", failures=3, first_failure_at=old))
        session.add(
            Run(
                kind="ping",
                target="x",
                actor="t",
                status=RunStatus.RUNNING,
                owner_host="gone",
                owner_pid=1,
                owner_started=None,
                params={},
                summary={},
            )
        )
    # An owner on another machine is not ours to judge; make it this machine's dead pid.
    from controlplane.runs import _hostname

    with store.session() as session:
        run = session.query(Run).one()
        run.owner_host, run.owner_pid, run.owner_started = _hostname(), 999999999, "0"
    scheduled = scheduler.start_scheduler(store)
    try:
        assert scheduler.housekeeping() == {"throttle_purged": 1, "runs_interrupted": 1}
    finally:
        scheduler.stop_scheduler(scheduled)
    with pytest.raises(RuntimeError):
        scheduler.current_store()


def test_a_job_starts_only_while_the_leader_gate_is_open(store, monkeypatch) -> None:
    """The gate is the leader lease (controlplane.leader): a process that lost it starts no job."""
    import threading
    import time

    from apscheduler.events import EVENT_JOB_EXECUTED

    monkeypatch.setenv(scheduler.HOUSEKEEPING_ENV, "1")
    gate = threading.Event()
    ran: list[str] = []
    running = scheduler.start_scheduler(store, gate=gate.is_set)
    running.add_listener(lambda event: ran.append(event.job_id), EVENT_JOB_EXECUTED)
    try:
        time.sleep(2.5)  # two periods with the gate closed
        assert ran == []
        gate.set()
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ran and set(ran) == {scheduler.HOUSEKEEPING_ID}
    finally:
        scheduler.stop_scheduler(running)
