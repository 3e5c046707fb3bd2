"""API: user administration (admin, within the admin's site scope)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for

from controlplane.users import user_summary
from controlplane.web import actions
from controlplane.web.api import bp
from controlplane.web.policy import requires
from controlplane.web.validation import json_body


@bp.get("/users")
@requires("users.manage", scoped=True)
def users_list() -> Any:
    """Return the users this admin manages."""
    return jsonify({"items": [user_summary(user) for user in actions.visible_users()]})


@bp.post("/users")
@requires("users.manage", scoped=True)
def user_create() -> Any:
    """Create a user (the password is never echoed back)."""
    user = actions.create_user(json_body("UserCreate"))
    response = jsonify(user_summary(user))
    response.status_code = 201
    response.headers["Location"] = url_for("api.user", name=user.name)
    return response


@bp.get("/users/<name>")
@requires("users.manage", scoped=True)
def user(name: str) -> Any:
    """Return one user."""
    return jsonify(user_summary(actions.get_user(name)))


@bp.patch("/users/<name>")
@requires("users.manage", scoped=True)
def user_update(name: str) -> Any:
    """Change role, sites, display name, language or the disabled flag."""
    return jsonify(user_summary(actions.update_user(name, json_body("UserUpdate"))))


@bp.delete("/users/<name>")
@requires("users.manage", scoped=True)
def user_delete(name: str) -> Any:
    """Disable a user: accounts are never deleted, so the audit log keeps naming real users."""
    return jsonify(user_summary(actions.update_user(name, {"disabled": True})))


@bp.post("/users/<name>/totp-reset")
@requires("users.manage", scoped=True)
def user_totp_reset(name: str) -> Any:
    """Remove the user's TOTP secret; they enrol again at their next login."""
    return jsonify(user_summary(actions.reset_user_totp(name)))


@bp.post("/users/<name>/sessions/end")
@requires("users.manage", scoped=True)
def user_sessions_end(name: str) -> Any:
    """End every console session of the user (e.g. a laptop lost while logged in)."""
    return jsonify({"ended": actions.end_user_sessions(name)})
