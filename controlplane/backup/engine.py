"""The backup engine: one backup of one dataset on one host, start to finish.

For a unit (dataset, host) :func:`backup` does, as one run of kind ``backup``:

1. takes our per-repository lock (:mod:`.locks`), so no check or prune of
   the repository runs beside it;
2. gets the repository password from the vault, creating a random one on
   first use (stored before ``restic init`` ever sees it);
3. records the SHA-256 manifest of the paths on the host (:mod:`.manifest`),
   for restore drills to verify against;
4. runs ``restic backup --json`` on the host with the password on stdin,
   parsing progress and the summary as they stream; exit 10 (no repository)
   runs ``restic init`` and the backup again; exit 11 (locked after
   ``--retry-lock``) runs ``restic unlock`` (stale locks only) when no other
   run of ours uses the repository, then tries once more;
5. reads the outcome (:mod:`.diagnose`); a dump backup's exit 3 snapshot is
   forgotten at once, so it can never be the "latest" a restore picks;
6. records the snapshot, its figures and manifest, the status row and the
   run's summary (``alert`` true for every outcome that must page someone).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError
from controlplane.store.models import Run, RunStatus

from . import commands, exitcodes, jsonout, manifest
from .context import BackupContext
from .diagnose import CenterWatch, Diagnosis, diagnose
from .executor import Executor, Result
from .locks import other_active_runs
from .models import KIND_BACKUP, BackupStatus
from .operation import Finished, OperationResult, Plan, ProgressCallback, perform
from .records import Recorder, audit_event, record_backup, target_name
from .targets import BackupTarget

if TYPE_CHECKING:
    from controlplane.store import Store

log = logging.getLogger(__name__)
MANIFEST_TIMEOUT = 3600.0
# Outcomes after which restic may have left its lock on the center (it could not reach it to remove it).
CUT_OFF_REASONS = ("center_unreachable", "timeout", "host_unreachable")


class ResticSession:
    """restic commands of one run against one repository, with password, output and retries."""

    def __init__(
        self,
        ctx: BackupContext,
        target: BackupTarget,
        executor: Executor,
        recorder: Recorder,
        password: str,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.ctx = ctx
        self.target = target
        self.executor = executor
        self.recorder = recorder
        self.password = password
        self.on_progress = on_progress
        self.progress = jsonout.Progress()
        self.watch = CenterWatch()

    def _on_line(self, line: str, stream: str, restore: bool = False) -> None:
        message = self.progress.feed(line, restore=restore)
        if self.on_progress is not None and isinstance(message, jsonout.BackupStatus | jsonout.RestoreStatus):
            self.on_progress(message)
        self.recorder.line(line, stream)

    def run(self, argv: list[str], *, restore: bool = False, timeout: float = 6 * 3600.0) -> Result:
        """Run one restic argv with the password on stdin; output goes to the run (masked).

        Stopped on a cancel request, and when restic's ssh to the center has
        ended and restic has not ended by itself within the grace time
        (:class:`CenterWatch`): a center cut off mid-transfer fails the run
        within the center's ``stall_timeout`` plus that grace.
        """
        self.progress = jsonout.Progress()
        watch = self.watch = CenterWatch()

        def line(text: str, stream: str) -> None:
            watch.feed(text, stream)
            self._on_line(text, stream, restore)

        return self.executor.run(
            argv,
            input_text=self.password + "\n",
            secrets=[self.password],
            on_line=line,
            timeout=timeout,
            should_cancel=lambda: watch.expired() or self.recorder.cancel_requested(),
        )

    def diagnose(self, result: Result, *, dump: bool = False) -> Diagnosis:
        """The outcome of a result, with the center named in messages."""
        center = f"the backup center {self.ctx.center.host} ({self.ctx.center_address()})"
        return diagnose(
            result.exit_code,
            result.stdout + "\n" + result.stderr,
            dump=dump,
            center=center,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
            stop_reason=result.stop_reason,
            center_lost=self.watch.line if result.cancelled and self.watch.expired() else "",
        )

    def unlock_if_ours_idle(self) -> bool:
        """Remove stale restic locks when no other run of ours uses the repository; return whether it ran."""
        others = other_active_runs(
            self.ctx.store, target_name(self.target.dataset.name, self.target.host), self.recorder.run_id
        )
        if others:
            self.recorder.note(f"repository locked and runs {others} of ours use it: not unlocking")
            return False
        self.recorder.note("repository still locked: removing stale locks (restic unlock, never --remove-all)")
        result = self.run(commands.unlock(self.ctx.repo(self.target, self.executor.host)), timeout=300)
        return result.exit_code == 0


def _manifest(
    ctx: BackupContext, target: BackupTarget, executor: Executor, recorder: Recorder
) -> dict[str, Any] | None:
    """Hash the dataset's files on the host; None (with a note) when it cannot."""
    dataset = target.dataset
    if not dataset.manifest or not dataset.paths:
        return None
    recorder.note("recording the SHA-256 manifest of the source files")
    result = executor.run(
        manifest.create_argv(dataset.paths, dataset.excludes),
        input_text=manifest.collector_source(),
        timeout=MANIFEST_TIMEOUT,
    )
    if result.exit_code != 0:
        recorder.note(f"no manifest: the collector ended with {result.exit_code}: {' '.join(result.tail[-3:])}")
        return None
    try:
        data = manifest.parse_manifest(result.stdout)
    except EgovError as error:
        recorder.note(f"no manifest: {error.message}")
        return None
    recorder.note(f"manifest: {len(data['files'])} files, {len(data['skipped'])} skipped")
    return data


