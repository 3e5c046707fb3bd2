"""Console users: passwords, roles and site scopes, API tokens, login throttling, sessions, TOTP.

Everything here works on a SQLAlchemy session (and the vault for TOTP
secrets) so the CLI, the web console and tests share one implementation;
nothing imports Flask. One module per concern:

* :mod:`.passwords` — scrypt hashes, the new-password rules, AuthError;
* :mod:`.fields` — roles, languages and the checks of every user field;
* :mod:`.accounts` — create, look up, change passwords, the managing admins;
* :mod:`.tokens` — API tokens (only their SHA-256 is stored; all expire);
* :mod:`.throttle` — failures per name and per address, and the locks;
* :mod:`.login` — one login attempt decided against throttle and password;
* :mod:`.sessions` — console login sessions held in the store.

The names of the first six are importable from ``controlplane.users`` itself
(callers write ``users.check_login``); sessions are ``users.sessions``. TOTP
lives in :mod:`controlplane.totp` (its functions are reachable here too, as
``users.verify_totp`` and so on).
"""

from __future__ import annotations

from typing import Any

from controlplane.users.accounts import (
    active_admins,
    change_password,
    create_user,
    get_user,
    list_users,
    require_user,
    set_password,
    user_summary,
)
from controlplane.users.fields import (
    LANGUAGES,
    MAX_DISPLAY_NAME,
    ROLES,
    USER_NAME,
    check_language,
    check_name,
    check_role,
    check_sites,
    check_text,
)
from controlplane.users.login import (
    LoginResult,
    check_login,
    login_completed,
    password_check_failed,
    second_factor_failed,
)
from controlplane.users.passwords import (
    CONTROL_CHARS,
    MAX_PASSWORD,
    MIN_PASSWORD,
    SCRYPT_DKLEN,
    SCRYPT_MAX_N,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    AuthError,
    check_new_password,
    dummy_verify,
    hash_password,
    verify_password,
)
from controlplane.users.throttle import (
    ADDRESS_THROTTLE_LIMIT,
    THROTTLE_LIMIT,
    THROTTLE_LOCK,
    THROTTLE_WINDOW,
    ThrottleResult,
    locked_until,
    purge_throttle,
    record_failure,
    reset_throttle,
    throttle_keys,
)
from controlplane.users.tokens import (
    DEFAULT_TOKEN_DAYS,
    MAX_TOKEN_DAYS,
    TOKEN_FORMAT,
    TOKEN_NAME,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_all_tokens,
    revoke_token,
    token_hash,
    token_is_live,
    token_summary,
)

__all__ = [
    "ADDRESS_THROTTLE_LIMIT",
    "CONTROL_CHARS",
    "DEFAULT_TOKEN_DAYS",
    "LANGUAGES",
    "MAX_DISPLAY_NAME",
    "MAX_PASSWORD",
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD",
    "ROLES",
    "SCRYPT_DKLEN",
    "SCRYPT_MAX_N",
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "THROTTLE_LIMIT",
    "THROTTLE_LOCK",
    "THROTTLE_WINDOW",
    "TOKEN_FORMAT",
    "TOKEN_NAME",
    "USER_NAME",
    "AuthError",
    "LoginResult",
    "ThrottleResult",
    "active_admins",
    "authenticate_token",
    "change_password",
    "check_language",
    "check_login",
    "check_name",
    "check_new_password",
    "check_role",
    "check_sites",
    "check_text",
    "create_token",
    "create_user",
    "dummy_verify",
    "get_user",
    "hash_password",
    "list_tokens",
    "list_users",
    "locked_until",
    "login_completed",
    "password_check_failed",
    "purge_throttle",
    "record_failure",
    "require_user",
    "reset_throttle",
    "revoke_all_tokens",
    "revoke_token",
    "second_factor_failed",
    "set_password",
    "throttle_keys",
    "token_hash",
    "token_is_live",
    "token_summary",
    "user_summary",
    "verify_password",
]

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
