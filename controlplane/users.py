"""Console users: passwords, roles and site scopes, API tokens, login throttling, TOTP.

Everything here works on a SQLAlchemy session (and the vault for TOTP
secrets) so the CLI, the web console and tests share one implementation;
nothing imports Flask.

Passwords are hashed with scrypt (n=2**14, r=8, p=1, 16-byte random salt)
and stored as ``scrypt$n$r$p$salt_b64$hash_b64``. API tokens look like
``egov_<prefix>_<secret>``; only their SHA-256 is stored. Every token
expires: DEFAULT_TOKEN_DAYS unless asked otherwise, never beyond
MAX_TOKEN_DAYS (both set in egov.yml's ``api_tokens``), and a password change
or a disabled account revokes them all. TOTP lives in :mod:`controlplane.totp`
(its functions are reachable here too, as ``users.verify_totp`` and so on).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError
from controlplane.store.models import ApiToken, LoginThrottle, User, utcnow

ROLES: tuple[str, ...] = ("admin", "operator", "oncall", "security_officer", "auditor")
LANGUAGES: tuple[str, ...] = ("en", "zh_CN")
USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
TOKEN_FORMAT = re.compile(r"^egov_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_DISPLAY_NAME = 128

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_DKLEN = 32
# A stored hash names its own cost; refuse absurd ones so a tampered row cannot
# make every login allocate gigabytes.
SCRYPT_MAX_N = 2**20

THROTTLE_LIMIT = 5
# An address is locked only after more failures than a name: a school's staff share one NAT address,
# and one person mistyping must not lock out the whole school; 20 wrong passwords in the window from
# one address is still a password-spraying signal.
ADDRESS_THROTTLE_LIMIT = 20
THROTTLE_WINDOW = dt.timedelta(minutes=15)
THROTTLE_LOCK = dt.timedelta(minutes=15)

# API token lifetimes (days): the default when none is asked for, and the most anyone may ask for.
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365


class AuthError(BadInputError):
    """A password, token or code was wrong (the message never says which part)."""


# --------------------------------------------------------------------------- passwords
def hash_password(password: str) -> str:
    """Return the scrypt hash of a password in the stored text format.

    Given the clear password; returns ``scrypt$n$r$p$salt_b64$hash_b64``.
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN, maxmem=64 << 20
    )
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a stored hash (compared in constant time).

    A malformed or unsupported stored value never matches.
    """
    try:
        scheme, n_text, r_text, p_text, salt_text, hash_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, AttributeError):
        return False
    if scheme != "scrypt" or not (2 <= n <= SCRYPT_MAX_N) or n & (n - 1) or not (1 <= r <= 32) or not (1 <= p <= 4):
        return False
    try:
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 << 20
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


# A hash of a random password: unknown user names are checked against it so
# the time a failed login takes does not tell whether the name exists.
_DUMMY_HASH: str | None = None


def dummy_verify(password: str) -> None:
    """Spend the same time as a real password check, for unknown user names."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(password, _DUMMY_HASH)


