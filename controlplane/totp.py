"""TOTP second factor of console users: enrolment, re-enrolment, verification, disabling.

Secrets live in the vault as ``user.<id>.totp`` (a pending enrolment as
``user.<id>.totp_pending``); the last accepted time step is kept in the
settings so a code cannot be replayed. While TOTP is on, replacing or
removing it needs the password and a current code, and wrong attempts count
against the login throttle (:mod:`controlplane.users`): a stolen session
alone cannot move the second factor to the thief's phone or switch it off.

The vault writes in its own transactions. On SQLite a second writer waits
for the first, so every function here does its vault work before it writes
anything through ``session`` (callers: do the same).

The functions are also reachable as ``controlplane.users.<name>``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError
from controlplane.store.models import Setting, User, utcnow
from controlplane.users import (
    AuthError,
    LoginResult,
    locked_until,
    record_failure,
    throttle_keys,
    verify_password,
)

if TYPE_CHECKING:
    import pyotp

    from controlplane.vault import Vault

TOTP_DIGITS = 6
TOTP_INTERVAL = 30
TOTP_ISSUER = "EduGov"
# How long a re-enrolment, once the password and current code were given, may wait for the new code.
REENROL_WINDOW = dt.timedelta(minutes=10)


def totp_secret_name(user: User, pending: bool = False) -> str:
    """Return the vault name of a user's TOTP secret (or of the pending enrolment)."""
    return f"user.{user.id}.totp_pending" if pending else f"user.{user.id}.totp"


def _totp(secret: str) -> pyotp.TOTP:
    import pyotp

    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)


def start_totp_enrolment(vault: Vault, user: User) -> tuple[str, str]:
    """Create a new pending TOTP secret for a user without TOTP and return (secret, otpauth URI).

    The secret is kept in the vault as pending until a code confirms it.
    Raises BadInputError while TOTP is on: replacing an enrolled secret goes
    through :func:`begin_totp_reenrolment` (password and current code).
    """
    if user.totp_enabled:
        raise BadInputError("TOTP is on: re-enrolling needs the password and a current code")
    return _new_pending(vault, user)


def _new_pending(vault: Vault, user: User) -> tuple[str, str]:
    import pyotp

    secret = pyotp.random_base32()
    vault.set(totp_secret_name(user, pending=True), secret)
    uri = _totp(secret).provisioning_uri(name=user.name, issuer_name=TOTP_ISSUER)
    return secret, uri


def pending_totp(vault: Vault, user: User) -> tuple[str, str] | None:
    """Return (secret, URI) of a pending enrolment, or None."""
    name = totp_secret_name(user, pending=True)
    if not vault.exists(name):
        return None
    secret = vault.get(name)
    return secret, _totp(secret).provisioning_uri(name=user.name, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, now: dt.datetime | None) -> int | None:
    """Return the time step whose code equals ``code`` (one step of drift either way), or None."""
    code = (code or "").strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    moment = now or utcnow()
    totp = _totp(secret)
    current = int(moment.timestamp()) // TOTP_INTERVAL
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_INTERVAL), code):
            return step
    return None


def _last_step_key(user: User) -> str:
    return f"totp.last_step.{user.id}"


def _replayed(session: Session, user: User, step: int) -> bool:
    row = session.get(Setting, _last_step_key(user))
    return row is not None and step <= int(row.value)


def _remember_step(session: Session, user: User, step: int) -> None:
    row = session.get(Setting, _last_step_key(user))
    if row is None:
        session.add(Setting(key=_last_step_key(user), value=str(step)))
    else:
        row.value = str(step)
    session.flush()


def _reenrol_key(user: User) -> str:
    return f"totp.reenrol_until.{user.id}"


def reenrolment_open(session: Session, user: User, now: dt.datetime | None = None) -> bool:
    """True while a re-enrolment the password and current code opened may still be confirmed."""
    row = session.get(Setting, _reenrol_key(user))
    if row is None:
        return False
    try:
        until = dt.datetime.fromisoformat(row.value)
    except ValueError:
        return False
    return (now or utcnow()) < until


