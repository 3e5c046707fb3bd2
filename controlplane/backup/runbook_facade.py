"""The backup engine as coded runbooks use it (``controlplane.runbook.adapters.EngineBackupAdapter``).

Four functions, each called as ``fn(config, store, **kwargs)`` with the site
Config and the runbook engine's open store; each opens its own backup
context (vault, inventory, policies, SSH) with actor ``runbook`` and closes it.
They raise :class:`~controlplane.errors.EgovError` when the operation did not
succeed, so the runbook step fails (and rolls back) with the engine's message;
the engine's own run (kind ``backup-restore``, ``backup``) is linked by its id.

* :func:`restore`: restore a snapshot of a dataset of one host into a folder
  on another host (the DR host), resolving ``latest`` to its id first so the
  verification knows exactly what was restored;
* :func:`verify_restore`: the drill's checks on a restore made by
  :func:`restore`: every file against the SHA-256 manifest recorded at
  backup time, then the dataset's verification command;
* :func:`switch_center`: make another center active (:mod:`.centers`),
  after preparing its accounts and keys; reversible with the previous name;
* :func:`backup_now`: one backup to the active center.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError, EgovError

from . import manifest
from .context import BackupContext, open_context
from .models import KIND_RESTORE
from .records import manifest_for

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store


ACTOR = "runbook"
VERIFY_TIMEOUT = 3600.0


@contextmanager
def _context(config: Config, store: Store) -> Iterator[BackupContext]:
    """A backup context on the runbook's store and the site vault, closed after."""
    from controlplane.vault import open_vault

    ctx = open_context(config, store, open_vault(config, store), actor=ACTOR, trigger="runbook")
    try:
        yield ctx
    finally:
        ctx.close()


def restore(
    config: Config,
    store: Store,
    *,
    dataset: str,
    source_host: str,
    target_host: str,
    restore_dir: str,
    snapshot: str = "latest",
) -> dict[str, Any]:
    """Restore ``source_host``'s snapshot of ``dataset`` into ``restore_dir`` on ``target_host``.

    Returns ``{run_id, snapshot_id, center, files_restored, bytes_restored,
    restore_seconds}``. Raises BadInputError for an unknown dataset or host or
    a folder outside the restore roots, EgovError when there is no snapshot or
    the restore failed.
    """
    from . import maintenance
    from .operations import run_operation

    with _context(config, store) as ctx:
        target = ctx.target(dataset, source_host)
        snapshot_id = snapshot
        if snapshot == "latest":
            found = maintenance.snapshots(ctx, target)
            if not found:
                raise EgovError(f"{dataset}@{source_host} has no snapshot on the {ctx.active} center to restore")
            snapshot_id = found[-1].id
        result = run_operation(ctx, "restore", target, directory=restore_dir, snapshot=snapshot_id, to_host=target_host)
        if not result.ok:
            raise EgovError(f"restore run {result.run_id} {result.status}: {result.message}")
        return {
            "run_id": result.run_id,
            "snapshot_id": snapshot_id,
            "center": ctx.active,
            "files_restored": result.summary.get("files_restored"),
            "bytes_restored": result.summary.get("bytes_restored"),
            "restore_seconds": result.summary.get("restore_seconds"),
        }


def _last_restore(store: Store, dataset: str, target_host: str, restore_dir: str) -> dict[str, Any]:
    """The summary of the newest successful restore of ``dataset`` into that folder of that host."""
    import posixpath

    from sqlalchemy import select

    from controlplane.store.models import Run, RunStatus

    folder = posixpath.normpath(restore_dir)
    with store.session() as session:
        runs = session.scalars(
            select(Run).where(Run.kind == KIND_RESTORE, Run.status == RunStatus.SUCCEEDED).order_by(Run.id.desc())
        )
        for run in runs:
            summary = run.summary or {}
            if (
                summary.get("dataset") == dataset
                and summary.get("to_host") == target_host
                and summary.get("target_dir") == folder
            ):
                return dict(summary)
    raise EgovError(f"no successful restore of {dataset} into {target_host}:{folder} to verify")


