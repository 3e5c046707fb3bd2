"""Runs: every action of the control plane, from creation to its final state.

A run is created ``queued`` (or straight ``running`` by the process that
executes it), records its owner process, appends output lines as they come
and ends in one final state. Work is claimed with a conditional UPDATE so two
workers never take the same run, and runs whose owner process died are marked
``interrupted`` when any process opens the store.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError
from controlplane.store.models import Run, RunOutput, RunStatus, utcnow

MAX_LINE_CHARS = 8192
MAX_TARGET_CHARS = 255


@cache
def _hostname() -> str:
    return socket.gethostname()


def process_start_time(pid: int) -> str | None:
    """Return a pid's start time (clock ticks since boot) from /proc, or None if gone.

    Pids are reused; the pair (pid, start time) identifies one process.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


@dataclass(frozen=True)
class Owner:
    """The process executing a run."""

    host: str
    pid: int
    started: str | None

    @classmethod
    def current(cls) -> Owner:
        return cls(host=_hostname(), pid=os.getpid(), started=process_start_time(os.getpid()))

    def alive(self) -> bool:
        """True when this owner is a live process on this machine (or on another)."""
        if self.host != _hostname():
            return True  # another machine's worker: not ours to judge
        return process_start_time(self.pid) == self.started


def clean_text(text: str, limit: int) -> str:
    """Return text safe to store: no NUL bytes, at most ``limit`` characters."""
    text = text.replace("\x00", "\\0")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def create_run(
    session: Session,
    *,
    kind: str,
    target: str,
    actor: str,
    trigger: str = "cli",
    site: str | None = None,
    params: dict[str, Any] | None = None,
    dry_run: bool = False,
    start: bool = True,
) -> Run:
    """Create a run; with ``start`` it is running and owned by this process.

    ``site`` scopes who may see the run; ``params`` must be JSON-safe. The
    run is flushed, not committed, so its id is set and it commits or rolls
    back with the caller's session. Raises BadInputError for an empty kind
    or actor.
    """
    if not kind or not actor:
        raise BadInputError("a run needs a kind and an actor")
    run = Run(
        kind=kind,
        target=clean_text(target, MAX_TARGET_CHARS),
        actor=clean_text(actor, 64),
        trigger=trigger,
        site=site,
        params=params or {},
        summary={},
        dry_run=dry_run,
        status=RunStatus.QUEUED,
        created_at=utcnow(),
    )
    if start:
        _take(run, Owner.current())
    session.add(run)
    session.flush()
    return run


def _take(run: Run, owner: Owner) -> None:
    run.status = RunStatus.RUNNING
    run.started_at = utcnow()
    run.owner_host, run.owner_pid, run.owner_started = owner.host, owner.pid, owner.started


def claim_next(session: Session, kinds: Sequence[str] | None = None) -> Run | None:
    """Claim the oldest queued run (optionally of given kinds) for this process.

    The claim is a conditional UPDATE (``WHERE status = 'queued'``): when two
    workers race for one run, exactly one UPDATE matches a row. Returns the
    claimed Run or None when nothing is queued.
    """
    query = select(Run.id).where(Run.status == RunStatus.QUEUED).order_by(Run.id).limit(5)
    if kinds:
        query = query.where(Run.kind.in_(list(kinds)))
    for run_id in session.scalars(query).all():
        run = claim(session, run_id)
        if run is not None:
            return run
    return None


def append_output(session: Session, run: Run, lines: Iterable[str], stream: str = "out") -> int:
    """Append output lines to a run and return the seq of the last one.

    Lines are stored as given (callers mask secrets before this point), with
    NUL bytes escaped and each line capped at MAX_LINE_CHARS.
    """
    now = utcnow()
    seq = run.output_lines or 0
    for line in lines:
        seq += 1
        session.add(
            RunOutput(run_id=run.id, seq=seq, created_at=now, stream=stream, text=clean_text(line, MAX_LINE_CHARS))
        )
    run.output_lines = seq
    session.flush()
    return seq


