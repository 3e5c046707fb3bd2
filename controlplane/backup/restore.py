"""Restores and restore drills.

A **restore** writes a snapshot of a dataset (``latest`` or an id) into a
folder on the dataset's host or another one (``--to-host``). The folder must
lie inside the policy's restore roots; anything else, such as the live
``/srv/oa`` itself, needs ``in_place`` (the CLI asks for confirmation). It is
a run of kind ``backup-restore`` and is audited.

A **drill** proves a backup can be recovered: it restores the latest
snapshot onto the dataset's drill target (the DR center), verifies every
file against the SHA-256 manifest recorded at backup time, runs the
dataset's verification command (a database integrity check, say), records
the achieved RPO (how old the restored data was) and RTO (restore plus
verification time), and removes what it restored. A failed drill is a failed
run with ``alert`` set.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Sequence
from typing import Any

from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import RunStatus, utcnow

from . import commands, jsonout, manifest
from .context import BackupContext
from .diagnose import Diagnosis
from .engine import ResticSession
from .executor import Executor
from .models import KIND_DRILL, KIND_RESTORE, BackupDrill
from .operation import Finished, OperationResult, Plan, ProgressCallback, perform
from .policy import CONTROLPLANE
from .records import Recorder, audit_event, manifest_for, record_drill
from .targets import BackupTarget

VERIFY_TIMEOUT = 3600.0


def check_restore_dir(directory: str, roots: Sequence[str], *, in_place: bool = False) -> str:
    """Return the normalised restore folder, or refuse it.

    A restore must never overwrite live data by accident: outside the
    restore roots only a confirmed ``in_place`` is allowed. Raises
    BadInputError for a relative path, ``..``, or a folder outside every
    root without ``in_place``.
    """
    if not directory or not directory.startswith("/") or "\x00" in directory or "\n" in directory:
        raise BadInputError(f"restore target {directory!r} must be an absolute folder")
    if ".." in directory.split("/"):
        raise BadInputError(f"restore target {directory!r} must not contain '..'")
    folder = posixpath.normpath(directory)
    if in_place:
        return folder
    for root in roots:
        root = posixpath.normpath(root)
        if folder == root or folder.startswith(root.rstrip("/") + "/"):
            return folder
    raise BadInputError(
        f"restore target {folder} is outside the allowed restore roots ({', '.join(roots)}): "
        "restore under one of them, or over live data with --in-place (asks for confirmation)"
    )


def _restore_into(
    session: ResticSession,
    ctx: BackupContext,
    target: BackupTarget,
    host: str,
    folder: str,
    snapshot: str,
    includes: Sequence[str],
) -> tuple[Diagnosis, jsonout.RestoreStatus | None, float]:
    argv = commands.restore(
        ctx.repo(target, host), target=folder, snapshot=snapshot, host=target.host, includes=list(includes), verify=True
    )
    started = time.monotonic()
    result = session.run(argv, restore=True)
    return session.diagnose(result), session.progress.restore_summary, time.monotonic() - started


def restore_plan(
    ctx: BackupContext,
    target: BackupTarget,
    *,
    directory: str,
    snapshot: str = "latest",
    to_host: str | None = None,
    includes: Sequence[str] = (),
    in_place: bool = False,
) -> Plan:
    """The run a restore makes, after its checks: the folder and host are refused before any run exists.

    Raises BadInputError for a refused folder or an unknown host.
    """
    folder = check_restore_dir(directory, ctx.policy.restore_roots, in_place=in_place)
    host = to_host or target.host
    if host != CONTROLPLANE:
        ctx.inventory.host(host)  # raises BadInputError for an unknown host
    where = {"dataset": target.dataset.name, "host": target.host, "to_host": host, "target_dir": folder}
    params = {**where, "snapshot": snapshot, "includes": list(includes), "in_place": in_place}
    return Plan(KIND_RESTORE, params, {**where, "snapshot": snapshot}, timed=False)


def restore(
    ctx: BackupContext,
    target: BackupTarget,
    *,
    on_progress: ProgressCallback | None = None,
    run_id: int | None = None,
    **options: Any,
) -> OperationResult:
    """Restore a snapshot of a unit into a folder on its host or another; return the result.

    ``options`` are :func:`restore_plan`'s (``directory``, ``snapshot``,
    ``to_host``, ``includes``, ``in_place``); ``run_id``: a queued run of
    this restore to record into instead of a new one. Raises BadInputError
    before any work for a refused folder or an unknown host; every later
    failure ends as a failed run.
    """
    plan = restore_plan(ctx, target, **options)
    host, folder, snapshot = plan.params["to_host"], plan.params["target_dir"], plan.params["snapshot"]
    includes, in_place = plan.params["includes"], plan.params["in_place"]

    def work(recorder: Recorder, figures: dict[str, Any]) -> Diagnosis:
        password = ctx.password(target)
        if password is None:
            raise EgovError(f"no password in the vault for {target.password_secret}: nothing was ever backed up")
        if host != target.host:
            from .setup import setup

            recorder.note(f"authorising {host} to read the repositories of site {target.site}")
            setup(ctx, sites=[target.site], extra_readers={target.site: [host]}, centers=[ctx.center])
        session = ResticSession(ctx, target, ctx.executor(host), recorder, password, on_progress)
        recorder.note(f"restoring {snapshot} of {target.dataset.name}@{target.host} into {host}:{folder}")
        diagnosis, final, seconds = _restore_into(session, ctx, target, host, folder, snapshot, includes)
        figures["restore_seconds"] = round(seconds, 3)
        if final is not None:
            figures.update(files_restored=final.files_restored, bytes_restored=final.bytes_restored)
        if diagnosis.ok:
            message = f"restored {figures.get('files_restored', '?')} files into {host}:{folder}"
            return Diagnosis(RunStatus.SUCCEEDED, "ok", message, False, 0)
        return diagnosis

    def record(done: Finished) -> None:
        audit_event(
            ctx.store,
            ctx.actor,
            "backup.restore",
            f"{target.dataset.name}@{target.host}",
            done.diagnosis.status,
            to_host=host,
            site=target.site,
            target_dir=folder,
            snapshot=snapshot,
            in_place=in_place,
            run_id=done.run_id,
        )

    return perform(ctx, target, plan, work, run_id=run_id, record=record)


def drill_dir(root: str, target: BackupTarget, run_id: int) -> str:
    """The folder a drill restores into: ``ROOT/DATASET-HOST-RUN``, checked to stay under ROOT."""
    folder = posixpath.join(root, f"{target.dataset.name}-{target.host}-{run_id}")
    return check_restore_dir(folder, [root])


def _cleanup(executor: Executor, root: str, folder: str) -> bool:
    # Only ever a folder this drill made under the drill root: checked again here.
    check_restore_dir(folder, [root])
    if posixpath.normpath(folder) == posixpath.normpath(root):
        return False
    result = executor.run(["rm", "-rf", "--one-file-system", "--", folder], timeout=600)
    return result.exit_code == 0


def drill_plan(ctx: BackupContext, target: BackupTarget) -> Plan:
    """The run a drill makes. Raises BadInputError when the dataset has no drill target."""
    if target.dataset.drill is None:
        raise BadInputError(f"dataset {target.dataset.name!r} has no drill target (drill.target in its policy)")
    unit = {"dataset": target.dataset.name, "host": target.host, "drill_host": target.dataset.drill.target}
    return Plan(KIND_DRILL, dict(unit), dict(unit), timed=False)


def drill(
    ctx: BackupContext,
    target: BackupTarget,
    *,
    on_progress: ProgressCallback | None = None,
    run_id: int | None = None,
) -> OperationResult:
    """Run a restore drill of one unit (see the module docstring); return the result.

    ``run_id``: a queued run of this drill to record into instead of a new
    one. Raises BadInputError when the dataset has no drill target; every
    other failure is a failed run.
    """
    plan = drill_plan(ctx, target)
    dataset, spec = target.dataset, target.dataset.drill  # the drill target and its checks
    assert spec is not None  # noqa: S101 - drill_plan() refused a dataset without one
    record = BackupDrill(dataset=dataset.name, host=target.host, drill_host=spec.target, message="")

    def work(recorder: Recorder, figures: dict[str, Any]) -> Diagnosis:
        record.run_id, record.started_at = recorder.run_id, utcnow()
        folder = drill_dir(spec.restore_root, target, recorder.run_id)
        executor = None
        try:
            diagnosis = _drill_steps(ctx, target, recorder, record, figures, folder, on_progress)
            executor = ctx.executor(spec.target)
        except EgovError as error:
            diagnosis = Diagnosis(RunStatus.FAILED, "host_unreachable", error.message, True, -1)
        if executor is not None:
            try:
                figures["cleaned_up"] = _cleanup(executor, spec.restore_root, folder)
            except EgovError as error:
                figures["cleaned_up"] = False
                recorder.note(f"clean-up failed: {error.message}")
        return diagnosis

    def conclude(diagnosis: Diagnosis, summary: dict[str, Any]) -> None:
        record.finished_at = utcnow()
        record.passed = diagnosis.ok
        record.message = diagnosis.message[:2000]
        summary.update(alert=not diagnosis.ok, passed=diagnosis.ok, data_age_seconds=record.data_age_seconds)
        summary.update(
            rto_seconds=record.rto_seconds, restore_seconds=record.restore_seconds, snapshot_id=record.snapshot_id
        )

    def finished(done: Finished) -> None:
        record_drill(ctx.store, record, target.site)
        audit_event(
            ctx.store,
            ctx.actor,
            "backup.drill",
            f"{dataset.name}@{target.host}",
            done.diagnosis.status,
            site=target.site,
            drill_host=spec.target,
            run_id=done.run_id,
            passed=done.diagnosis.ok,
        )

    return perform(ctx, target, plan, work, run_id=run_id, conclude=conclude, record=finished)


def _drill_steps(
    ctx: BackupContext,
    target: BackupTarget,
    recorder: Recorder,
    record: BackupDrill,
    figures: dict[str, Any],
    folder: str,
    on_progress: ProgressCallback | None,
) -> Diagnosis:
    dataset = target.dataset
    plan = dataset.drill
    assert plan is not None  # noqa: S101 - checked by drill()
    password = ctx.password(target)
    if password is None:
        return Diagnosis(
            RunStatus.FAILED, "no_backup", "nothing to drill: this repository was never backed up", True, -1
        )
    from .maintenance import snapshots

    found = snapshots(ctx, target)
    if not found:
        return Diagnosis(RunStatus.FAILED, "no_backup", "nothing to drill: the repository has no snapshot", True, -1)
    latest = found[-1]
    record.snapshot_id, record.snapshot_time = latest.id, latest.time
    record.data_age_seconds = round((record.started_at - latest.time).total_seconds(), 3)
    executor = ctx.executor(plan.target)
    session = ResticSession(ctx, target, executor, recorder, password, on_progress)
    recorder.note(
        f"drill: restoring snapshot {latest.short_id} of {dataset.name}@{target.host} "
        f"({record.data_age_seconds:.0f} s old) on {plan.target} into {folder}"
    )
    started = time.monotonic()
    diagnosis, final, seconds = _restore_into(session, ctx, target, plan.target, folder, latest.id, ())
    record.restore_seconds = round(seconds, 3)
    if final is not None:
        figures.update(files_restored=final.files_restored, bytes_restored=final.bytes_restored)
    if not diagnosis.ok:
        return Diagnosis(
            RunStatus.FAILED,
            f"restore_{diagnosis.reason}",
            f"drill restore failed: {diagnosis.message}",
            True,
            diagnosis.exit_code,
        )
    recorded = manifest_for(ctx.store, dataset.name, target.host, latest.id)
    if recorded is not None:
        result = executor.run(
            manifest.verify_argv(folder), input_text=manifest.verify_program(recorded), timeout=VERIFY_TIMEOUT
        )
        try:
            report = manifest.parse_report(result.stdout)
        except EgovError as error:
            return Diagnosis(
                RunStatus.FAILED,
                "verify_error",
                f"manifest verification did not run: {error.message}",
                True,
                result.exit_code,
            )
        record.files_checked = int(report.get("checked", 0))
        figures.update(manifest_ok=report.get("ok"), manifest_changed=len(report.get("changed", [])))
        if not report.get("passed"):
            bad = (report.get("missing") or []) + (report.get("mismatched") or [])
            return Diagnosis(
                RunStatus.FAILED,
                "verify_mismatch",
                f"restored files differ from the backup-time manifest: {len(report.get('missing', []))} "
                f"missing, {len(report.get('mismatched', []))} different (first: {bad[:3]})",
                True,
                1,
            )
        recorder.note(f"manifest verified: {report.get('ok')} of {report.get('checked')} files identical")
    elif dataset.paths and dataset.manifest:
        recorder.note("no manifest was recorded for this snapshot: SHA-256 verification skipped")
    verify = plan.verify_argv(folder)
    if verify:
        result = executor.run(verify, timeout=VERIFY_TIMEOUT)
        if result.exit_code != 0:
            return Diagnosis(
                RunStatus.FAILED,
                "verify_command",
                f"the verification command failed (exit {result.exit_code}): {' '.join(result.tail[-3:])}",
                True,
                result.exit_code,
            )
        recorder.note(f"verification command passed: {' '.join(verify)}")
    record.rto_seconds = round(time.monotonic() - started, 3)
    return Diagnosis(
        RunStatus.SUCCEEDED,
        "ok",
        f"drill passed: data age {record.data_age_seconds:.0f} s (RPO {dataset.rpo}), "
        f"restore and verify {record.rto_seconds:.1f} s",
        False,
        0,
    )
