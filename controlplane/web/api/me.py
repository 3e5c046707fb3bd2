"""API: the caller's own account: profile, password, TOTP, API tokens.

While TOTP is on, ``POST /me/totp`` (re-enrol) and ``POST /me/totp/disable``
need ``{"password", "code"}``; wrong attempts count like failed logins (403
``wrong_password_or_code``, 429 ``locked`` once the name or address is
locked). A password change revokes the caller's API tokens (the calling one
too) and answers how many.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import g, jsonify, request

from controlplane import users
from controlplane.errors import BadInputError
from controlplane.store.models import User
from controlplane.users import sessions
from controlplane.web import actions
from controlplane.web.api import bp
from controlplane.web.api.docs import (
    NULLABLE_TIME,
    WRITE_ERRORS,
    list_of,
    operation,
    optional_body,
    path_param,
    ref,
)
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event, client_address
from controlplane.web.policy import ENROLMENT, requires
from controlplane.web.security import current_session_key
from controlplane.web.state import state
from controlplane.web.validation import PASSWORD, json_body, validate
from controlplane.web.validation import SCHEMAS as SHARED_SCHEMAS

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from sqlalchemy.orm import Session

# Request bodies only this module validates (documented through OPENAPI_SCHEMAS below).
SCHEMAS: dict[str, dict[str, Any]] = {
    "TotpChange": {
        "type": "object",
        "additionalProperties": False,
        "required": ["password", "code"],
        "properties": {"password": PASSWORD, "code": {"type": "string", "pattern": r"^[0-9]{6}$"}},
    },
}


def _body(schema: str) -> dict[str, Any]:
    """The JSON body checked against one of this module's SCHEMAS."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    validate(data, SCHEMAS[schema])
    return data  # type: ignore[no-any-return]


def _identity_refused(result: users.LoginResult, action: str, name: str) -> ApiError:
    """Audit a refused password-and-code check; the error to raise (403 wrong, 429 locked)."""
    if result.outcome == "locked":
        audit_event(action, name, outcome="locked")
        return ApiError(429, "locked", "too many failed attempts; try again later")
    audit_event(action, name, outcome="failed")
    for key in result.newly_locked:
        audit_event("auth.lockout", key, outcome="locked", actor=name)
    if result.newly_locked:
        return ApiError(429, "locked", "too many failed attempts; try again later")
    return ApiError(403, "wrong_password_or_code", "the password or the code is wrong")


def _me(db: Session) -> User:
    user = db.get(User, g.egov_user.id)
    if user is None:  # deleted under our feet
        raise ApiError(401, "unauthorized", "authentication required")
    return user  # type: ignore[no-any-return]


@bp.get("/me")
@requires(ENROLMENT)
def me() -> ResponseReturnValue:
    """Return the caller's account, role, sites and how they authenticated."""
    with state().store.session() as db:
        data = users.user_summary(_me(db))
    scope = g.get("egov_scope")
    data["auth"] = g.egov_auth
    data["totp_enrolment_required"] = g.egov_stage == "enrol"
    data["visible_sites"] = None if scope is None or scope.all_sites else sorted(scope.sites)
    return jsonify(data)


@bp.patch("/me")
@requires("self.profile")
def me_update() -> ResponseReturnValue:
    """Change the caller's display name or language."""
    body = json_body("MeUpdate")
    with state().store.session() as db:
        user = _me(db)
        if "display_name" in body:
            user.display_name = users.check_text(body["display_name"], users.MAX_DISPLAY_NAME, "display_name")
        if "language" in body:
            user.language = users.check_language(body["language"])
        data = users.user_summary(user)
    audit_event("user.update", user.name, fields=sorted(body))
    return jsonify(data)


@bp.post("/me/password")
@requires("self.profile")
def me_password() -> ResponseReturnValue:
    """Change the caller's password (needs the current one)."""
    body = json_body("PasswordChange")
    with state().store.session() as db:
        live = sum(1 for row in users.list_tokens(db, _me(db)) if users.token_is_live(row))
    user = actions.change_own_password(body["old_password"], body["new_password"])
    if g.egov_auth == "session":
        from controlplane.web.security import start_session

        start_session(user, "full")
    # Every token made under the old password is revoked, the one of this call included.
    return jsonify({"changed": True, "tokens_revoked": live})


