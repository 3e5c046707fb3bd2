"""API tokens: ``egov_<prefix>_<secret>``, of which only the SHA-256 is stored.

Every token expires: DEFAULT_TOKEN_DAYS unless asked otherwise, never beyond
MAX_TOKEN_DAYS (both set in egov.yml's ``api_tokens``), and a password
change or a disabled account revokes them all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError
from controlplane.store.models import ApiToken, User, utcnow

TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
TOKEN_FORMAT = re.compile(r"^egov_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
# API token lifetimes (days): the default when none is asked for, and the most anyone may ask for.
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365


def token_hash(token: str) -> str:
    """Return the stored form of a token: its SHA-256 in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    user: User,
    name: str,
    expires_days: int | None = None,
    *,
    default_days: int = DEFAULT_TOKEN_DAYS,
    max_days: int = MAX_TOKEN_DAYS,
) -> tuple[ApiToken, str]:
    """Create an API token for a user and return (row, clear token).

    Without ``expires_days`` the token lives ``default_days``; more than
    ``max_days`` is refused (egov.yml ``api_tokens`` sets both). The clear
    token is returned once and never stored. Raises BadInputError for a bad
    name or lifetime.
    """
    if not isinstance(name, str) or not TOKEN_NAME.match(name):
        raise BadInputError("a token name is 1-64 letters, digits, spaces, '.', '_' or '-'")
    if expires_days is None:
        expires_days = min(default_days, max_days)
    if isinstance(expires_days, bool) or not isinstance(expires_days, int) or not (1 <= expires_days <= max_days):
        raise BadInputError(f"a token lifetime is 1 to {max_days} days")
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    clear = f"egov_{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=prefix,
        token_hash=token_hash(clear),
        created_at=now,
        expires_at=now + dt.timedelta(days=expires_days),
        revoked=False,
    )
    session.add(row)
    session.flush()
    return row, clear


def authenticate_token(
    session: Session, clear: str, *, touch_every: float = 60.0, max_days: int = MAX_TOKEN_DAYS
) -> tuple[User, ApiToken] | None:
    """Return (user, token) for a valid, unexpired, unrevoked token of an enabled user, else None.

    A token without an expiry (made before tokens had a default lifetime)
    expires ``max_days`` after its creation. ``last_used_at`` is refreshed at
    most every ``touch_every`` seconds so a busy client does not turn every
    read into a write.
    """
    if not isinstance(clear, str) or not TOKEN_FORMAT.match(clear):
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(clear))).first()
    if row is None or row.revoked:
        return None
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.expires_at is None and row.created_at + dt.timedelta(days=max_days) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= touch_every:
        row.last_used_at = now
        session.flush()
    return user, row


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """Return a user's tokens, newest first (revoked ones included)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens. Raises BadInputError when it is not theirs."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise BadInputError(f"no token {token_id}")
    row.revoked = True
    session.flush()
    return row


def revoke_all_tokens(session: Session, user: User) -> int:
    """Revoke every token of a user (account disabled, password changed); return how many were live."""
    count = 0
    now = utcnow()
    for row in list_tokens(session, user):
        count += token_is_live(row, now)
        row.revoked = True
    session.flush()
    return count


def token_is_live(row: ApiToken, now: dt.datetime | None = None) -> bool:
    """True for a token that is neither revoked nor past its expiry."""
    return not row.revoked and (row.expires_at is None or row.expires_at > (now or utcnow()))


def token_summary(row: ApiToken) -> dict[str, Any]:
    """Return a token as JSON-safe data (never the token or its hash)."""

    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "name": row.name,
        "prefix": f"egov_{row.prefix}_",
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "expires_at": iso(row.expires_at),
        "revoked": bool(row.revoked),
    }
