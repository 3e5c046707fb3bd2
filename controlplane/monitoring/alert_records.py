"""Loading and saving the engine's state: alerts, groups, silences (rows ↔ plain data).

The engine itself (:mod:`~controlplane.monitoring.alerts`,
:mod:`~controlplane.monitoring.dispatch`) works on plain dataclasses; this
module maps them to the tables of :mod:`~controlplane.monitoring.models`.
One evaluation step loads, decides and saves inside one transaction, so an
acknowledgement or a silence written by the CLI or the console at the same
moment is neither lost nor overwritten.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from controlplane.monitoring.alerts import Alert
from controlplane.monitoring.dispatch import Group
from controlplane.monitoring.labels import parse_matchers
from controlplane.monitoring.models import AlertGroupState, AlertRecord, SilenceRecord
from controlplane.monitoring.spec import Silence
from controlplane.store.models import Setting

LIFECYCLE = ("state", "active_since", "fired_at", "resolved_at", "clearing_since", "last_seen", "value",
             "generator_url", "source")  # fmt: skip
ACK = ("acked_by", "acked_at", "ack_comment")
HEARTBEAT = "monitor.heartbeat"


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def alert_from_row(row: AlertRecord) -> Alert:
    """The plain Alert of a stored row."""
    return Alert(
        labels=dict(row.labels or {}),
        annotations=dict(row.annotations or {}),
        state=row.state,
        active_since=row.active_since,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        clearing_since=row.clearing_since,
        last_seen=row.last_seen,
        value=row.value,
        transitions=[_parse_time(t) for t in row.transitions or []],
        acked_by=row.acked_by,
        acked_at=row.acked_at,
        ack_comment=row.ack_comment,
        source=row.source,
        generator_url=row.generator_url or "",
    )


def load_alerts(session: Session) -> dict[str, Alert]:
    """Every stored alert by fingerprint."""
    return {row.fingerprint: alert_from_row(row) for row in session.scalars(select(AlertRecord))}


def save_alerts(session: Session, before: dict[str, Alert], after: dict[str, Alert]) -> None:
    """Write what changed between two alert maps (new, changed and removed rows).

    Acknowledgement columns are written only when the engine changed them
    (a new episode clears them), so a concurrent ack is never overwritten.
    """
    for fp in set(before) - set(after):
        session.execute(delete(AlertRecord).where(AlertRecord.fingerprint == fp))
    for fp, alert in after.items():
        old = before.get(fp)
        if old is not None and old == alert:
            continue
        row = session.get(AlertRecord, fp)
        if row is None:
            row = AlertRecord(fingerprint=fp)
            session.add(row)
        row.labels, row.annotations = dict(alert.labels), dict(alert.annotations)
        for name in LIFECYCLE:
            setattr(row, name, getattr(alert, name))
        row.transitions = [t.isoformat() for t in alert.transitions]
        if old is None or any(getattr(old, n) != getattr(alert, n) for n in ACK):
            for name in ACK:
                setattr(row, name, getattr(alert, name))


def load_groups(session: Session) -> dict[str, Group]:
    """Every stored group state by key."""
    return {
        row.key: Group(
            key=row.key,
            route=row.route,
            receiver=row.receiver,
            group_labels=dict(row.group_labels or {}),
            created_at=row.created_at,
            last_flush_at=row.last_flush_at,
            last_notified_at=row.last_notified_at,
            first_notified_at=row.first_notified_at,
            notified_firing=list(row.notified_firing or []),
            escalation_level=row.escalation_level,
        )
        for row in session.scalars(select(AlertGroupState))
    }


def save_groups(session: Session, before: dict[str, Group], after: dict[str, Group]) -> None:
    """Write new, changed and removed group states."""
    for key in set(before) - set(after):
        session.execute(delete(AlertGroupState).where(AlertGroupState.key == key))
    for key, group in after.items():
        if before.get(key) == group:
            continue
        row = session.get(AlertGroupState, key)
        if row is None:
            row = AlertGroupState(key=key)
            session.add(row)
        for name, value in group.__dict__.items():
            if name != "key":
                setattr(row, name, value)


def silence_from_row(row: SilenceRecord) -> Silence:
    """The plain Silence of a stored row (a person's silence, not a file's)."""
    return Silence(
        id=row.id,
        matchers=parse_matchers(row.matchers or []),
        author=row.author,
        comment=row.comment,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        source="store",
    )


def load_silences(session: Session, now: dt.datetime | None = None) -> list[Silence]:
    """Silences made by people that have not ended (all when ``now`` is None)."""
    query = select(SilenceRecord).order_by(SilenceRecord.created_at)
    if now is not None:
        query = query.where(SilenceRecord.ends_at > now)
    return [silence_from_row(row) for row in session.scalars(query)]


def claim_write_lock(session: Session, now: dt.datetime) -> None:
    """Write a heartbeat first, so the step's transaction holds the write lock from its start.

    SQLite refuses a read transaction that later tries to write after
    another writer committed; writing first makes the step wait its turn
    instead. The heartbeat also tells the console when the monitor last ran.
    """
    # An UPDATE as the first statement: SQLite takes the write lock (waiting its turn) right here.
    done = session.execute(update(Setting).where(Setting.key == HEARTBEAT).values(value=now.isoformat()))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.add(Setting(key=HEARTBEAT, value=now.isoformat()))
        session.flush()


def heartbeat(session: Session) -> dt.datetime | None:
    """When the monitor last evaluated (None if never)."""
    row = session.get(Setting, HEARTBEAT)
    return _parse_time(row.value) if row else None


def as_json(value: Any) -> Any:
    """Datetimes to ISO text, recursively (for payloads stored as JSON)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value