@bp.post("/me/totp")
@requires(ENROLMENT)
def me_totp_start() -> ResponseReturnValue:
    """Begin TOTP enrolment: returns the secret and otpauth URI once (confirm with a code).

    While TOTP is on this re-enrols, and needs ``{"password", "code"}`` (409
    ``totp_enabled`` without a body).
    """
    with state().store.session() as db:
        user = _me(db)
    if not user.totp_enabled:
        secret, uri = users.start_totp_enrolment(state().vault, user)
        return jsonify({"secret": secret, "otpauth_uri": uri})
    if not request.content_length:
        raise ApiError(409, "totp_enabled", "TOTP is on: re-enrol with the password and a current code")
    body = _body("TotpChange")
    with state().store.session() as db:
        result, pending = users.begin_totp_reenrolment(
            db, state().vault, _me(db), body["password"], body["code"], client_address()
        )
    if pending is None:
        raise _identity_refused(result, "user.totp_reenrol", user.name)
    audit_event("user.totp_reenrol", user.name, outcome="started")
    return jsonify({"secret": pending[0], "otpauth_uri": pending[1]})


@bp.post("/me/totp/confirm")
@requires(ENROLMENT)
def me_totp_confirm() -> ResponseReturnValue:
    """Finish TOTP enrolment with a current code."""
    body = json_body("TotpCode")
    vault = state().vault
    action = "user.totp_reenrol" if g.egov_user.totp_enabled else "user.totp_enrol"
    try:
        with state().store.session() as db:
            user = _me(db)
            users.confirm_totp_enrolment(db, vault, user, body["code"])
    except users.AuthError:
        audit_event(action, g.egov_user.name, outcome="failed")
        raise ApiError(400, "wrong_code", "the code is wrong") from None
    except BadInputError:
        raise ApiError(409, "no_enrolment", "no TOTP enrolment (or opened re-enrolment) is in progress") from None
    audit_event(action, user.name)
    return jsonify(users.user_summary(user))


@bp.post("/me/totp/disable")
@requires("self.profile")
def me_totp_disable() -> ResponseReturnValue:
    """Turn TOTP off with the password and a current code (refused for admins; throttled like logins)."""
    with state().store.session() as db:
        if _me(db).role == "admin":  # whatever the body says: admins keep TOTP
            raise ApiError(409, "totp_required", "administrators must keep TOTP")
    body = _body("TotpChange")
    with state().store.session() as db:
        user = _me(db)
        result = users.disable_totp(db, state().vault, user, body["password"], body["code"], client_address())
    if result.outcome != "ok":
        raise _identity_refused(result, "user.totp_disable", user.name)
    audit_event("user.totp_disable", user.name)
    return jsonify(users.user_summary(user))


@bp.get("/tokens")
@requires("self.tokens")
def tokens() -> ResponseReturnValue:
    """Return the caller's API tokens (never the token values)."""
    with state().store.session() as db:
        rows = users.list_tokens(db, _me(db))
        return jsonify({"items": [users.token_summary(row) for row in rows]})


@bp.post("/tokens")
@requires("self.tokens")
def token_create() -> ResponseReturnValue:
    """Create an API token; the response holds the token, shown this once."""
    body = json_body("TokenCreate")
    config = state().config
    with state().store.session() as db:
        row, clear = users.create_token(
            db, _me(db), body["name"], body.get("expires_days"), default_days=config.token_default_days,
            max_days=config.token_max_days,
        )  # fmt: skip
        data = users.token_summary(row)
    audit_event("token.create", f"token:{row.id}", name=row.name, prefix=row.prefix)
    response = jsonify({**data, "token": clear})
    response.status_code = 201
    return response


@bp.delete("/tokens/<int:token_id>")
@requires("self.tokens")
def token_revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one of the caller's tokens."""
    try:
        with state().store.session() as db:
            row = users.revoke_token(db, _me(db), token_id)
            data = users.token_summary(row)
    except BadInputError:
        raise ApiError(404, "not_found", "no such token") from None
    audit_event("token.revoke", f"token:{token_id}", name=row.name)
    return jsonify(data)


@bp.get("/me/sessions")
@requires("self.profile")
def me_sessions() -> ResponseReturnValue:
    """The caller's live console login sessions (``current`` marks the calling one)."""
    key = current_session_key()
    with state().store.session() as db:
        rows = [sessions.summary(row, key) for row in sessions.live(db, g.egov_user.id)]
    return jsonify({"items": rows})