def check_new_password(password: str) -> str:
    """Return a password acceptable as a new one or raise BadInputError.

    At least MIN_PASSWORD characters, at most MAX_PASSWORD, no control characters.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadInputError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadInputError(f"a password has at most {MAX_PASSWORD} characters")
    if CONTROL_CHARS.search(password):
        raise BadInputError("a password cannot contain control characters")
    return password


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


# --------------------------------------------------------------------------- validation
def check_name(name: str) -> str:
    """Return a valid user name (2-64 chars: lowercase letters, digits, '.', '_', '-') or raise."""
    if not isinstance(name, str) or not USER_NAME.match(name):
        raise BadInputError("a user name is 2-64 lowercase letters, digits, '.', '_' or '-', starting with a letter")
    return name


def check_role(role: str) -> str:
    """Return a known role or raise BadInputError."""
    if role not in ROLES:
        raise BadInputError(f"unknown role (use one of {', '.join(ROLES)})")
    return role


def check_sites(sites: Iterable[str], known: Iterable[str] | None) -> list[str]:
    """Return a sorted, de-duplicated site list; with ``known`` every site must be in it.

    An empty list means every site (a ministry-level user).
    """
    result = sorted(set(sites))
    allowed = set(known) if known is not None else None
    for site in result:
        if not isinstance(site, str) or not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", site):
            raise BadInputError("a site name is lowercase letters, digits and '-'")
        if allowed is not None and site not in allowed:
            raise BadInputError(f"unknown site {site!r}")
    return result


def check_text(value: str | None, limit: int, what: str) -> str | None:
    """Return free text without control characters and at most ``limit`` long (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or CONTROL_CHARS.search(value):
        raise BadInputError(f"{what} is text of at most {limit} characters without control characters")
    return value.strip() or None


def check_language(language: str | None) -> str | None:
    """Return a supported interface language (or None = from the browser) or raise."""
    if language in (None, ""):
        return None
    if language not in LANGUAGES:
        raise BadInputError(f"unknown language (use one of {', '.join(LANGUAGES)})")
    return language


# --------------------------------------------------------------------------- users
def get_user(session: Session, name: str) -> User | None:
    """Return the user of that name, or None."""
    return session.scalars(select(User).where(User.name == name)).first()


def require_user(session: Session, name: str) -> User:
    """Return the named user or raise BadInputError."""
    user = get_user(session, name)
    if user is None:
        raise BadInputError(f"no user named {name!r}")
    return user


def list_users(session: Session) -> list[User]:
    """Return every user ordered by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def create_user(
    session: Session,
    *,
    name: str,
    role: str,
    password: str,
    sites: Sequence[str] = (),
    known_sites: Iterable[str] | None = None,
    display_name: str | None = None,
    language: str | None = None,
) -> User:
    """Create a user after validating every field.

    Given the name, role, initial password, site scope (empty = all sites),
    the known site names to check against, a display name and language.
    Returns the flushed User. Raises BadInputError for an invalid field or a
    name already taken.
    """
    check_name(name)
    check_role(role)
    check_new_password(password)
    site_list = check_sites(sites, known_sites)
    display = check_text(display_name, MAX_DISPLAY_NAME, "a display name")
    lang = check_language(language)
    if get_user(session, name) is not None:
        raise BadInputError(f"user {name!r} already exists")
    now = utcnow()
    user = User(
        name=name,
        role=role,
        sites=site_list,
        password_hash=hash_password(password),
        display_name=display,
        language=lang,
        totp_enabled=False,
        disabled=False,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, new_password: str) -> int:
    """Replace a user's password (validated); every older session becomes invalid, every API token is revoked.

    A token is as good as the password it was made under: whoever changes a
    password because it leaked must not leave the thief's tokens working.
    Returns how many tokens were revoked (callers tell the user).
    """
    check_new_password(new_password)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    revoked = revoke_all_tokens(session, user)
    session.flush()
    return revoked


def change_password(session: Session, user: User, old_password: str, new_password: str) -> int:
    """Change a password when the old one is right; return how many API tokens that revoked.

    Raises AuthError for a wrong old password, BadInputError for a weak new one.
    """
    if not verify_password(old_password, user.password_hash):
        raise AuthError("the current password is wrong")
    if old_password == new_password:
        raise BadInputError("the new password must differ from the current one")
    return set_password(session, user, new_password)


def active_admins(session: Session) -> list[User]:
    """Return enabled admins with every-site scope (the ones who can manage everyone)."""
    rows = session.scalars(select(User).where(User.role == "admin", User.disabled.is_(False)))
    return [user for user in rows if not user.sites]


def user_summary(user: User) -> dict[str, Any]:
    """Return a user as JSON-safe data without any secret material."""
    return {
        "name": user.name,
        "display_name": user.display_name,
        "role": user.role,
        "sites": list(user.sites or []),
        "language": user.language,
        "totp_enabled": bool(user.totp_enabled),
        "disabled": bool(user.disabled),
        "created_at": user.created_at.isoformat() if user.created_at else None,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


# --------------------------------------------------------------------------- API tokens
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


# --------------------------------------------------------------------------- throttling
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


# --------------------------------------------------------------------------- login
@dataclass(frozen=True)
class LoginResult:
    """The outcome of a password check: ok, failed or locked (and what got locked now)."""

    outcome: str
    user_id: int | None = None
    locked_until: dt.datetime | None = None
    newly_locked: tuple[str, ...] = ()


def check_login(session: Session, name: str, password: str, client: str, now: dt.datetime | None = None) -> LoginResult:
    """Check a login attempt against the throttle and the password.

    Given the submitted name and password and the client address. A locked
    name or address is refused before the password is looked at; an unknown
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


# --------------------------------------------------------------------------- TOTP (controlplane.totp)
_TOTP_NAMES = frozenset(
    {
        "totp_secret_name",
        "start_totp_enrolment",
        "pending_totp",
        "confirm_totp_enrolment",
        "reenrolment_open",
        "begin_totp_reenrolment",
        "disable_totp",
        "verify_totp",
        "reset_totp",
    }
)


def __getattr__(name: str) -> Any:
    """``users.verify_totp`` and the other TOTP functions, which live in :mod:`controlplane.totp`.

    Resolved on first use, so the two modules can import each other's names
    without an import cycle.
    """
    if name in _TOTP_NAMES:
        from controlplane import totp

        return getattr(totp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