def backup_argv(ctx: BackupContext, target: BackupTarget, host: str) -> list[str]:
    """The restic backup argv of a unit (paths or dump) as run on ``host``."""
    dataset = target.dataset
    repo = ctx.repo(target, host)
    if dataset.dump is not None:
        return commands.backup_dump(
            repo,
            list(dataset.dump.command),
            filename=dataset.dump.filename,
            host=target.host,
            tags=dataset.snapshot_tags,
        )
    return commands.backup_paths(
        repo, list(dataset.paths), host=target.host, excludes=list(dataset.excludes), tags=dataset.snapshot_tags
    )


def previous_run_cut_off(store: Store, dataset: str, host: str) -> bool:
    """Whether the unit's last backup ended cut off (center or host gone, or stopped by a deadline).

    restic could not remove its lock from the center then; the next run
    removes it (stale locks only) so that a check or prune is not blocked by
    it. Costs two primary-key reads.
    """
    with store.session() as session:
        status = session.get(BackupStatus, (dataset, host))
        if status is None or status.last_run_id is None or status.last_status == RunStatus.SUCCEEDED:
            return False
        run = session.get(Run, status.last_run_id)
        return run is not None and (run.summary or {}).get("reason") in CUT_OFF_REASONS


def backup_plan(ctx: BackupContext, target: BackupTarget) -> Plan:
    """The run a backup of a unit makes: kind, params, summary keys, the repository it holds."""
    unit = {"dataset": target.dataset.name, "host": target.host, "repository": target.repository}
    return Plan(KIND_BACKUP, dict(unit), dict(unit), locks=(target.repository,), warn="backup")