@bp.post("/me/sessions/end")
@requires("self.profile")
def me_sessions_end() -> ResponseReturnValue:
    """End the caller's console sessions except the calling one (a token caller ends them all)."""
    with state().store.session() as db:
        count = sessions.end_all(db, g.egov_user.id, keep=current_session_key())
    audit_event("session.end_others", g.egov_user.name, sessions=count)
    return jsonify({"ended": count})


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    **SCHEMAS,
    **{name: SHARED_SCHEMAS[name] for name in ("MeUpdate", "PasswordChange", "TokenCreate", "TotpCode")},
    "Me": {
        "allOf": [
            ref("User"),
            {
                "type": "object",
                "properties": {
                    "auth": {"enum": ["session", "token"]},
                    "totp_enrolment_required": {"type": "boolean"},
                    "visible_sites": {"type": ["array", "null"], "items": {"type": "string"}},
                },
            },
        ]
    },
    "LoginSession": {
        "type": "object",
        "required": ["id", "created_at", "last_seen_at", "address", "user_agent", "current"],
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "last_seen_at": {"type": "string", "format": "date-time"},
            "address": {"type": "string"},
            "user_agent": {"type": "string"},
            "current": {"type": "boolean"},
        },
    },
    "SessionsEnded": {
        "type": "object",
        "required": ["ended"],
        "properties": {"ended": {"type": "integer", "minimum": 0}},
    },
    "Token": {
        "type": "object",
        "required": ["id", "name", "prefix", "revoked"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "created_at": NULLABLE_TIME,
            "last_used_at": NULLABLE_TIME,
            "expires_at": NULLABLE_TIME,
            "revoked": {"type": "boolean"},
        },
    },
    "TokenCreated": {
        "allOf": [
            ref("Token"),
            {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}},
        ]
    },
    "TotpEnrolment": {
        "type": "object",
        "required": ["secret", "otpauth_uri"],
        "properties": {"secret": {"type": "string"}, "otpauth_uri": {"type": "string"}},
    },
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of this module: the caller's account, password, TOTP, tokens and sessions."""
    return {
        "/api/v1/me": {
            "get": operation("The caller's account", ref("Me"), tag="me", errors=(401,)),
            "patch": operation(
                "Change display name or language", ref("User"), body="MeUpdate", tag="me", errors=WRITE_ERRORS
            ),
        },
        "/api/v1/me/password": {
            "post": operation(
                "Change the caller's password (revokes every API token of the caller, this one included)",
                {
                    "type": "object",
                    "properties": {"changed": {"type": "boolean"}, "tokens_revoked": {"type": "integer"}},
                },
                body="PasswordChange",
                tag="me",
                # 429: wrong current passwords count as failed logins and lock the account for a while.
                errors=(*WRITE_ERRORS, 429),
            )
        },
        # Enrol without a body; while TOTP is on, re-enrol with the password and a current code.
        "/api/v1/me/totp": {
            "post": optional_body(
                operation(
                    "Begin TOTP enrolment, or re-enrolment while TOTP is on (then send the password and a current "
                    "code)",
                    ref("TotpEnrolment"),
                    body="TotpChange",
                    tag="me",
                    errors=(400, 401, 403, 409, 413, 415, 429),
                )
            )
        },
        "/api/v1/me/totp/confirm": {
            "post": operation("Confirm TOTP enrolment", ref("User"), body="TotpCode", tag="me", errors=WRITE_ERRORS)
        },
        "/api/v1/me/totp/disable": {
            "post": operation(
                "Turn TOTP off (not admins): needs the password and a current code, throttled like logins",
                ref("User"),
                body="TotpChange",
                tag="me",
                errors=(*WRITE_ERRORS, 429),
            )
        },
        "/api/v1/tokens": {
            "get": operation("The caller's API tokens", list_of("Token"), tag="me"),
            "post": operation(
                "Create an API token (returned once)",
                ref("TokenCreated"),
                status=201,
                body="TokenCreate",
                tag="me",
                errors=WRITE_ERRORS,
            ),
        },
        "/api/v1/tokens/{token_id}": {
            "delete": operation(
                "Revoke an API token",
                ref("Token"),
                params=[path_param("token_id", "integer")],
                tag="me",
            )
        },
        "/api/v1/me/sessions": {
            "get": operation("The caller's live console login sessions", list_of("LoginSession"), tag="me")
        },
        "/api/v1/me/sessions/end": {
            "post": operation(
                "End the caller's console sessions (all but the calling one)",
                ref("SessionsEnded"),
                tag="me",
                errors=WRITE_ERRORS,
            )
        },
    }
