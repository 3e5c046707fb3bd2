"""Writing what backup operations did: run rows, output lines, snapshots, status, audit.

Every operation is a run (:mod:`controlplane.runs`) with kind from
:data:`controlplane.backup.models.RUN_KINDS` and target ``DATASET@HOST``:
made running by the operation itself, or made queued by a caller
(:func:`queue_run`) and taken over by the operation (:meth:`Recorder.take`).
Output lines reach this module already masked; restic's progress lines
(one a second) are kept only every :data:`STATUS_EVERY` seconds so a long
backup does not fill the store with them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from controlplane import audit
from controlplane.errors import BadInputError
from controlplane.runs import Owner, append_output, claim, create_run, finish_run
from controlplane.store.models import Run, RunStatus, utcnow

from .models import BackupDrill, BackupSnapshot, BackupStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.store import Store

    from .jsonout import BackupSummary
    from .targets import BackupTarget


log = logging.getLogger(__name__)
STATUS_EVERY = 10.0
# How often a running operation asks the store whether someone pressed cancel:
# the SSH pump polls every 20 ms, and a store read each time costs CPU that
# restic, running on the same machine in the lab, would otherwise have.
CANCEL_CHECK_EVERY = 1.0
_STATUS_PREFIX = '{"message_type":"status"'


def target_name(dataset: str, host: str) -> str:
    """The run target of a dataset on a host: ``DATASET@HOST``."""
    return f"{dataset}@{host}"


class Recorder:
    """One run being recorded: buffered output lines, then a final state."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self._pending: list[tuple[str, str]] = []
        self._last_status = 0.0
        self._last_flush = time.monotonic()
        self._cancel_checked = float("-inf")
        self._cancelled = False

    @classmethod
    def start(
        cls,
        store: Store,
        *,
        kind: str,
        dataset: str,
        host: str,
        site: str,
        actor: str,
        trigger: str,
        params: dict[str, Any],
    ) -> Recorder:
        """Create the running run row and return its recorder."""
        with store.session() as session:
            run = create_run(
                session,
                kind=kind,
                target=target_name(dataset, host),
                actor=actor,
                trigger=trigger,
                site=site,
                params=params,
            )
            return cls(store, run.id)

    @classmethod
    def take(
        cls, store: Store, run_id: int, *, kind: str, dataset: str, host: str, params: dict[str, Any]
    ) -> Recorder | None:
        """Take over a run made by :func:`queue_run`: queued, it becomes running, owned by this process.

        A run a dispatcher of this process has claimed already (running,
        owned by this process) is taken as it is. Returns None when the run
        is neither (cancelled before it started, finished, or another
        process's): nothing may be done for it then.
        Raises BadInputError for an unknown run, or one of another kind, unit
        or params than this operation's (a caller's mistake, never silently
        recorded into).
        """
        with store.session() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise BadInputError(f"no run {run_id}")
            if run.kind != kind or run.target != target_name(dataset, host):
                raise BadInputError(
                    f"run {run_id} is a {run.kind} of {run.target}, not a {kind} of {target_name(dataset, host)}"
                )
            if (run.params or {}) != params:
                raise BadInputError(f"run {run_id} was queued with other options ({run.params}) than given ({params})")
            if run.status == RunStatus.RUNNING:
                ours = Owner(run.owner_host or "", run.owner_pid or 0, run.owner_started) == Owner.current()
                return cls(store, run_id) if ours else None
            return cls(store, run_id) if claim(session, run_id) is not None else None

    def line(self, text: str, stream: str = "out") -> None:
        """Queue one output line (progress lines thinned out), flushing about once a second."""
        if text.startswith(_STATUS_PREFIX):
            now = time.monotonic()
            if now - self._last_status < STATUS_EVERY:
                return
            self._last_status = now
        self._pending.append((stream, text))
        if time.monotonic() - self._last_flush > 1.0 or len(self._pending) > 200:
            self.flush()

    def note(self, text: str) -> None:
        """Write a line of our own (what the engine is doing) at once."""
        self._pending.append(("out", f"egov: {text}"))
        self.flush()

    def flush(self) -> None:
        """Write the queued lines."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        with self.store.session() as session:
            run = session.get(Run, self.run_id)
            for stream in ("out", "err"):
                lines = [text for kind, text in pending if kind == stream]
                if lines:
                    append_output(session, run, lines, stream=stream)
        self._last_flush = time.monotonic()

    def cancel_requested(self) -> bool:
        """Whether someone asked to cancel this run (the console's cancel button).

        Reads the store at most every :data:`CANCEL_CHECK_EVERY` seconds (a
        cancel is noticed within that); once seen, it stays seen.
        """
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= CANCEL_CHECK_EVERY:
            self._cancel_checked = now
            with self.store.session() as session:
                run = session.get(Run, self.run_id)
                self._cancelled = bool(run and run.cancel_requested)
        return self._cancelled

    def finish(self, status: str, summary: dict[str, Any], exit_code: int | None = None) -> None:
        """Flush and put the run in its final state."""
        self.flush()
        with self.store.session() as session:
            finish_run(session, session.get(Run, self.run_id), status, summary=summary, exit_code=exit_code)


def queue_run(store: Store, kind: str, target: BackupTarget, actor: str, trigger: str, params: dict[str, Any]) -> int:
    """Create a queued run of an operation on a unit, for the operation to take over later; return its id.

    Use :func:`controlplane.backup.operations.queue_operation`, which gives
    the params the operation itself would record.
    """
    with store.session() as session:
        run = create_run(
            session,
            kind=kind,
            target=target_name(target.dataset.name, target.host),
            actor=actor,
            trigger=trigger,
            site=target.site,
            params=params,
            start=False,
        )
        return run.id


def status_row(session: Session, dataset: str, host: str, site: str) -> BackupStatus:
    """The status row of a dataset on a host, created when missing."""
    row = session.get(BackupStatus, (dataset, host))
    if row is None:
        row = BackupStatus(dataset=dataset, host=host, site=site, last_message="")
        session.add(row)
    return row


def record_backup(
    store: Store,
    *,
    run_id: int,
    dataset: str,
    host: str,
    site: str,
    status: str,
    message: str,
    duration: float,
    summary: BackupSummary | None = None,
    manifest: dict[str, Any] | None = None,
    forgotten: bool = False,
) -> None:
    """Record a finished backup: the snapshot (when one was kept) and the status row."""
    now = utcnow()
    with store.session() as session:
        row = status_row(session, dataset, host, site)
        row.last_run_id, row.last_status, row.last_message, row.last_run_at = run_id, status, message[:2000], now
        row.last_duration_seconds = round(duration, 3)
        if summary is not None and summary.snapshot_id and not forgotten:
            session.add(
                BackupSnapshot(
                    run_id=run_id,
                    dataset=dataset,
                    host=host,
                    site=site,
                    snapshot_id=summary.snapshot_id,
                    snapshot_time=now,
                    files_new=summary.files_new,
                    files_changed=summary.files_changed,
                    files_unmodified=summary.files_unmodified,
                    bytes_added=summary.data_added,
                    bytes_processed=summary.total_bytes_processed,
                    duration_seconds=summary.total_duration,
                    partial=status == RunStatus.PARTIAL,
                    manifest=manifest,
                )
            )
            row.last_bytes_added = summary.data_added
            row.last_snapshot_id = summary.snapshot_id
        if status == RunStatus.SUCCEEDED:
            row.last_success_at = now


def record_maintenance(store: Store, *, kind: str, dataset: str, host: str, site: str, status: str) -> None:
    """Record a check or prune on the status row."""
    with store.session() as session:
        row = status_row(session, dataset, host, site)
        if kind == "check":
            row.last_check_at, row.last_check_status = utcnow(), status
        else:
            row.last_prune_at = utcnow()


def record_drill(store: Store, drill: BackupDrill, site: str) -> None:
    """Store a finished drill and its figures on the status row."""
    with store.session() as session:
        session.add(drill)
        row = status_row(session, drill.dataset, drill.host, site)
        row.last_drill_at = drill.started_at
        row.last_drill_passed = drill.passed
        row.last_drill_rpo_seconds = drill.data_age_seconds
        row.last_drill_rto_seconds = drill.rto_seconds


def manifest_for(store: Store, dataset: str, host: str, snapshot_id: str) -> dict[str, Any] | None:
    """The manifest recorded when a snapshot was made (None: not ours, or a dump)."""
    from sqlalchemy import select

    with store.session() as session:
        query = select(BackupSnapshot.manifest).where(
            BackupSnapshot.dataset == dataset, BackupSnapshot.host == host, BackupSnapshot.snapshot_id == snapshot_id
        )
        return session.scalars(query).first()


def recent_snapshots(session: Session, dataset: str, host: str, limit: int) -> list[BackupSnapshot]:
    """Return the newest ``limit`` snapshots our runs recorded for one unit, newest first."""
    from sqlalchemy import select

    query = (
        select(BackupSnapshot)
        .where(BackupSnapshot.dataset == dataset, BackupSnapshot.host == host)
        .order_by(BackupSnapshot.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def recent_drills(session: Session, dataset: str, host: str, limit: int) -> list[BackupDrill]:
    """Return the newest ``limit`` restore drills of one unit, newest first."""
    from sqlalchemy import select

    query = (
        select(BackupDrill)
        .where(BackupDrill.dataset == dataset, BackupDrill.host == host)
        .order_by(BackupDrill.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def audit_event(
    store: Store, actor: str, action: str, target: str, outcome: str, client: str = "local", **details: Any
) -> None:
    """One audit record for an operation (never a secret in ``details``)."""
    try:
        audit.append(store, actor=actor, action=action, target=target, outcome=outcome, client=client, details=details,
                     site=audit.site_from(details))  # fmt: skip
    except RuntimeError as error:  # the audit log must not turn a finished restore into a crash
        log.error("audit record for %s %s failed: %s", action, target, error)


def age_seconds(when: dt.datetime | None, now: dt.datetime | None = None) -> float | None:
    """Seconds since ``when`` (None when never)."""
    if when is None:
        return None
    return ((now or utcnow()) - when).total_seconds()
