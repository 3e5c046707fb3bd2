"""Retention (``forget --prune``), integrity checks (``check --read-data-subset``) and snapshot listing.

Check and prune take the same per-repository lock as a backup
(:mod:`.locks`), so neither ever runs beside a backup of that repository;
restic's own lock and ``--retry-lock`` are the second line of defence.
Listing snapshots takes no lock of ours (restic's shared lock suffices).
"""

from __future__ import annotations

from typing import Any

from controlplane.errors import EgovError
from controlplane.store.models import RunStatus

from . import commands, exitcodes, jsonout
from .context import BackupContext
from .diagnose import NEVER_BACKED_UP, Diagnosis
from .engine import ResticSession
from .models import KIND_CHECK, KIND_PRUNE
from .operation import Finished, OperationResult, Plan, perform
from .records import Recorder, record_maintenance
from .targets import BackupTarget


def maintenance_plan(kind: str, target: BackupTarget) -> Plan:
    """The run a check or prune of a unit makes, holding its repository."""
    unit = {"dataset": target.dataset.name, "host": target.host}
    return Plan(kind, {**unit, "repository": target.repository}, unit, locks=(target.repository,))


def check_plan(ctx: BackupContext, target: BackupTarget) -> Plan:
    """The run :func:`check` makes."""
    return maintenance_plan(KIND_CHECK, target)


def prune_plan(ctx: BackupContext, target: BackupTarget) -> Plan:
    """The run :func:`prune` makes."""
    return maintenance_plan(KIND_PRUNE, target)


def _maintain(ctx: BackupContext, target: BackupTarget, kind: str, run_id: int | None) -> OperationResult:

    def record(done: Finished) -> None:
        record_maintenance(
            ctx.store,
            kind="check" if kind == KIND_CHECK else "prune",
            dataset=target.dataset.name,
            host=target.host,
            site=target.site,
            status=done.diagnosis.status,
        )

    def work(recorder: Recorder, figures: dict[str, Any]) -> Diagnosis:
        return _run_locked(ctx, target, kind, recorder, figures)

    return perform(ctx, target, maintenance_plan(kind, target), work, run_id=run_id, record=record)


def _run_locked(
    ctx: BackupContext, target: BackupTarget, kind: str, recorder: Recorder, figures: dict[str, Any]
) -> Diagnosis:
    password = ctx.password(target)
    if password is None:
        return NEVER_BACKED_UP
    executor = ctx.executor(target.host)
    session = ResticSession(ctx, target, executor, recorder, password)
    repo = ctx.repo(target, executor.host)
    if kind == KIND_CHECK:
        argv = commands.check(repo, read_data_subset=target.dataset.read_data_subset)
    else:
        argv = commands.forget(repo, target.dataset.retention, host=target.host, prune=True)
    result = session.run(argv)
    if result.exit_code == exitcodes.LOCKED and session.unlock_if_ours_idle():
        result = session.run(argv)
    diagnosis = session.diagnose(result)
    if kind == KIND_CHECK:
        try:
            check = jsonout.parse_check(result.stdout)
            figures.update(num_errors=check.num_errors, broken_packs=len(check.broken_packs))
            if result.exit_code == 0 and not check.ok:
                return Diagnosis(
                    RunStatus.FAILED,
                    "check_errors",
                    f"restic check found {check.num_errors} errors",
                    True,
                    result.exit_code,
                )
        except ValueError:
            pass
        return diagnosis.succeeded_as(f"repository is healthy (read {target.dataset.read_data_subset} of the data)")
    else:
        try:
            groups = jsonout.parse_forget(result.stdout)
            figures.update(kept=sum(len(g.keep) for g in groups), removed=sum(len(g.remove) for g in groups))
        except ValueError:
            pass
        return diagnosis.succeeded_as(
            f"retention applied: kept {figures.get('kept', '?')}, removed {figures.get('removed', '?')}"
        )


def check(ctx: BackupContext, target: BackupTarget, *, run_id: int | None = None) -> OperationResult:
    """``restic check --read-data-subset`` of one repository as a run of kind ``backup-check``.

    ``run_id``: a queued run of this check to record into instead of a new one.
    """
    return _maintain(ctx, target, KIND_CHECK, run_id)


def prune(ctx: BackupContext, target: BackupTarget, *, run_id: int | None = None) -> OperationResult:
    """``restic forget --prune`` with the dataset's retention as a run of kind ``backup-prune``.

    ``run_id``: a queued run of this prune to record into instead of a new one.
    """
    return _maintain(ctx, target, KIND_PRUNE, run_id)


def snapshots(ctx: BackupContext, target: BackupTarget) -> list[jsonout.Snapshot]:
    """The repository's snapshots of the unit's host, oldest first (no run is recorded).

    Raises EgovError with restic's reason when they cannot be listed.
    """
    password = ctx.password(target)
    if password is None:
        return []
    executor = ctx.executor(target.host)
    argv = commands.snapshots(ctx.repo(target, executor.host), host=target.host)
    result = executor.run(argv, input_text=password + "\n", secrets=[password], timeout=300)
    if result.exit_code != 0:
        from .diagnose import diagnose

        found = diagnose(result.exit_code, result.stdout + "\n" + result.stderr)
        raise EgovError(f"cannot list snapshots of {target.dataset.name}@{target.host}: {found.message}")
    return jsonout.parse_snapshots(result.stdout)
