"""Bad-token attempts at the Alertmanager intake: a token bucket per client address, and bounded audit.

Every attempt with a missing or wrong token takes one token from its
client's bucket (BURST tokens, one back every REFILL_SECONDS). While the
bucket is empty, every request of that client gets 429 with ``Retry-After``,
even one carrying a right token: answering it would tell a guesser which
guess was right. Buckets live in the store, so every console process and
worker sees the same count.

Audit records stay bounded whatever the rate: per (client, reason) the
first refusal opens a WINDOW and is audited at once (count 1); the repeats
inside the window are only counted, and one more record carries how many
there were once the window has ended (written by the pair's next refusal,
or by :func:`flush_windows`, which the retention job runs). So a client
hammering the intake leaves at most two records per reason per window.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.monitoring.models import IntakeBucket, IntakeWindow
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from controlplane.store import Store

BURST = 10  # bad-token attempts a client may make at once
REFILL_SECONDS = 6.0  # then one more every this many seconds (10 a minute)
WINDOW = dt.timedelta(minutes=10)
ACTOR = "alertmanager-intake"


@dataclass(frozen=True)
class AuditNote:
    """One audit record to write: the first refusal of a window, or the count of its repeats."""

    client: str
    reason: str
    count: int
    window_start: dt.datetime
    window_end: dt.datetime | None  # None for the first refusal of a window still open
    repeats: bool


def _level(row: IntakeBucket, now: dt.datetime) -> float:
    elapsed = max(0.0, (now - row.refilled_at).total_seconds())
    return min(float(BURST), row.tokens + elapsed / REFILL_SECONDS)


def retry_after(session: Session, client: str, now: dt.datetime | None = None) -> int | None:
    """Seconds until ``client`` may try again, or None while its bucket holds a token (reads only)."""
    row = session.get(IntakeBucket, client[:64])
    if row is None:
        return None
    level = _level(row, now or utcnow())
    return None if level >= 1.0 else max(1, math.ceil((1.0 - level) * REFILL_SECONDS))


def take(session: Session, client: str, now: dt.datetime | None = None) -> None:
    """Take one token from ``client``'s bucket for a bad-token attempt."""
    now = now or utcnow()
    row = session.get(IntakeBucket, client[:64])
    if row is None:
        row = IntakeBucket(client=client[:64], tokens=float(BURST), refilled_at=now)
        session.add(row)
    row.tokens, row.refilled_at = max(0.0, _level(row, now) - 1.0), now
    session.flush()


def note_refusal(session: Session, client: str, reason: str, now: dt.datetime | None = None) -> list[AuditNote]:
    """Count a refusal of (client, reason); return the audit records it calls for (often none)."""
    now = now or utcnow()
    row = session.get(IntakeWindow, (client[:64], reason))
    if row is not None and now - row.started_at < WINDOW:
        row.count += 1
        session.flush()
        return []
    notes = []
    if row is None:
        row = IntakeWindow(client=client[:64], reason=reason, started_at=now, count=0, reported=0)
        session.add(row)
    elif row.count > row.reported:
        notes.append(_repeats(row))
    row.started_at, row.count, row.reported = now, 1, 1
    session.flush()
    notes.append(AuditNote(row.client, reason, 1, now, None, repeats=False))
    return notes


def _repeats(row: IntakeWindow) -> AuditNote:
    return AuditNote(row.client, row.reason, row.count - row.reported, row.started_at, row.started_at + WINDOW, True)


def flush_windows(session: Session, now: dt.datetime | None = None) -> list[AuditNote]:
    """Close every window that has ended: a note for each with repeats not yet audited.

    Also forgets windows and buckets with nothing left to say (a bucket that
    has refilled completely is the same as none). Returns the notes; the
    caller writes them with :func:`write_notes` after its transaction.
    """
    now = now or utcnow()
    notes = []
    for row in session.scalars(select(IntakeWindow).where(IntakeWindow.started_at <= now - WINDOW)):
        if row.count > row.reported:
            notes.append(_repeats(row))
        session.delete(row)
    full_since = now - dt.timedelta(seconds=BURST * REFILL_SECONDS)
    session.execute(delete(IntakeBucket).where(IntakeBucket.refilled_at <= full_since))
    session.flush()
    return notes


def write_notes(store: Store, notes: list[AuditNote], via: str = "api") -> int:
    """Append one audit record per note (``alerts.intake``, outcome ``denied`` or ``rate_limited``); return how many."""
    from controlplane import audit

    for note in notes:
        audit.append(
            store,
            actor=ACTOR,
            action="alerts.intake",
            target="alertmanager",
            outcome="rate_limited" if note.reason == "rate_limited" else "denied",
            client=note.client,
            details={
                "via": via,
                "reason": note.reason,
                "count": note.count,
                "repeats": note.repeats,
                "window_start": note.window_start.isoformat(),
                "window_end": note.window_end.isoformat() if note.window_end else None,
            },
        )
    return len(notes)
