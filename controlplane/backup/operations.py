"""The backup operations by name: the one table the scheduler, the console, the runbook facade and the CLI use.

``OPERATIONS[kind]`` is an :class:`Operation`: ``plan(ctx, target,
**options)`` checks the options and says which run the operation makes
(kind, params), raising BadInputError before any run exists; ``run(ctx,
target, run_id=..., **options)`` does it. :func:`queue_operation` creates
that run ``queued`` (for a dispatcher), :func:`run_operation` runs an
operation, into a queued run when given its id.

Kinds: ``backup``, ``check``, ``prune``, ``copy``, ``drill`` and
``restore`` (options ``directory``, ``snapshot``, ``to_host``,
``includes``, ``in_place``; the others take none but ``on_progress`` where
they report progress). :func:`run_queued` carries out a queued run from the
run row alone, for a dispatcher's worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError

from . import engine, maintenance, offsite, restore
from .models import KIND_BACKUP, KIND_CHECK, KIND_COPY, KIND_DRILL, KIND_PRUNE, KIND_RESTORE
from .operation import OperationResult, Plan
from .records import queue_run

if TYPE_CHECKING:
    from controlplane.store.models import Run

    from .context import BackupContext
    from .targets import BackupTarget


@dataclass(frozen=True)
class Operation:
    """One kind of backup operation: its run kind, how to plan its run and how to run it.

    ``options`` maps each option the operation takes (beyond the unit) to
    the key of its run's params that keeps it, so that a queued run alone
    says how to carry it out (:func:`run_queued`).
    """

    kind: str
    run_kind: str
    plan: Callable[..., Plan]
    run: Callable[..., OperationResult]
    options: Mapping[str, str] = field(default_factory=dict)


RESTORE_OPTIONS = MappingProxyType(
    {
        "directory": "target_dir",
        "snapshot": "snapshot",
        "to_host": "to_host",
        "includes": "includes",
        "in_place": "in_place",
    }
)
OPERATIONS: Mapping[str, Operation] = MappingProxyType(
    {
        "backup": Operation("backup", KIND_BACKUP, engine.backup_plan, engine.backup),
        "check": Operation("check", KIND_CHECK, maintenance.check_plan, maintenance.check),
        "prune": Operation("prune", KIND_PRUNE, maintenance.prune_plan, maintenance.prune),
        "copy": Operation("copy", KIND_COPY, offsite.copy_plan, offsite.copy),
        "drill": Operation("drill", KIND_DRILL, restore.drill_plan, restore.drill),
        "restore": Operation("restore", KIND_RESTORE, restore.restore_plan, restore.restore, RESTORE_OPTIONS),
    }
)
KINDS = tuple(OPERATIONS)
# The run kinds (``backup-check`` ...) of the operations, for a dispatcher's task table.
BY_RUN_KIND: Mapping[str, str] = MappingProxyType({op.run_kind: op.kind for op in OPERATIONS.values()})


def operation(kind: str) -> Operation:
    """The operation of a kind. Raises BadInputError for an unknown kind, naming the known ones."""
    found = OPERATIONS.get(kind)
    if found is None:
        raise BadInputError(f"unknown backup operation {kind!r} (known: {', '.join(KINDS)})")
    return found


def _planning(options: dict[str, Any]) -> dict[str, Any]:
    """The options a plan takes: everything but the progress callback."""
    return {key: value for key, value in options.items() if key != "on_progress"}


def queue_operation(ctx: BackupContext, kind: str, target: BackupTarget, **options: Any) -> int:
    """Create the queued run an operation would make (same kind, target, params, actor, trigger); return its id.

    Hand the id to :func:`run_operation` (``run_id=``), which takes the run
    over. Raises BadInputError for an unknown kind, refused options (a
    restore folder outside the roots, a drill without target, a copy that
    cannot run now), before any run exists.
    """
    plan = operation(kind).plan(ctx, target, **_planning(options))
    return queue_run(ctx.store, plan.kind, target, ctx.actor, ctx.trigger, plan.params)


def run_operation(
    ctx: BackupContext, kind: str, target: BackupTarget, *, run_id: int | None = None, **options: Any
) -> OperationResult:
    """Run one operation of ``kind`` on a unit; return its result.

    ``run_id``: the id from :func:`queue_operation`, to record into that run
    instead of a new one (a run no longer queued, say cancelled, is left as
    it is and its status returned). Raises BadInputError for an unknown
    kind, refused options, or a run id of another kind or unit; a failed
    operation is a failed run, never an exception.
    """
    return operation(kind).run(ctx, target, run_id=run_id, **options)


def run_queued(ctx: BackupContext, run: Run) -> OperationResult:
    """Carry out a run :func:`queue_operation` made, from the run alone (its kind, target and params).

    For a dispatcher's worker: the run may be queued, or running and claimed
    by this process already. Raises BadInputError for a run of no backup
    operation, or whose unit the policy no longer has.
    """
    kind = BY_RUN_KIND.get(run.kind)
    if kind is None:
        raise BadInputError(f"run {run.id} is a {run.kind}, not a backup operation")
    dataset, _at, host = run.target.rpartition("@")
    found = OPERATIONS[kind]
    params = run.params or {}
    options = {option: params[key] for option, key in found.options.items() if key in params}
    return run_operation(ctx, kind, ctx.target(dataset, host), run_id=run.id, **options)
