"""The scheduler: APScheduler's BackgroundScheduler with its jobs persisted in the store.

``egov serve`` starts it next to the console in the one process that holds
the leader lease (:mod:`controlplane.leader`): its executor starts a job only
while :meth:`~controlplane.leader.Elector.is_leader` says so, so a process
that lost the lease (or was paused past its deadline) starts none. Jobs live in an
``apscheduler_jobs`` table on the store's own engine (APScheduler creates
that table itself), so schedules survive restarts; a job missed while the
process was down runs once on start (coalesced), never once per missed slot.

Persisted jobs are referenced by their import path and cannot carry live
objects, so a job finds the open store through :func:`current_store`.
This module owns one job, ``housekeeping``; the features' jobs (scans,
backups, retention, audit anchors, the lease witness, reports) come from
the job sources the composition root hands :func:`start_scheduler`
(:mod:`controlplane.web.schedules`), so the core imports no engine.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor

if TYPE_CHECKING:
    import datetime as dt

    from apscheduler.job import Job
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.dispatch import Dispatcher
    from controlplane.store import Store

    # Adds one feature's jobs to the scheduler (given the site Config and the open store).
    JobSource = Callable[[BaseScheduler, Config, Store], None]

log = logging.getLogger(__name__)

HOUSEKEEPING_ID = "housekeeping"
HOUSEKEEPING_MINUTES = 5
# Drills and tests shorten the housekeeping period (seconds) to watch jobs run once per period across processes.
HOUSEKEEPING_ENV = "EGOV_HOUSEKEEPING_SECONDS"

_context: dict[str, Any] = {}
_context_lock = threading.Lock()


def current_store() -> Store:
    """The store of the running scheduler. Raises RuntimeError when none is running."""
    with _context_lock:
        store = _context.get("store")
    if store is None:
        raise RuntimeError("the scheduler is not running")
    return store


def current_dispatcher() -> Dispatcher | None:
    """The dispatcher the running scheduler's jobs hand their runs to (None: a job runs its work itself).

    ``egov serve`` passes the console's dispatcher, so that a scheduled
    backup is a queued run executed like one started from the console;
    a scheduler started without one (tests, tools) keeps running jobs inline.
    """
    with _context_lock:
        return _context.get("dispatcher")


def housekeeping() -> dict[str, int]:
    """Periodic upkeep: forget old login failures, mark runs of dead processes interrupted.

    Returns how many throttle rows and runs it changed (logged too).
    """
    from controlplane.runs import recover_interrupted
    from controlplane.users import purge_throttle

    store = current_store()
    with store.session() as session:
        purged = purge_throttle(session)
        interrupted = recover_interrupted(session)
    if purged or interrupted:
        log.info("housekeeping: %d throttle rows purged, runs interrupted: %s", purged, interrupted)
    return {"throttle_purged": purged, "runs_interrupted": len(interrupted)}


class LeaderOnlyExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler's thread pool, asking ``gate`` before it starts each job (the leader lease).

    A job refused by the gate is skipped for that run (the process that holds
    the lease now runs it); every start is logged with the pid and the
    monotonic clock (one per machine), so two processes' logs show which one
    ran what, and when.
    """

    def __init__(self, gate: Callable[[], bool], max_workers: int = 10) -> None:
        super().__init__(max_workers)
        self.gate = gate

    def submit_job(self, job: Job, run_times: list[dt.datetime]) -> None:
        """Start the job when the gate allows; else log and skip it."""
        if not self.gate():
            log.warning("scheduler: job %s not started: this process does not hold the leader lease", job.id)
            return
        log.info("scheduler: job %s started by pid %d at monotonic %.3f", job.id, os.getpid(), time.monotonic())
        super().submit_job(job, run_times)


def create_scheduler(store: Store, gate: Callable[[], bool] | None = None) -> BackgroundScheduler:
    """Return a scheduler (not started) whose job store is the state store.

    Jobs live in the store so every ``egov serve`` process sees the same
    ones; ``gate`` (the leader lease's, from ``egov serve``) is asked at
    every job start so only the leader runs them. The scheduler uses UTC,
    coalesces missed runs and never runs two instances of one job at once.
    """
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine)},
        executors={"default": LeaderOnlyExecutor(gate or (lambda: True))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )


def housekeeping_seconds() -> int:
    """The housekeeping period: 5 minutes, or ``$EGOV_HOUSEKEEPING_SECONDS`` (1 to 86400) for drills and tests."""
    text = os.environ.get(HOUSEKEEPING_ENV, "")
    if text.isdigit() and 1 <= int(text) <= 86400:
        return int(text)
    return HOUSEKEEPING_MINUTES * 60


def start_scheduler(
    store: Store,
    config: Config | None = None,
    gate: Callable[[], bool] | None = None,
    job_sources: Sequence[JobSource] = (),
    dispatcher: Dispatcher | None = None,
) -> BackgroundScheduler:
    """Create, fill and start the scheduler for a store; return it.

    ``job_sources`` add the features' jobs (the composition root,
    :mod:`controlplane.web.schedules`, names them, so this core module knows
    no engine); each is called with the scheduler, ``config`` and the store.
    A source whose data is broken (an EgovError: a backup policy that does
    not load) is logged and skipped, so one feature never stops the console.
    ``gate`` is the leader lease's (``egov serve``; None: always run). Jobs
    are added with ``replace_existing`` so a restart updates their
    definition instead of duplicating them.
    """
    from controlplane.errors import EgovError

    with _context_lock:
        _context["store"] = store
        _context["dispatcher"] = dispatcher
    scheduler = create_scheduler(store, gate)
    scheduler.add_job(
        "controlplane.scheduler:housekeeping",
        trigger="interval",
        seconds=housekeeping_seconds(),
        id=HOUSEKEEPING_ID,
        name="housekeeping",
        replace_existing=True,
    )
    if config is not None:
        for add_jobs in job_sources:
            try:
                add_jobs(scheduler, config, store)
            except EgovError as error:
                log.error("scheduled jobs not loaded (%s): %s", getattr(add_jobs, "__name__", add_jobs), error.message)
    scheduler.start()
    return scheduler


def stop_scheduler(scheduler: BaseScheduler | None, wait: bool = True) -> None:
    """Stop the scheduler (waiting for running jobs when ``wait``) and forget its store."""
    try:
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=wait)
    finally:
        with _context_lock:
            _context.pop("store", None)
            _context.pop("dispatcher", None)
