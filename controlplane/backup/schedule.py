"""Backup jobs in the scheduler (APScheduler, jobs persisted in the store).

One job per dataset and host and kind: ``backup``, ``check`` (``restic check
--read-data-subset``), ``prune`` (``forget --prune``) and, for datasets with
a drill target and schedule, ``drill``; with a secondary center, ``copy``
(``restic copy`` to it, :mod:`.offsite`, skipped while failed over). Job ids are
``backup:KIND:DATASET:HOST``. Every job has:

* ``max_instances=1``: a backup still running when its next slot comes is
  not started twice;
* ``coalesce=True`` and no misfire grace limit: after the control plane was
  down, a missed job runs **once** when it comes back, not once per slot;
* ``jitter``: up to :data:`JITTER_SECONDS` of random delay, so a hundred
  hosts scheduled at ``0 * * * *`` do not hit the backup center together.

Check, prune and copy never run at the same time as a backup of the same
repository: every one of them takes the per-repository lock of
:mod:`.locks` first (waiting for a running backup to finish).

Persisted jobs cannot carry live objects, so the job function finds the
store through :func:`controlplane.scheduler.current_store` and the site
configuration through :func:`configure` (called by :func:`sync_jobs`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.triggers.cron import CronTrigger

    from controlplane.config import Config
    from controlplane.dispatch import Dispatcher
    from controlplane.store import Store

    from .context import BackupContext
    from .policy import Policy
    from .report import PolicyView
    from .targets import BackupTarget

log = logging.getLogger(__name__)

JOB_PREFIX = "backup:"
JOB_FUNCTION = "controlplane.backup.schedule:run_job"
JITTER_SECONDS = 120
KINDS = ("backup", "check", "prune", "drill", "copy")  # the scheduled ones of operations.OPERATIONS

_config: dict[str, Any] = {}
_config_lock = threading.Lock()


@dataclass(frozen=True)
class PlannedJob:
    """One scheduler job: id, what it runs and when (five-field cron, UTC)."""

    id: str
    kind: str
    dataset: str
    host: str
    cron: str
    jitter: int = JITTER_SECONDS


def planned_jobs(policy: Policy, ctx: BackupContext | PolicyView) -> list[PlannedJob]:
    """Every job the policy calls for, in a stable order (ids are stable so restarts replace jobs).

    Only ``ctx.targets`` is used: no SSH, no vault. A copy job is planned only
    when the policy has a secondary center, a drill job only for a drill schedule.
    """
    jobs = []
    for dataset in policy.datasets:
        for target in ctx.targets(dataset):
            crons = {"backup": dataset.schedule, "check": dataset.check_schedule, "prune": dataset.prune_schedule}
            if dataset.drill is not None and dataset.drill.schedule:
                crons["drill"] = dataset.drill.schedule
            if policy.secondary is not None:
                crons["copy"] = dataset.copy_schedule
            for kind, cron in crons.items():
                job_id = f"{JOB_PREFIX}{kind}:{dataset.name}:{target.host}"
                jobs.append(PlannedJob(job_id, kind, dataset.name, target.host, cron))
    return jobs


def trigger_for(cron: str, jitter: int) -> CronTrigger:
    """An APScheduler CronTrigger (UTC) for a five-field cron expression with jitter."""
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, day_of_week = cron.split()
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week, timezone="UTC", jitter=jitter
    )


def configure(config: Config) -> None:
    """Remember the site configuration for job functions run by this process's scheduler."""
    with _config_lock:
        _config["config"] = config


