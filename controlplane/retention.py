"""Retention: run output, the alert delivery log and probe history are deleted once old enough.

Without it these tables grow without bound (a busy site writes millions of
output lines a year). egov.yml's ``retention`` block says how many days each
is kept (0: forever); :func:`apply_retention` deletes what is older, called by
``egov retention run [--dry-run]`` and by a scheduled job every
JOB_MINUTES (:func:`add_retention_job`, wired in
:mod:`controlplane.scheduler`). What stays:

* runs themselves: only the output lines of a *finished* run go; the run
  keeps its row, summary and status, its ``output_lines`` drops to 0 and its
  summary gains ``output_purged`` (when, and how many lines there were);
* pending deliveries (the outbox still to send), whatever their age;
* the latest probe result of every check (``monitor_probe_latest``).

Deletion runs in batches of BATCH rows, each its own short transaction, so
SQLite's single write lock is never held for long and the console and the
monitor keep writing in between. The audit log is not touched here (it is
archived, never dropped: see :mod:`controlplane.audit`).

The delivery log and probe history are the monitoring engine's tables, which
the core does not import: the engine describes them as :class:`History`
rows (:mod:`controlplane.monitoring.retention`) and the composition root
provides them (:mod:`controlplane.providers`), with the work the scheduled
job does afterwards (closing the Alertmanager intake's audit windows). With
nothing provided, only run output is thinned.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from controlplane import providers
from controlplane.store.models import Run, RunOutput, RunStatus, utcnow

if TYPE_CHECKING:
    from pathlib import Path

    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)

BATCH = 500
JOB_ID = "retention"
JOB_FUNC = "controlplane.retention:scheduled_retention"
JOB_MINUTES = 10
ACTOR = "scheduler"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of history is kept (0: forever)."""

    run_output_days: int
    delivery_days: int
    probe_days: int

    @classmethod
    def from_config(cls, config: Config) -> RetentionPolicy:
        """The policy of egov.yml's ``retention`` block."""
        return cls(config.retention_run_output_days, config.retention_delivery_days, config.retention_probe_days)


@dataclass(frozen=True)
class History:
    """An engine's history table that retention thins by age.

    ``field`` names the :class:`RetentionReport` count it adds to, ``model``
    is the ORM class (an integer ``id`` column; typed loosely because the
    core imports no engine's models), ``days`` picks its policy, and
    ``older_than`` gives the conditions of the rows to delete before a cutoff.
    """

    field: str
    model: Any
    days: Callable[[RetentionPolicy], int]
    older_than: Callable[[dt.datetime], list[Any]]