def confirm_totp_enrolment(
    session: Session, vault: Vault, user: User, code: str, now: dt.datetime | None = None
) -> None:
    """Turn a pending secret into the user's TOTP secret when ``code`` matches it.

    While TOTP is on, only a re-enrolment opened by :func:`begin_totp_reenrolment`
    (within REENROL_WINDOW) can be confirmed: a pending secret alone is not
    enough. The replay guard holds per secret: the new secret's code of the
    step the old one just used is accepted. Raises AuthError for a wrong code,
    BadInputError when nothing (or no opened re-enrolment) is pending.
    """
    pending = totp_secret_name(user, pending=True)
    if not vault.exists(pending):
        raise BadInputError("no TOTP enrolment is in progress")
    if user.totp_enabled and not reenrolment_open(session, user, now):
        raise BadInputError("no TOTP re-enrolment is open: give the password and a current code first")
    secret = vault.get(pending)
    step = _matching_step(secret, code, now)
    if step is None:
        raise AuthError("the code is wrong")
    vault.set(totp_secret_name(user), secret)
    vault.delete(pending)
    last = session.get(Setting, _last_step_key(user))
    _remember_step(session, user, max(step, int(last.value)) if last is not None else step)
    session.execute(delete(Setting).where(Setting.key == _reenrol_key(user)))
    user.totp_enabled = True
    session.flush()


def _identity_step(vault: Vault, user: User, password: str, code: str, now: dt.datetime | None) -> int | None:
    """The time step of ``code`` when the password and the enrolled secret's code are both right, else None.

    Reads only (the vault and the hash): callers write after their vault work.
    """
    name = totp_secret_name(user)
    password_ok = verify_password(password or "", user.password_hash)
    if not user.totp_enabled or not vault.exists(name):
        return None
    step = _matching_step(vault.get(name), code, now)
    return step if password_ok else None


def _identity_checked(
    session: Session, vault: Vault, user: User, password: str, code: str, client: str, now: dt.datetime | None
) -> tuple[LoginResult, int | None]:
    """Check password and current code against the login throttle: (result, the code's step when ok)."""
    keys = throttle_keys(user.name, client)
    until = locked_until(session, keys, now)
    if until is not None:
        return LoginResult("locked", user_id=user.id, locked_until=until), None
    step = _identity_step(vault, user, password, code, now)
    if step is None or _replayed(session, user, step):
        result = record_failure(session, keys, now)
        return LoginResult("failed", user.id, result.locked_until, result.locked_keys), None
    return LoginResult("ok", user_id=user.id), step


def begin_totp_reenrolment(
    session: Session, vault: Vault, user: User, password: str, code: str, client: str, now: dt.datetime | None = None
) -> tuple[LoginResult, tuple[str, str] | None]:
    """Open the replacement of an enrolled TOTP secret: needs the password and a current code.

    Wrong attempts count against the name and address like failed logins
    (``locked`` while the throttle holds). On success a new pending secret
    is made and may be confirmed for REENROL_WINDOW. Returns the result and,
    when ok, (secret, otpauth URI).
    """
    result, step = _identity_checked(session, vault, user, password, code, client, now)
    if step is None:
        return result, None
    pending = _new_pending(vault, user)  # vault first: the session writes below hold SQLite's write lock
    _remember_step(session, user, step)
    until = ((now or utcnow()) + REENROL_WINDOW).isoformat()
    row = session.get(Setting, _reenrol_key(user))
    if row is None:
        session.add(Setting(key=_reenrol_key(user), value=until))
    else:
        row.value = until
    session.flush()
    return result, pending


def disable_totp(
    session: Session, vault: Vault, user: User, password: str, code: str, client: str, now: dt.datetime | None = None
) -> LoginResult:
    """Turn TOTP off: needs the password and a current code, throttled like a login.

    Raises BadInputError for an admin (TOTP is required for them). Returns
    the LoginResult (ok, failed with what got locked, or locked).
    """
    if user.role == "admin":
        raise BadInputError("administrators must keep TOTP")
    result, step = _identity_checked(session, vault, user, password, code, client, now)
    if step is None:
        return result
    for name in (totp_secret_name(user), totp_secret_name(user, pending=True)):
        if vault.exists(name):
            vault.delete(name)
    _remember_step(session, user, step)
    user.totp_enabled = False
    session.flush()
    return result


def verify_totp(session: Session, vault: Vault, user: User, code: str, now: dt.datetime | None = None) -> bool:
    """True when ``code`` is a valid, not yet used code of the user's enrolled secret."""
    name = totp_secret_name(user)
    if not user.totp_enabled or not vault.exists(name):
        return False
    step = _matching_step(vault.get(name), code, now)
    if step is None or _replayed(session, user, step):
        return False
    _remember_step(session, user, step)
    return True


def reset_totp(session: Session, vault: Vault, user: User) -> None:
    """Remove a user's TOTP secret (enrolled and pending); they enrol again."""
    for name in (totp_secret_name(user), totp_secret_name(user, pending=True)):
        if vault.exists(name):
            vault.delete(name)
    session.execute(delete(Setting).where(Setting.key == _reenrol_key(user)))
    user.totp_enabled = False
    session.flush()