def verify_restore(config: Config, store: Store, *, dataset: str, target_host: str, restore_dir: str) -> dict[str, Any]:
    """Verify the restore :func:`restore` made there: manifest SHA-256 of every file, then the verify command.

    Returns ``{snapshot_id, files_checked, manifest_ok, verify_command}``.
    Raises EgovError when a file is missing or differs, the verification
    command fails, or there is nothing recorded to verify against.
    """
    with _context(config, store) as ctx:
        done = _last_restore(store, dataset, target_host, restore_dir)
        data = ctx.policy.dataset(dataset)
        folder = done["target_dir"]
        executor = ctx.executor(target_host)
        figures: dict[str, Any] = {"snapshot_id": done["snapshot"], "files_checked": 0, "manifest_ok": None}
        recorded = manifest_for(store, dataset, done["host"], done["snapshot"])
        if recorded is not None:
            result = executor.run(
                manifest.verify_argv(folder), input_text=manifest.verify_program(recorded), timeout=VERIFY_TIMEOUT
            )
            report = manifest.parse_report(result.stdout)
            figures.update(files_checked=int(report.get("checked", 0)), manifest_ok=report.get("ok"))
            if not report.get("passed"):
                bad = (report.get("missing") or []) + (report.get("mismatched") or [])
                raise EgovError(
                    f"restored files differ from the backup-time manifest: {len(report.get('missing', []))} missing, "
                    f"{len(report.get('mismatched', []))} different (first: {bad[:3]})"
                )
        elif data.paths and data.manifest:
            raise EgovError(f"no manifest was recorded for snapshot {done['snapshot'][:8]}: cannot verify it")
        verify = data.drill.verify_argv(folder) if data.drill else []
        if verify:
            result = executor.run(verify, timeout=VERIFY_TIMEOUT)
            if result.exit_code != 0:
                raise EgovError(
                    f"the verification command failed (exit {result.exit_code}): {' '.join(result.tail[-3:])}"
                )
            figures["verify_command"] = " ".join(verify)
        if recorded is None and not verify:
            raise EgovError(f"dataset {dataset} has neither a manifest nor a verification command: nothing proves it")
        return figures


def switch_center(config: Config, store: Store, *, to_center: str) -> dict[str, Any]:
    """Make ``to_center`` (``primary`` or ``secondary``) the active backup center; audited.

    Switching to a center other than the primary first prepares its site
    accounts and the hosts' keys on it (only it: the primary may be gone).
    Returns ``{previous, active, host}``. Raises BadInputError for an unknown
    or undefined center, EgovError when the center cannot be prepared (then
    nothing is switched).
    """
    from .centers import set_active_center
    from .setup import setup

    with _context(config, store) as ctx:
        center = ctx.named_center(to_center) if to_center in ("primary", "secondary") else None
        if center is None:
            raise BadInputError(f"unknown backup center {to_center!r} (use primary or secondary)")
        if to_center != "primary" and to_center != ctx.active:
            setup(ctx, centers=[center])
        previous = set_active_center(store, ctx.policy, to_center, actor=ACTOR)
        return {"previous": previous, "active": to_center, "host": center.host}


def backup_now(config: Config, store: Store, *, dataset: str, host: str) -> dict[str, Any]:
    """Back ``dataset`` of ``host`` up now to the active center.

    Returns ``{run_id, snapshot_id, center, center_host, repository}``.
    Raises BadInputError for an unknown dataset or host, EgovError when the
    backup did not succeed.
    """
    from .operations import run_operation

    with _context(config, store) as ctx:
        target = ctx.target(dataset, host)
        result = run_operation(ctx, "backup", target)
        if not result.ok:
            raise EgovError(f"backup run {result.run_id} {result.status}: {result.message}")
        return {
            "run_id": result.run_id,
            "snapshot_id": result.summary.get("snapshot_id"),
            "center": ctx.active,
            "center_host": ctx.center.host,
            "repository": target.repository,
        }
