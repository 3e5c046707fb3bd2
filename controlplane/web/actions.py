"""The actions the console and the API both perform, in one place each.

Each action checks the site scope, changes the store in one transaction,
and writes its audit record after that transaction committed (the audit log
takes its own write lock; on SQLite two writers would wait on each other).
Failures are raised as ApiError with a stable code: the API returns them as
JSON, the pages show them as a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app

from controlplane import users
from controlplane.errors import BadInputError
from controlplane.runs import create_run, request_cancel
from controlplane.simulated_ping import MAX_ACTIVE, SimulatedPing
from controlplane.store.models import Run, RunStatus, User
from controlplane.users import sessions
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event, current_user
from controlplane.web.policy import current_scope, require_site, require_user_scope
from controlplane.web.services.dispatching import dispatch
from controlplane.web.state import state
from controlplane.web.validation import RUN_KINDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def runner() -> SimulatedPing:
    """The app's simulated-ping executor (what a harmless run runs)."""
    return current_app.extensions["egov.runner"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- runs
def get_run(run_id: int) -> Run:
    """Return a run the current user may see; 404 when missing, 403 when out of scope."""
    with state().store.session() as db:
        run = db.get(Run, run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no run {run_id}")
    require_site(run.site)
    return run


def start_harmless_run(kind: str, host_name: str, trigger: str) -> Run:
    """Create a harmless run against an inventory host and start it in the background.

    Raises ApiError 400 (unknown kind), 404 (unknown host), 403 (host out of
    scope), 429 (too many runs executing).
    """
    # The scope is checked first, so no answer tells an outsider more than "not yours".
    try:
        host = state().inventory.host(host_name)
    except BadInputError:
        raise ApiError(404, "unknown_host", "no such host in the inventory") from None
    require_site(host.site)
    if kind not in RUN_KINDS:
        raise ApiError(400, "invalid", f"kind must be one of {', '.join(RUN_KINDS)}")
    executor = runner()
    if executor.active_count() >= MAX_ACTIVE:
        raise ApiError(429, "too_many_runs", "too many runs are executing; try again shortly")
    user = current_user()
    with state().store.session() as db:
        run = create_run(
            db,
            kind=kind,
            target=host.name,
            actor=user.name,
            trigger=trigger,
            site=host.site,
            params={"host": host.name, "simulated": True},
            start=False,
        )
    audit_event("run.create", f"run:{run.id}", kind=kind, host=host.name, site=host.site)
    try:
        dispatch(run.id)
    except ApiError as error:
        raise ApiError(429, "too_many_runs", "too many runs are executing; try again shortly") from error
    return run


def cancel_run(run_id: int) -> Run:
    """Ask an active run to stop; 409 when it is already final."""
    run = get_run(run_id)
    if run.status not in RunStatus.ACTIVE:
        raise ApiError(409, "run_final", f"run {run_id} is already {run.status}")
    with state().store.session() as db:
        try:
            run = request_cancel(db, run_id)
        except BadInputError:
            raise ApiError(409, "run_final", f"run {run_id} is already final") from None
    audit_event("run.cancel", f"run:{run_id}", kind=run.kind, site=run.site)
    return run


# --------------------------------------------------------------------------- users (admin)
def visible_users() -> list[User]:
    """Return the users whose whole scope lies within the current admin's scope."""
    scope = current_scope()
    with state().store.session() as db:
        return [user for user in users.list_users(db) if scope.covers(user.sites or [])]


def get_user(name: str) -> User:
    """Return a user the current admin may manage; 404 when missing, 403 when out of scope."""
    if not isinstance(name, str) or not users.USER_NAME.match(name):
        raise ApiError(404, "not_found", "no such user")
    with state().store.session() as db:
        user = users.get_user(db, name)
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    require_user_scope(user.sites or [])
    return user


def create_user(data: dict[str, Any]) -> User:
    """Create a user from validated data (name, role, password, sites, display_name, language)."""
    sites = list(data.get("sites") or [])
    require_user_scope(sites)
    with state().store.session() as db:
        user = users.create_user(
            db,
            name=data["name"],
            role=data["role"],
            password=data["password"],
            sites=sites,
            known_sites=state().inventory.sites.keys(),
            display_name=data.get("display_name"),
            language=data.get("language"),
        )
    audit_event("user.create", user.name, role=user.role, sites=list(user.sites))
    return user


def _keeps_an_admin(db: Session, target: User, role: str, sites: list[str], disabled: bool) -> bool:
    """True unless the change leaves no enabled every-site admin."""
    remaining = [u for u in users.active_admins(db) if u.id != target.id]
    stays_admin = role == "admin" and not sites and not disabled
    return bool(remaining) or stays_admin


def update_user(name: str, changes: dict[str, Any]) -> User:
    """Change a user's role, sites, display name, language or disabled flag (audited per change).

    Refuses (409) a change to oneself that would lock oneself out, and any
    change that leaves no enabled every-site admin.
    """
    target = get_user(name)
    me = current_user()
    new_role = changes.get("role", target.role)
    new_sites = list(changes["sites"]) if "sites" in changes else list(target.sites or [])
    new_disabled = bool(changes.get("disabled", target.disabled))
    require_user_scope(new_sites)
    if target.id == me.id and (new_disabled or new_role != target.role or new_sites != list(target.sites or [])):
        raise ApiError(409, "self_change", "you cannot change your own role, sites or account state")
    with state().store.session() as db:
        user = db.get(User, target.id)
        assert user is not None  # noqa: S101 - loaded just above
        if not _keeps_an_admin(db, user, new_role, new_sites, new_disabled):
            raise ApiError(409, "last_admin", "this would leave no enabled ministry-level admin")
        before = {"role": user.role, "sites": list(user.sites or []), "disabled": bool(user.disabled)}
        if "role" in changes:
            user.role = users.check_role(new_role)
        if "sites" in changes:
            user.sites = users.check_sites(new_sites, state().inventory.sites.keys())
        if "display_name" in changes:
            user.display_name = users.check_text(changes["display_name"], users.MAX_DISPLAY_NAME, "a display name")
        if "language" in changes:
            user.language = users.check_language(changes["language"])
        if "disabled" in changes:
            user.disabled = new_disabled
            if new_disabled:
                users.revoke_all_tokens(db, user)
                sessions.end_all(db, user.id)
        after = {"role": user.role, "sites": list(user.sites or []), "disabled": bool(user.disabled)}
    if before["role"] != after["role"] or before["sites"] != after["sites"]:
        audit_event("user.role", name, old=before, new=after)
    if before["disabled"] != after["disabled"]:
        audit_event("user.disable" if after["disabled"] else "user.enable", name)
    if "display_name" in changes or "language" in changes:
        audit_event("user.update", name, fields=sorted(k for k in changes if k in ("display_name", "language")))
    return user


def end_user_sessions(name: str) -> int:
    """End every console session of a user (audited); return how many were live."""
    target = get_user(name)
    with state().store.session() as db:
        count = sessions.end_all(db, target.id)
    audit_event("user.sessions_end", name, sessions=count)
    return count


def reset_user_totp(name: str) -> User:
    """Remove a user's TOTP secret so they enrol again (audited)."""
    target = get_user(name)
    vault = state().vault
    with state().store.session() as db:
        user = db.get(User, target.id)
        assert user is not None  # noqa: S101 - loaded just above
        users.reset_totp(db, vault, user)
    audit_event("user.totp_reset", name)
    return user


# --------------------------------------------------------------------------- own account
def change_own_password(old: str, new: str) -> User:
    """Change the current user's password (audited); wrong current passwords count as login failures.

    Raises ApiError 429 while the name or address is locked, 403
    ``wrong_password`` for a wrong current password, BadInputError for a weak
    new one.
    """
    from controlplane.web.helpers import client_address

    me = current_user()
    client = client_address()
    with state().store.session() as db:
        locked = users.locked_until(db, users.throttle_keys(me.name, client))
    if locked is not None:
        audit_event("user.password", me.name, outcome="locked")
        raise ApiError(429, "locked", "too many failed attempts; try again later")
    try:
        with state().store.session() as db:
            user = db.get(User, me.id)
            assert user is not None  # noqa: S101 - the session hook loaded this user
            users.change_password(db, user, old, new)
    except users.AuthError:
        with state().store.session() as db:
            result = users.password_check_failed(db, me.name, client)
        audit_event("user.password", me.name, outcome="failed")
        for key in result.newly_locked:
            audit_event("auth.lockout", key, outcome="locked")
        raise ApiError(403, "wrong_password", "the current password is wrong") from None
    audit_event("user.password", me.name)
    return user
