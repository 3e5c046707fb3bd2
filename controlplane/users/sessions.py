"""Console login sessions held in the store, so that ending one holds server-side.

The browser's signed cookie carries a random key; the store keeps only its
SHA-256 (a copy of the database cannot be replayed as a cookie), the user,
when and from where it began, when it was last seen and whether it was
revoked. A session is valid only while its row is there and not revoked:
logout, "end my other sessions", an administrator ending a user's sessions
and a password change all revoke rows, and a copied cookie dies with them.
The idle and absolute time limits stay in the cookie check
(:mod:`controlplane.web.security`); rows older than the absolute limit are
purged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from controlplane.store.models import User, WebSession, utcnow

KEY_BYTES = 32
# How often a session's "last seen" is written: not on every request (that would be a write per page).
TOUCH_EVERY = dt.timedelta(seconds=60)


def key_hash(key: str) -> str:
    """Return the SHA-256 (hex) of a session key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def begin(session: Session, user_id: int, *, address: str, user_agent: str) -> str:
    """Record a new session for ``user_id`` from ``address``; return its key (for the cookie only)."""
    key = secrets.token_urlsafe(KEY_BYTES)
    now = utcnow()
    session.add(
        WebSession(
            key_hash=key_hash(key),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            address=address[:64],
            user_agent="".join(c for c in user_agent if c.isprintable())[:200],
        )
    )
    session.flush()
    return key


def user_of(session: Session, key: str, user_id: int) -> tuple[User, WebSession] | None:
    """Return the user and live session of ``key`` when it belongs to ``user_id`` (one query, no write)."""
    row = session.execute(
        select(User, WebSession)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.key_hash == key_hash(key), User.id == user_id, WebSession.revoked_at.is_(None))
    ).first()
    return None if row is None else (row[0], row[1])


def due_for_touch(row: WebSession) -> bool:
    """True when the session's last-seen time is older than TOUCH_EVERY (worth writing again)."""
    return utcnow() - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, session_id: int) -> None:
    """Write now as the session's last-seen time."""
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=utcnow()))


def end(session: Session, key: str) -> bool:
    """Revoke the session of ``key``; return whether a live one was revoked."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.key_hash == key_hash(key), WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_all(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """Revoke every live session of ``user_id`` except the one of ``keep``; return how many."""
    conditions = [WebSession.user_id == user_id, WebSession.revoked_at.is_(None)]
    if keep:
        conditions.append(WebSession.key_hash != key_hash(keep))
    result = session.execute(update(WebSession).where(*conditions).values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


def live(session: Session, user_id: int) -> list[WebSession]:
    """Return the user's live sessions, newest first."""
    query = (
        select(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .order_by(WebSession.created_at.desc(), WebSession.id.desc())
    )
    return list(session.scalars(query))


def purge(session: Session, older_than: dt.timedelta) -> int:
    """Delete sessions begun more than ``older_than`` ago, or revoked that long ago; return how many."""
    limit = utcnow() - older_than
    result = session.execute(
        delete(WebSession).where(or_(WebSession.created_at < limit, WebSession.revoked_at < limit))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def summary(row: WebSession, current_key: str | None = None) -> dict[str, Any]:
    """Return a session as JSON-safe data (never its key or hash); ``current`` marks the caller's own."""
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "address": row.address,
        "user_agent": row.user_agent,
        "current": current_key is not None and key_hash(current_key) == row.key_hash,
    }