def read_output(session: Session, run_id: int, after: int = 0, limit: int = 1000) -> list[RunOutput]:
    """Return output lines of a run with seq greater than ``after`` (oldest first)."""
    query = (
        select(RunOutput).where(RunOutput.run_id == run_id, RunOutput.seq > after).order_by(RunOutput.seq).limit(limit)
    )
    return list(session.scalars(query))


def finish_run(
    session: Session,
    run: Run,
    status: str,
    *,
    summary: dict[str, Any] | None = None,
    exit_code: int | None = None,
) -> Run:
    """Put a run in its final state with an optional summary and exit code.

    Raises BadInputError for a status that is not final.
    """
    if status not in RunStatus.FINAL:
        raise BadInputError(f"{status!r} is not a final run status")
    run.status = status
    run.finished_at = utcnow()
    if summary is not None:
        run.summary = {**(run.summary or {}), **summary}
    run.exit_code = exit_code
    session.flush()
    return run


def request_cancel(session: Session, run_id: int) -> Run:
    """Ask the owner of an active run to cancel it; a queued run is cancelled at once.

    Returns the Run. Raises BadInputError for an unknown or finished run.
    """
    run = session.get(Run, run_id)
    if run is None:
        raise BadInputError(f"no run {run_id}")
    if run.status not in RunStatus.ACTIVE:
        raise BadInputError(f"run {run_id} is already {run.status}")
    if run.status == RunStatus.QUEUED:
        finish_run(session, run, RunStatus.CANCELLED, summary={"cancelled": "before start"})
    else:
        run.cancel_requested = True
        session.flush()
    return run


def recover_interrupted(session: Session) -> list[int]:
    """Mark running runs whose owner process is gone, and queued runs whose dispatcher is gone, interrupted.

    Called whenever a process opens the store. Returns the ids it marked.
    """
    marked: list[int] = []
    for run in session.scalars(select(Run).where(Run.status == RunStatus.RUNNING)):
        owner = Owner(run.owner_host or "", run.owner_pid or 0, run.owner_started)
        if run.owner_host is None or not owner.alive():
            finish_run(session, run, RunStatus.INTERRUPTED, summary={"interrupted": "owner process ended"})
            marked.append(run.id)
    # A queued run reserved by a dispatcher that died would wait forever; one never reserved is left alone.
    queued = select(Run).where(Run.status == RunStatus.QUEUED, Run.owner_host.is_not(None))
    for run in session.scalars(queued):
        if not Owner(run.owner_host or "", run.owner_pid or 0, run.owner_started).alive():
            finish_run(session, run, RunStatus.INTERRUPTED, summary={"interrupted": "dispatcher process ended"})
            marked.append(run.id)
    return marked


def counts_by_status(session: Session) -> dict[str, int]:
    """Return the number of runs in each status."""
    rows = session.execute(select(Run.status, func.count()).group_by(Run.status))
    return {status: count for status, count in rows}


def reserve(session: Session, run_id: int) -> None:
    """Record this process as the dispatcher of a queued run (the status stays ``queued``).

    Why: a run waiting in this process's queue when the process dies would
    otherwise stay ``queued`` forever; :func:`recover_interrupted` ends the
    queued runs whose dispatcher is gone. Raises BadInputError for an unknown
    run or one that is not queued.
    """
    run = session.get(Run, run_id)
    if run is None or run.status != RunStatus.QUEUED:
        raise BadInputError(f"run {run_id} is not queued")
    owner = Owner.current()
    run.owner_host, run.owner_pid, run.owner_started = owner.host, owner.pid, owner.started
    session.flush()


def claim(session: Session, run_id: int) -> Run | None:
    """Claim one queued run for this process (a conditional UPDATE, like :func:`claim_next`).

    Returns the running Run, or None when it is no longer queued (cancelled
    before it started, or another worker took it).
    """
    owner = Owner.current()
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.QUEUED)
        .values(
            status=RunStatus.RUNNING,
            started_at=utcnow(),
            owner_host=owner.host,
            owner_pid=owner.pid,
            owner_started=owner.started,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.flush()
    return session.get(Run, run_id, populate_existing=True)
