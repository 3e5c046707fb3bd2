"""The login throttle: failures counted per user name and per client address, locks after too many.

Rows of ``login_throttle`` keyed ``user:<name>`` or ``addr:<address>``; a
key is locked for THROTTLE_LOCK once it reaches its limit within
THROTTLE_WINDOW.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.store.models import LoginThrottle, utcnow

THROTTLE_LIMIT = 5
# An address is locked only after more failures than a name: a school's staff share one NAT address,
# and one person mistyping must not lock out the whole school; 20 wrong passwords in the window from
# one address is still a password-spraying signal.
ADDRESS_THROTTLE_LIMIT = 20
THROTTLE_WINDOW = dt.timedelta(minutes=15)
THROTTLE_LOCK = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class ThrottleResult:
    """After a failure: which keys just got locked, and until when."""

    locked_keys: tuple[str, ...]
    locked_until: dt.datetime | None


def throttle_keys(name: str, client: str) -> list[str]:
    """Return the throttle keys of a login attempt: one per user name, one per address."""
    return [f"user:{name[:64].lower()}", f"addr:{client[:64]}"]


def locked_until(session: Session, keys: Iterable[str], now: dt.datetime | None = None) -> dt.datetime | None:
    """Return the latest lock expiry among the keys, or None when none is locked."""
    now = now or utcnow()
    latest: dt.datetime | None = None
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            latest = row.locked_until if latest is None else max(latest, row.locked_until)
    return latest


def record_failure(session: Session, keys: Iterable[str], now: dt.datetime | None = None) -> ThrottleResult:
    """Count a failed login against each key; the limit-th failure in the window locks it.

    The limit is THROTTLE_LIMIT for a user name, ADDRESS_THROTTLE_LIMIT for a client address.

    Returns the keys that became locked by this failure and the lock expiry.
    """
    now = now or utcnow()
    newly: list[str] = []
    until: dt.datetime | None = None
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0)
            session.add(row)
        expired_lock = row.locked_until is not None and row.locked_until <= now
        stale = row.first_failure_at is None or now - row.first_failure_at > THROTTLE_WINDOW
        if expired_lock or stale:
            row.failures, row.first_failure_at, row.locked_until = 0, now, None
        row.failures += 1
        limit = ADDRESS_THROTTLE_LIMIT if key.startswith("addr:") else THROTTLE_LIMIT
        if row.failures >= limit and row.locked_until is None:
            row.locked_until = now + THROTTLE_LOCK
            newly.append(key)
            until = row.locked_until
    session.flush()
    return ThrottleResult(tuple(newly), until)


def reset_throttle(session: Session, key: str) -> None:
    """Forget the failures of one key (after a successful login)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def purge_throttle(session: Session, now: dt.datetime | None = None) -> int:
    """Delete throttle rows whose window and lock are over; return how many."""
    now = now or utcnow()
    count = 0
    for row in list(session.scalars(select(LoginThrottle))):
        lock_over = row.locked_until is None or row.locked_until <= now
        window_over = row.first_failure_at is None or now - row.first_failure_at > THROTTLE_WINDOW
        if lock_over and window_over:
            session.delete(row)
            count += 1
    session.flush()
    return count
