"""A login attempt decided: the throttle first, then the password, with no way to tell failures apart.

The second factor (:mod:`controlplane.totp`) and the current-password check
of a password change count their failures here too, so a guesser gets one
budget of attempts whichever door they knock on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from controlplane.store.models import User, utcnow
from controlplane.users.accounts import get_user
from controlplane.users.fields import USER_NAME
from controlplane.users.passwords import dummy_verify, verify_password
from controlplane.users.throttle import locked_until, record_failure, reset_throttle, throttle_keys


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a password check: ok, failed or locked (and what got locked now)."""

    outcome: str
    user_id: int | None = None
    locked_until: dt.datetime | None = None
    newly_locked: tuple[str, ...] = ()


def check_login(session: Session, name: str, password: str, client: str, now: dt.datetime | None = None) -> LoginResult:
    """Check a login attempt against the throttle and the password.

    ``client`` is the address the attempt came from. A locked name or
    address is refused before the password is looked at; an unknown
    name or a disabled account costs the same time as a wrong password and
    counts as a failure, so none of them can be told apart. Returns the
    LoginResult; commits nothing itself (the caller's session does).
    """
    keys = throttle_keys(name or "", client)
    until = locked_until(session, keys, now)
    if until is not None:
        return LoginResult("locked", locked_until=until)
    user = get_user(session, name) if isinstance(name, str) and USER_NAME.match(name) else None
    if user is None:
        dummy_verify(password or "")
        ok = False
    else:
        ok = verify_password(password or "", user.password_hash) and not user.disabled
    if ok and user is not None:
        # The name's failures are forgotten only when the whole login completes
        # (login_completed): forgetting them after the password would give a
        # TOTP guesser a fresh set of attempts with every password entry.
        return LoginResult("ok", user_id=user.id)
    result = record_failure(session, keys, now)
    return LoginResult("failed", locked_until=result.locked_until, newly_locked=result.locked_keys)


def second_factor_failed(session: Session, name: str, client: str, now: dt.datetime | None = None) -> LoginResult:
    """Count a wrong TOTP code like a wrong password; return whether that locked anything."""
    result = record_failure(session, throttle_keys(name, client), now)
    return LoginResult("failed", locked_until=result.locked_until, newly_locked=result.locked_keys)


def login_completed(session: Session, user_id: int) -> None:
    """Record a completed login (password and, when enrolled, TOTP): its time, and forget the name's failures."""
    user = session.get(User, user_id)
    if user is not None:
        user.last_login_at = utcnow()
        reset_throttle(session, throttle_keys(user.name, "")[0])
        session.flush()


def password_check_failed(session: Session, name: str, client: str) -> LoginResult:
    """Count a wrong current password (password change) like a failed login."""
    return second_factor_failed(session, name, client)
