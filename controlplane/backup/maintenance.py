"""Retention (``forget --prune``), integrity checks (``check --read-data-subset``) and snapshot listing.

Check and prune take the same per-repository lock as a backup
(:mod:`.locks`), so neither ever runs beside a backup of that repository;
restic's own lock and ``--retry-lock`` are the second line of defence.
Listing snapshots takes no lock of ours (restic's shared lock suffices).
"""

from __future__ import annotations

import time
from typing import Any

from controlplane.errors import EgovError
from controlplane.store.models import RunStatus

from . import commands, exitcodes, jsonout
from .context import BackupContext
from .diagnose import Diagnosis
from .engine import OperationResult, ResticSession, lock_wait
from .locks import RepositoryBusyError, repository_lock
from .models import KIND_CHECK, KIND_PRUNE
from .policy import BackupTarget
from .records import Recorder, record_maintenance


def _maintain(ctx: BackupContext, target: BackupTarget, kind: str) -> OperationResult:
    dataset = target.dataset
    recorder = Recorder.start(
        ctx.store,
        kind=kind,
        dataset=dataset.name,
        host=target.host,
        site=target.site,
        actor=ctx.actor,
        trigger=ctx.trigger,
        params={"dataset": dataset.name, "host": target.host, "repository": target.repository},
    )
    started = time.monotonic()
    figures: dict[str, Any] = {}
    try:
        with repository_lock(ctx.store, target.repository, recorder.run_id, kind, lock_wait(target)):
            diagnosis = _run_locked(ctx, target, kind, recorder, figures)
    except RepositoryBusyError as error:
        diagnosis = Diagnosis(RunStatus.FAILED, "busy", error.message, True, -1)
    except EgovError as error:
        diagnosis = Diagnosis(RunStatus.FAILED, "host_unreachable", error.message, True, -1)
    summary = {
        "dataset": dataset.name,
        "host": target.host,
        "reason": diagnosis.reason,
        "message": diagnosis.message,
        "alert": diagnosis.alert,
        "duration_seconds": round(time.monotonic() - started, 3),
        **figures,
    }
    recorder.note(diagnosis.message)
    recorder.finish(diagnosis.status, summary, exit_code=diagnosis.exit_code)
    record_maintenance(
        ctx.store,
        kind="check" if kind == KIND_CHECK else "prune",
        dataset=dataset.name,
        host=target.host,
        site=target.site,
        status=diagnosis.status,
    )
    return OperationResult(recorder.run_id, diagnosis.status, diagnosis.message, summary)


def _run_locked(
    ctx: BackupContext, target: BackupTarget, kind: str, recorder: Recorder, figures: dict[str, Any]
) -> Diagnosis:
    password = ctx.password(target)
    if password is None:
        return Diagnosis(
            RunStatus.FAILED, "no_repository", "no password in the vault: this repository was never backed up", True, -1
        )
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
        if diagnosis.ok:
            return Diagnosis(
                diagnosis.status,
                "ok",
                f"repository is healthy (read {target.dataset.read_data_subset} of the data)",
                False,
                result.exit_code,
            )
    else:
        try:
            groups = jsonout.parse_forget(result.stdout)
            figures.update(kept=sum(len(g.keep) for g in groups), removed=sum(len(g.remove) for g in groups))
        except ValueError:
            pass
        if diagnosis.ok:
            return Diagnosis(
                diagnosis.status,
                "ok",
                f"retention applied: kept {figures.get('kept', '?')}, removed {figures.get('removed', '?')}",
                False,
                result.exit_code,
            )
    return diagnosis


def check(ctx: BackupContext, target: BackupTarget) -> OperationResult:
    """``restic check --read-data-subset`` of one repository as a run of kind ``backup-check``."""
    return _maintain(ctx, target, KIND_CHECK)


def prune(ctx: BackupContext, target: BackupTarget) -> OperationResult:
    """``restic forget --prune`` with the dataset's retention as a run of kind ``backup-prune``."""
    return _maintain(ctx, target, KIND_PRUNE)


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