def sync_jobs(scheduler: BaseScheduler, config: Config, store: Store, ctx: BackupContext | None = None) -> list[str]:
    """Make the scheduler's backup jobs match the policy; return the job ids.

    Without ``ctx`` one is opened without a vault (planning needs none). Jobs
    are added with ``replace_existing`` so restarts update them; backup jobs
    no longer in the policy are removed. Opening a context raises as
    :func:`~.context.open_context`.
    """

    configure(config)
    if ctx is None:
        from .context import open_context

        ctx = open_context(config, store, vault=None, trigger="schedule")
    wanted = planned_jobs(ctx.policy, ctx)
    ids = set()
    for job in wanted:
        scheduler.add_job(
            JOB_FUNCTION,
            trigger=trigger_for(job.cron, job.jitter),
            args=[job.kind, job.dataset, job.host],
            id=job.id,
            name=f"{job.kind} {job.dataset}@{job.host}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        ids.add(job.id)
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX) and job.id not in ids:
            scheduler.remove_job(job.id)
    return sorted(ids)


def run_job(kind: str, dataset: str, host: str) -> dict[str, Any]:
    """The scheduler's entry point: run one backup, check, prune or drill; return its result.

    Raises RuntimeError when the scheduler or its configuration is missing.
    A failed operation does not raise (it is a failed run with ``alert``).
    """
    from controlplane.scheduler import current_dispatcher, current_store
    from controlplane.vault import open_vault

    from . import offsite
    from .context import open_context
    from .operations import run_operation

    with _config_lock:
        config = _config.get("config")
    if config is None:
        raise RuntimeError("backup jobs need controlplane.backup.schedule.configure(config) first")
    store = current_store()
    from controlplane.providers import bootstrap_run as in_progress  # egov bootstrap's run, handed over by the root

    if (building := in_progress(store)) is not None:
        # The lab is being built (accounts, keys, data): the job could only fail; the bootstrap backs it up.
        log.info("scheduled %s of %s@%s skipped: bootstrap run %s is in progress", kind, dataset, host, building)
        return {"run_id": None, "status": "skipped", "message": f"bootstrap run {building} is in progress"}
    ctx = open_context(config, store, open_vault(config, store), actor="scheduler", trigger="schedule")
    try:
        target = ctx.target(dataset, host)
        if kind == "copy" and (problem := offsite.copy_problem(ctx)):
            log.info("scheduled copy of %s@%s skipped: %s", dataset, host, problem)
            return {"run_id": None, "status": "skipped", "message": problem}
        dispatcher = current_dispatcher()
        if dispatcher is not None:  # egov serve: a queued run the console's dispatcher executes, like any start
            return _dispatch(ctx, dispatcher, kind, target)
        result = run_operation(ctx, kind, target)
    finally:
        ctx.close()
    log.info("scheduled %s of %s@%s: %s (run %s)", kind, dataset, host, result.status, result.run_id)
    return {"run_id": result.run_id, "status": result.status}


def _dispatch(ctx: BackupContext, dispatcher: Dispatcher, kind: str, target: BackupTarget) -> dict[str, Any]:
    """Queue the scheduled operation and hand it to the dispatcher; skip it while the same one is still active.

    The scheduler's own overlap guard (``max_instances=1``) ends when the
    job returns, which is now at once: an operation still queued or running
    on the unit is the guard instead.
    """
    from sqlalchemy import select

    from controlplane.store.models import Run, RunStatus

    from .operations import operation, queue_operation
    from .records import target_name

    run_kind, unit = operation(kind).run_kind, target_name(target.dataset.name, target.host)
    with ctx.store.session() as session:
        active = session.scalar(
            select(Run.id).where(Run.kind == run_kind, Run.target == unit, Run.status.in_(RunStatus.ACTIVE)).limit(1)
        )
    if active is not None:
        log.info("scheduled %s of %s skipped: run %s of it is still active", kind, unit, active)
        return {"run_id": None, "status": "skipped", "message": f"run {active} of {unit} is still active"}
    run_id = queue_operation(ctx, kind, target)
    dispatcher.submit(run_id)
    log.info("scheduled %s of %s: queued as run %s", kind, unit, run_id)
    return {"run_id": run_id, "status": "queued"}
