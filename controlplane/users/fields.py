"""What a user record may hold: names, roles, site scopes, display names and languages, each checked.

Every check returns the accepted value or raises BadInputError with a
message the CLI and the console show as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from controlplane.errors import BadInputError
from controlplane.users.passwords import CONTROL_CHARS

ROLES: tuple[str, ...] = ("admin", "operator", "oncall", "security_officer", "auditor")
LANGUAGES: tuple[str, ...] = ("en", "zh_CN")
USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
MAX_DISPLAY_NAME = 128


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
