"""Console user accounts: create, look up, change passwords, list the admins who can manage everyone.

A password change revokes every API token of the account (:mod:`.tokens`):
whoever changes a password because it leaked must not leave the thief's
tokens working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError
from controlplane.store.models import User, utcnow
from controlplane.users.fields import (
    MAX_DISPLAY_NAME,
    check_language,
    check_name,
    check_role,
    check_sites,
    check_text,
)
from controlplane.users.passwords import AuthError, check_new_password, hash_password, verify_password
from controlplane.users.tokens import revoke_all_tokens


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
    """Create a user after validating every field; return the flushed User.

    ``sites`` empty means every site; ``known_sites``, when given, is what
    each site must be one of. Raises BadInputError for an invalid field or a
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