def backup(
    ctx: BackupContext,
    target: BackupTarget,
    *,
    on_progress: ProgressCallback | None = None,
    run_id: int | None = None,
) -> OperationResult:
    """Back up one dataset on one host (see the module docstring); return the result.

    ``run_id``: a queued run of this backup to record into (see
    :func:`controlplane.backup.operations.queue_operation`) instead of a new
    one. Never raises for a failed backup: every failure ends as a failed
    run with its message. Raises BadInputError for a run id of another
    operation, else only for programming errors.
    """
    made: dict[str, Any] = {"summary": None, "manifest": None, "forgotten": False}

    def work(recorder: Recorder, figures: dict[str, Any]) -> Diagnosis:
        diagnosis, summary, manifest_data, forgotten = _backup_locked(ctx, target, recorder, on_progress)
        made.update(summary=summary, manifest=manifest_data, forgotten=forgotten)
        if summary is not None:
            figures.update(
                snapshot_id=None if forgotten else summary.snapshot_id,
                files_new=summary.files_new,
                files_changed=summary.files_changed,
                files_unmodified=summary.files_unmodified,
                bytes_added=summary.data_added,
                bytes_added_packed=summary.data_added_packed,
                bytes_processed=summary.total_bytes_processed,
                restic_duration_seconds=summary.total_duration,
                manifest_files=len(manifest_data["files"]) if manifest_data else None,
            )
        return diagnosis

    def record(done: Finished) -> None:
        record_backup(
            ctx.store,
            run_id=done.run_id,
            dataset=target.dataset.name,
            host=target.host,
            site=target.site,
            status=done.diagnosis.status,
            message=done.diagnosis.message,
            duration=done.duration,
            summary=made["summary"],
            manifest=made["manifest"],
            forgotten=made["forgotten"],
        )

    return perform(ctx, target, backup_plan(ctx, target), work, run_id=run_id, record=record)


def _backup_locked(
    ctx: BackupContext, target: BackupTarget, recorder: Recorder, on_progress: ProgressCallback | None
) -> tuple[Diagnosis, jsonout.BackupSummary | None, dict[str, Any] | None, bool]:
    dataset = target.dataset
    executor = ctx.executor(target.host)
    password = ctx.password(target, create=True)
    assert password is not None  # noqa: S101 - create=True always returns one
    session = ResticSession(ctx, target, executor, recorder, password, on_progress)
    manifest_data = _manifest(ctx, target, executor, recorder)
    if previous_run_cut_off(ctx.store, dataset.name, target.host):
        recorder.note("the previous run was cut off before restic could remove its lock")
        session.unlock_if_ours_idle()
    argv = backup_argv(ctx, target, executor.host)
    recorder.note(f"restic backup of {dataset.name} on {target.host} to {target.repository}")
    result = session.run(argv)
    if result.exit_code == exitcodes.REPO_MISSING:
        recorder.note("the repository does not exist yet: restic init")
        init = session.run(commands.init(ctx.repo(target, executor.host)), timeout=600)
        if init.exit_code != 0:
            return session.diagnose(init), None, manifest_data, False
        audit_event(
            ctx.store,
            ctx.actor,
            "backup.init",
            target.repository,
            "ok",
            dataset=dataset.name,
            host=target.host,
            site=target.site,
        )
        result = session.run(argv)
    if result.exit_code == exitcodes.LOCKED and session.unlock_if_ours_idle():
        result = session.run(argv)
    diagnosis = session.diagnose(result, dump=dataset.dump is not None)
    summary = session.progress.summary
    forgotten = False
    if dataset.dump is not None and result.exit_code == exitcodes.PARTIAL and summary and summary.snapshot_id:
        recorder.note(f"forgetting the incomplete dump snapshot {summary.snapshot_id[:8]}")
        forget = session.run(
            commands.forget_snapshots(ctx.repo(target, executor.host), [summary.snapshot_id]), timeout=600
        )
        forgotten = forget.exit_code == 0
        if not forgotten:
            recorder.note("could not forget the incomplete dump snapshot: forget it by hand")
    if diagnosis.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        return diagnosis, summary, None, forgotten
    if diagnosis.ok and summary is not None and summary.snapshot_id:
        diagnosis = Diagnosis(
            diagnosis.status,
            diagnosis.reason,
            f"snapshot {summary.snapshot_id[:8]}: {summary.files_new} new, {summary.files_changed} changed files, "
            f"{summary.data_added} bytes added in {summary.total_duration:.1f} s",
            False,
            diagnosis.exit_code,
        )
    return diagnosis, summary, manifest_data, forgotten