@dataclass
class RetentionReport:
    """What was removed (or, in a dry run, would be): line, row and run counts."""

    dry_run: bool
    run_output_lines: int = 0
    runs_purged: int = 0
    deliveries: int = 0
    probe_results: int = 0

    @property
    def removed(self) -> int:
        """Rows removed in all."""
        return self.run_output_lines + self.deliveries + self.probe_results

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe counts."""
        return asdict(self)


def _cutoff(days: int, now: dt.datetime) -> dt.datetime | None:
    return None if days <= 0 else now - dt.timedelta(days=days)


def _delete_in_batches(store: Store, model: Any, conditions: list[Any], batch: int) -> int:
    """Delete the rows matching ``conditions`` BATCH at a time, each batch its own transaction; return how many."""
    total = 0
    while True:
        with store.session() as session:
            ids = list(session.scalars(select(model.id).where(*conditions).order_by(model.id).limit(batch)))
            if ids:
                session.execute(delete(model).where(model.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return total


def _count(store: Store, model: Any, conditions: list[Any]) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _purgeable_runs(cutoff: dt.datetime) -> list[Any]:
    """Conditions of finished runs older than ``cutoff`` that still have output (created_at uses its index)."""
    return [
        Run.created_at < cutoff,
        Run.finished_at.is_not(None),
        Run.finished_at < cutoff,
        Run.status.in_(RunStatus.FINAL),
        Run.output_lines > 0,
    ]


def _purge_run_output(store: Store, cutoff: dt.datetime, batch: int, report: RetentionReport) -> None:
    """Delete the output of old finished runs, run by run, BATCH lines per transaction; mark each run."""
    while True:
        with store.session() as session:
            run_ids = list(session.scalars(select(Run.id).where(*_purgeable_runs(cutoff)).order_by(Run.id).limit(50)))
        for run_id in run_ids:
            lines = _delete_in_batches(store, RunOutput, [RunOutput.run_id == run_id], batch)
            with store.session() as session:
                run = session.get(Run, run_id)
                if run is not None:  # the marker: the run stays, its output is gone
                    run.summary = {
                        **(run.summary or {}),
                        "output_purged": {"at": utcnow().isoformat(), "lines": run.output_lines},
                    }
                    run.output_lines = 0
            report.run_output_lines += lines
            report.runs_purged += 1
        if len(run_ids) < 50:
            return


def apply_retention(
    store: Store,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    histories: tuple[History, ...] | None = None,
) -> RetentionReport:
    """Delete run output, and the engines' histories (finished deliveries, probe history) older than the policy allows.

    ``histories`` default to the provided ones (:mod:`controlplane.providers`).
    ``dry_run`` counts what would go and deletes nothing. Returns the
    report. Costs one short transaction per ``batch`` rows deleted.
    """
    now = now or utcnow()
    report = RetentionReport(dry_run=dry_run)
    runs_cutoff = _cutoff(policy.run_output_days, now)
    if runs_cutoff is not None:
        if dry_run:
            conditions = _purgeable_runs(runs_cutoff)
            with store.session() as session:
                report.runs_purged = int(session.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0)
                lines = select(func.count()).select_from(RunOutput).join(Run, Run.id == RunOutput.run_id)
                report.run_output_lines = int(session.scalar(lines.where(*conditions)) or 0)
        else:
            _purge_run_output(store, runs_cutoff, batch, report)
    if histories is None:
        provided = providers.provided().histories
        histories = provided() if provided is not None else ()
    for history in histories:
        cutoff = _cutoff(history.days(policy), now)
        if cutoff is None:
            continue
        conditions, model = history.older_than(cutoff), history.model
        count = _count(store, model, conditions) if dry_run else _delete_in_batches(store, model, conditions, batch)
        setattr(report, history.field, count)
    return report


def describe(report: RetentionReport, policy: RetentionPolicy) -> list[str]:
    """The report as lines for people (``egov retention run``)."""
    verb = "would remove" if report.dry_run else "removed"

    def age(days: int) -> str:
        return "kept forever (0 days)" if days <= 0 else f"older than {days} day(s)"

    return [
        f"run output: {verb} {report.run_output_lines} line(s) of {report.runs_purged} finished run(s), "
        f"{age(policy.run_output_days)}",
        f"delivery log: {verb} {report.deliveries} sent or failed notification(s), {age(policy.delivery_days)}",
        f"probe history: {verb} {report.probe_results} result(s), {age(policy.probe_days)}",
    ]


def audit_report(store: Store, report: RetentionReport, actor: str) -> None:
    """One audit record for a retention run that removed anything (a dry run, or nothing removed: none)."""
    if report.dry_run or not (report.removed or report.runs_purged):
        return
    from controlplane import audit

    audit.append(store, actor=actor, action="retention.run", target="history", details=report.as_dict())


# --------------------------------------------------------------------------- the scheduled job
def add_retention_job(scheduler: Any, config_path: str | Path) -> Any:
    """Add (or update) the retention job on an APScheduler scheduler; return the job.

    Persisted by import path with the config file path as its argument
    (persisted jobs carry no live objects), every JOB_MINUTES.
    """
    return scheduler.add_job(
        JOB_FUNC,
        trigger="interval",
        minutes=JOB_MINUTES,
        args=[str(config_path)],
        id=JOB_ID,
        name="retention",
        replace_existing=True,
    )


def scheduled_retention(config_path: str, store: Store | None = None) -> dict[str, Any]:
    """The job: apply egov.yml's retention, then the provided after-work (intake audit windows); return the counts.

    Uses the scheduler's store unless one is given (tests).
    """
    from controlplane.config import load_config

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    policy = RetentionPolicy.from_config(load_config(config_path))
    report = apply_retention(store, policy)
    audit_report(store, report, ACTOR)
    after: dict[str, int] = {}
    for work in providers.provided().after_retention:
        after.update(work(store))
    if report.removed or any(after.values()):
        done = "".join(f"; {name.replace('_', ' ')}: {count}" for name, count in after.items())
        log.info("retention: %s%s", "; ".join(describe(report, policy)), done)
    return {**report.as_dict(), **after}
