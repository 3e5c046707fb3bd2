"""The one skeleton of every backup operation: its run, its locks, its outcome, its records.

Backup, check, prune, copy, restore and drill differ in what they do with
restic; what surrounds that is the same and lives here, in :func:`perform`:

1. the run: created running, or a queued run taken over (``run_id``, see
   :meth:`~controlplane.backup.records.Recorder.take`);
2. our per-repository locks (:mod:`.locks`), in order, waited for up to the
   dataset's lock wait;
3. the work, which returns a :class:`~controlplane.backup.diagnose.Diagnosis`
   and fills its figures; a repository held too long fails as ``busy``, an
   unreachable host (any EgovError) as ``host_unreachable``;
4. the summary (the plan's first keys, reason, message, alert, duration,
   figures), the engine's last note, the run's final state;
5. the operation's own records (status row, audit) after the run is final.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError
from controlplane.store.models import Run, RunStatus

from .diagnose import Diagnosis
from .locks import RepositoryBusyError, repository_lock
from .records import Recorder

if TYPE_CHECKING:
    from .context import BackupContext
    from .targets import BackupTarget

log = logging.getLogger(__name__)
ProgressCallback = Callable[[Any], None]
LOCK_SLACK = 60.0


@dataclass
class OperationResult:
    """What an operation ended as: run id, status, message and its figures."""

    run_id: int
    status: str
    message: str
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED


@dataclass
class Plan:
    """What differs between operations around their work.

    ``summary`` holds the summary's first keys (the unit, the repositories);
    ``locks`` the repositories to hold while working; ``timed`` whether the
    summary carries ``duration_seconds``; ``warn`` the word logged with a
    warning when the outcome alerts ("" for none).
    """

    kind: str
    params: dict[str, Any]
    summary: dict[str, Any]
    locks: tuple[str, ...] = ()
    timed: bool = True
    warn: str = ""


@dataclass
class Finished:
    """A finished run as the operation's own records need it."""

    run_id: int
    diagnosis: Diagnosis
    summary: dict[str, Any]
    duration: float


Work = Callable[[Recorder, dict[str, Any]], Diagnosis]
Conclude = Callable[[Diagnosis, dict[str, Any]], None]
Record = Callable[[Finished], None]


def lock_wait(target: BackupTarget) -> float:
    """How long to wait for our own lock: the dataset's restic lock wait plus a minute."""
    text = target.dataset.retry_lock
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        return int(text[:-1]) * units[text[-1]] + LOCK_SLACK
    except (ValueError, KeyError, IndexError):
        return 300 + LOCK_SLACK


def open_recorder(
    ctx: BackupContext, target: BackupTarget, plan: Plan, run_id: int | None
) -> Recorder | OperationResult:
    """The operation's run: a new running one, or the queued ``run_id`` taken over.

    Returns its recorder, or the result to return at once when the queued
    run is no longer queued. Raises BadInputError for a run id of another
    kind, unit or options.
    """
    dataset, host = target.dataset.name, target.host
    if run_id is None:
        recorder = Recorder.start(
            ctx.store,
            kind=plan.kind,
            dataset=dataset,
            host=host,
            site=target.site,
            actor=ctx.actor,
            trigger=ctx.trigger,
            params=plan.params,
        )
        return recorder
    taken = Recorder.take(ctx.store, run_id, kind=plan.kind, dataset=dataset, host=host, params=plan.params)
    if taken is not None:
        return taken
    with ctx.store.session() as session:
        run = session.get(Run, run_id)
        status = run.status if run is not None else RunStatus.CANCELLED
    return OperationResult(run_id, status, f"run {run_id} was not started: it is {status}")


def perform(
    ctx: BackupContext,
    target: BackupTarget,
    plan: Plan,
    work: Work,
    *,
    run_id: int | None = None,
    conclude: Conclude | None = None,
    record: Record | None = None,
) -> OperationResult:
    """Run one operation's work inside the common skeleton (see the module docstring); return its result.

    ``work(recorder, figures)`` does the operation and returns its
    Diagnosis; ``conclude(diagnosis, summary)`` may add to the summary
    before the run is final; ``record(finished)`` writes the operation's
    own rows and audit after. Never raises for a failed operation; raises
    BadInputError for a ``run_id`` of another kind or unit.
    """
    recorder = open_recorder(ctx, target, plan, run_id)
    if isinstance(recorder, OperationResult):
        return recorder
    started = time.monotonic()
    figures: dict[str, Any] = {}
    try:
        with ExitStack() as held:
            for repository in plan.locks:
                held.enter_context(
                    repository_lock(ctx.store, repository, recorder.run_id, plan.kind, lock_wait(target))
                )
            diagnosis = work(recorder, figures)
    except RepositoryBusyError as error:
        diagnosis = Diagnosis(RunStatus.FAILED, "busy", error.message, True, -1)
    except EgovError as error:  # the host itself unreachable, a bad host key, ...
        diagnosis = Diagnosis(RunStatus.FAILED, "host_unreachable", error.message, True, -1)
    duration = time.monotonic() - started
    summary = {**plan.summary, "reason": diagnosis.reason, "message": diagnosis.message, "alert": diagnosis.alert}
    if plan.timed:
        summary["duration_seconds"] = round(duration, 3)
    summary.update(figures)
    if conclude is not None:
        conclude(diagnosis, summary)
    if diagnosis.alert and plan.warn:
        log.warning("%s %s@%s: %s", plan.warn, target.dataset.name, target.host, diagnosis.message)
    recorder.note(diagnosis.message)
    recorder.finish(diagnosis.status, summary, exit_code=diagnosis.exit_code)
    if record is not None:
        record(Finished(recorder.run_id, diagnosis, summary, duration))
    return OperationResult(recorder.run_id, diagnosis.status, diagnosis.message, summary)
