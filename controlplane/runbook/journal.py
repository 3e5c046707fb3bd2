"""The journal of a runbook run: written as the run goes, read and exported after.

Every write is its own committed transaction (the SQLite store runs in WAL
mode), so when the control plane is killed mid-run the journal holds every
activity up to the one in progress (left ``running``; the run itself becomes
``interrupted`` on the next start through
:func:`controlplane.runs.recover_interrupted`). Each activity's lines also go
to the run's output, which the console streams live.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from controlplane.runbook.models import JournalEntry
from controlplane.runs import append_output, clean_text
from controlplane.store.models import Run, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.store import Store

MAX_OUTPUT_CHARS = 200_000

Listener = Callable[[dict[str, Any]], None]


@dataclass
class Activity:
    """An open journal entry (its row id, phase, name) while it runs."""

    entry_id: int
    seq: int
    phase: str
    name: str
    attempt: int
    started: float
    lines: list[str]


class JournalWriter:
    """Writes one run's journal; safe to use from a step's worker thread.

    Every entry is committed as it is written, so the console and a crash
    both see the journal up to the last line. ``listener`` receives each
    event (``{"event": "start"|"line"|"end", ...}``) for live displays; an
    error in it is swallowed, since a display must never stop a failover.
    """

    def __init__(self, store: Store, run_id: int, listener: Listener | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.listener = listener
        self._lock = threading.Lock()
        with store.session() as session:
            self._seq = session.scalar(select(func.max(JournalEntry.seq)).where(JournalEntry.run_id == run_id)) or 0

    def _emit(self, event: dict[str, Any]) -> None:
        if self.listener is not None:
            # A display error must never stop a failover.
            with contextlib.suppress(Exception):
                self.listener(event)

    def _output(self, session: Session, lines: list[str]) -> None:
        run = session.get(Run, self.run_id)
        if run is not None and lines:
            append_output(session, run, lines)

    def start(self, phase: str, name: str, *, attempt: int = 1, data: dict[str, Any] | None = None) -> Activity:
        """Open an activity (status running) and return it."""
        with self._lock, self.store.session() as session:
            self._seq += 1
            entry = JournalEntry(
                run_id=self.run_id,
                seq=self._seq,
                phase=phase,
                name=clean_text(name, 128),
                status="running",
                attempt=attempt,
                started_at=utcnow(),
                output="",
                data=data or {},
            )
            session.add(entry)
            session.flush()
            suffix = f" (attempt {attempt})" if attempt > 1 else ""
            self._output(session, [f"▶ {phase}: {name}{suffix}"])
            activity = Activity(entry.id, self._seq, phase, name, attempt, time.monotonic(), [])
        self._emit({"event": "start", "seq": activity.seq, "phase": phase, "name": name, "attempt": attempt})
        return activity

    def log(self, activity: Activity, text: str) -> None:
        """Add lines to an activity's output (stored at once, so a crash keeps them)."""
        lines = [clean_text(line, 8192) for line in str(text).splitlines() or [""]]
        with self._lock, self.store.session() as session:
            activity.lines.extend(lines)
            entry = session.get(JournalEntry, activity.entry_id)
            if entry is not None:
                entry.output = clean_text("\n".join(activity.lines), MAX_OUTPUT_CHARS)
            self._output(session, [f"  {line}" for line in lines])
        for line in lines:
            self._emit({"event": "line", "seq": activity.seq, "phase": activity.phase, "text": line})

    def finish(self, activity: Activity, status: str, *, data: dict[str, Any] | None = None) -> float:
        """Close an activity with its status (and extra data); return its duration in seconds."""
        duration = time.monotonic() - activity.started
        with self._lock, self.store.session() as session:
            entry = session.get(JournalEntry, activity.entry_id)
            if entry is not None:
                entry.status = status
                entry.finished_at = utcnow()
                entry.duration_seconds = round(duration, 6)
                if data:
                    entry.data = {**(entry.data or {}), **data}
            mark = {"succeeded": "✓", "failed": "✗", "planned": "○"}.get(status, "·")
            self._output(session, [f"{mark} {activity.phase}: {activity.name}: {status} ({duration:.2f} s)"])
        self._emit(
            {
                "event": "end",
                "seq": activity.seq,
                "phase": activity.phase,
                "name": activity.name,
                "status": status,
                "duration": duration,
                "data": data or {},
            }
        )
        return duration

    def note(self, phase: str, name: str, status: str, *, text: str = "", data: dict[str, Any] | None = None) -> None:
        """Write a finished entry at once (a figure, the plan, a refusal)."""
        activity = self.start(phase, name, data=data)
        if text:
            self.log(activity, text)
        self.finish(activity, status)


def read_journal(store: Store, run_id: int) -> dict[str, Any]:
    """Return a run and its journal as JSON-safe data.

    Entries still ``running`` in a run that ended (killed control plane) are
    shown as ``interrupted``. Raises BadInputError for an unknown run or one
    that is not a runbook run.
    """
    from controlplane.errors import BadInputError

    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None or run.kind != "runbook":
            raise BadInputError(f"no runbook run {run_id}")
        data = run.as_dict()
        entries = [
            entry.as_dict()
            for entry in session.scalars(
                select(JournalEntry).where(JournalEntry.run_id == run_id).order_by(JournalEntry.seq)
            )
        ]
    if data["status"] not in ("queued", "running"):
        for entry in entries:
            if entry["status"] == "running":
                entry["status"] = "interrupted"
    params = data.get("params") or {}
    return {
        "run": data,
        "runbook": params.get("runbook"),
        "mode": params.get("mode"),
        "params": params.get("params", {}),
        "targets": params.get("targets", []),
        "figures": (data.get("summary") or {}).get("figures", {}),
        "entries": entries,
    }
