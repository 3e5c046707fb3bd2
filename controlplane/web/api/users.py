"""API: user administration (admin, within the admin's site scope)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import jsonify, url_for

from controlplane.users import LANGUAGES, ROLES, user_summary
from controlplane.web import actions
from controlplane.web.api import bp
from controlplane.web.api.docs import NULLABLE_TIME, WRITE_ERRORS, list_of, operation, path_param, ref
from controlplane.web.policy import requires
from controlplane.web.validation import SCHEMAS, json_body

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.get("/users")
@requires("users.manage", scoped=True)
def users_list() -> ResponseReturnValue:
    """Return the users this admin manages."""
    return jsonify({"items": [user_summary(user) for user in actions.visible_users()]})


@bp.post("/users")
@requires("users.manage", scoped=True)
def user_create() -> ResponseReturnValue:
    """Create a user (the password is never echoed back)."""
    user = actions.create_user(json_body("UserCreate"))
    response = jsonify(user_summary(user))
    response.status_code = 201
    response.headers["Location"] = url_for("api.user", name=user.name)
    return response


@bp.get("/users/<name>")
@requires("users.manage", scoped=True)
def user(name: str) -> ResponseReturnValue:
    """Return one user."""
    return jsonify(user_summary(actions.get_user(name)))


@bp.patch("/users/<name>")
@requires("users.manage", scoped=True)
def user_update(name: str) -> ResponseReturnValue:
    """Change role, sites, display name, language or the disabled flag."""
    return jsonify(user_summary(actions.update_user(name, json_body("UserUpdate"))))


@bp.delete("/users/<name>")
@requires("users.manage", scoped=True)
def user_delete(name: str) -> ResponseReturnValue:
    """Disable a user: accounts are never deleted, so the audit log keeps naming real users."""
    return jsonify(user_summary(actions.update_user(name, {"disabled": True})))


@bp.post("/users/<name>/totp-reset")
@requires("users.manage", scoped=True)
def user_totp_reset(name: str) -> ResponseReturnValue:
    """Remove the user's TOTP secret; they enrol again at their next login."""
    return jsonify(user_summary(actions.reset_user_totp(name)))


@bp.post("/users/<name>/sessions/end")
@requires("users.manage", scoped=True)
def user_sessions_end(name: str) -> ResponseReturnValue:
    """End every console session of the user (e.g. a laptop lost while logged in)."""
    return jsonify({"ended": actions.end_user_sessions(name)})


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "UserCreate": SCHEMAS["UserCreate"],
    "UserUpdate": SCHEMAS["UserUpdate"],
    "User": {
        "type": "object",
        "required": ["name", "role", "sites", "totp_enabled", "disabled"],
        "properties": {
            "name": {"type": "string"},
            "display_name": {"type": ["string", "null"]},
            "role": {"enum": list(ROLES)},
            "sites": {"type": "array", "items": {"type": "string"}},
            "language": {"enum": [*LANGUAGES, None]},
            "totp_enabled": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "created_at": NULLABLE_TIME,
            "last_login_at": NULLABLE_TIME,
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of this module: user administration."""
    user_name = [path_param("name")]
    return {
        "/api/v1/users": {
            "get": operation("Users this admin manages", list_of("User"), tag="users"),
            "post": operation(
                "Create a user", ref("User"), status=201, body="UserCreate", tag="users", errors=WRITE_ERRORS
            ),
        },
        "/api/v1/users/{name}": {
            "get": operation("One user", ref("User"), params=user_name, tag="users"),
            "patch": operation(
                "Change role, sites, name, language or disabled",
                ref("User"),
                body="UserUpdate",
                params=user_name,
                tag="users",
                errors=WRITE_ERRORS,
            ),
            "delete": operation(
                "Disable a user (never deleted)", ref("User"), params=user_name, tag="users", errors=WRITE_ERRORS
            ),
        },
        "/api/v1/users/{name}/sessions/end": {
            "post": operation(
                "End every console session of a user",
                ref("SessionsEnded"),
                params=user_name,
                tag="users",
                errors=WRITE_ERRORS,
            )
        },
        "/api/v1/users/{name}/totp-reset": {
            "post": operation("Reset a user's TOTP", ref("User"), params=user_name, tag="users", errors=WRITE_ERRORS)
        },
    }
