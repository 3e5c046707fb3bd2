"""The OpenAPI 3.1 document of ``/api/v1``, written by hand.

Request bodies reuse the validation schemas (:data:`controlplane.web.validation.SCHEMAS`),
so the document and the checks cannot drift. A unit test compares the paths
and methods here with the app's URL map.
"""

from __future__ import annotations

from typing import Any

from controlplane.store.models import RunStatus
from controlplane.users import LANGUAGES, ROLES
from controlplane.web.validation import SCHEMAS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "invalid input",
        401: "not authenticated",
        403: "not allowed (role or site scope)",
        404: "not found",
        409: "conflicts with the current state",
        413: "body too large",
        415: "body is not JSON",
        429: "too many requests",
    }
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes if code in texts}


READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415)


def _op(
    summary: str,
    response: dict[str, Any],
    *,
    status: int = 200,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = READ_ERRORS,
    tag: str,
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {str(status): _json(response, "success"), **_errors(*errors)},
    }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if params:
        operation["parameters"] = params
    if public:
        operation["security"] = []
    return operation


def _path_param(name: str, kind: str = "string") -> dict[str, Any]:
    integer = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}  # larger ids are no row (404)
    schema: dict[str, Any] = integer if kind == "integer" else {"type": "string"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": _ref(name)}}}


NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

COMPONENT_SCHEMAS: dict[str, Any] = {
    "BackupRunRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"action": {"enum": ["backup", "drill"]}},
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Site": {
        "type": "object",
        "required": ["name", "level"],
        "properties": {
            "name": {"type": "string"},
            "level": {"type": "string"},
            "parent": {"type": ["string", "null"]},
            "title_zh": {"type": ["string", "null"]},
        },
    },
    "Run": {
        "type": "object",
        "required": ["id", "kind", "target", "status", "actor", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "target": {"type": "string"},
            "site": {"type": ["string", "null"]},
            "actor": {"type": "string"},
            "trigger": {"type": "string"},
            "status": {"enum": list(RunStatus.ALL)},
            "dry_run": {"type": "boolean"},
            "params": {"type": "object"},
            "summary": {"type": "object"},
            "exit_code": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
            "duration_seconds": {"type": ["number", "null"]},
            "output_lines": {"type": "integer"},
            "cancel_requested": {"type": "boolean"},
        },
    },
    "Host": {
        "type": "object",
        "required": ["name", "address", "site", "role", "groups"],
        "properties": {
            "name": {"type": "string"},
            "address": {"type": "string"},
            "site": {"type": "string"},
            "role": {"type": "string"},
            "groups": {"type": "array", "items": {"type": "string"}},
            "last_run": {"oneOf": [_ref("Run"), {"type": "null"}]},
        },
    },
    "HostDetail": {
        "allOf": [
            _ref("Host"),
            {"type": "object", "properties": {"runs": {"type": "array", "items": _ref("Run")}}},
        ]
    },
    "RunPage": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref("Run")},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        },
    },
    "RunOutput": {
        "type": "object",
        "required": ["run_id", "status", "final", "lines", "next_after"],
        "properties": {
            "run_id": {"type": "integer"},
            "status": {"type": "string"},
            "final": {"type": "boolean"},
            "next_after": {"type": "integer"},
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "seq": {"type": "integer"},
                        "stream": {"type": "string"},
                        "text": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    "Dashboard": {
        "type": "object",
        "required": ["sites", "counts"],
        "properties": {
            "sites": {
                "type": "array",
                "items": {
                    "allOf": [
                        _ref("Site"),
                        {"type": "object", "properties": {"hosts": {"type": "array", "items": _ref("Host")}}},
                    ]
                },
            },
            "counts": {
                "type": "object",
                "properties": {
                    "running": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
        },
    },
    "AuditRecord": {
        "type": "object",
        "required": ["seq", "at", "actor", "action", "target", "outcome", "client", "hash"],
        "properties": {
            "seq": {"type": "integer"},
            "at": {"type": "string"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "target": {"type": "string"},
            "outcome": {"type": "string"},
            "client": {"type": "string"},
            "details": {"type": "object"},
            "hash": {"type": "string"},
        },
    },
    "AuditVerification": {
        "type": "object",
        "required": ["ok", "count", "head"],
        "properties": {
            "ok": {"type": "boolean"},
            "count": {"type": "integer"},
            "head": {"type": "string"},
            "bad_seq": {"type": ["integer", "null"]},
            "reason": {"type": "string"},
        },
    },
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
    "Me": {
        "allOf": [
            _ref("User"),
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
            _ref("Token"),
            {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}},
        ]
    },
    "TotpEnrolment": {
        "type": "object",
        "required": ["secret", "otpauth_uri"],
        "properties": {"secret": {"type": "string"}, "otpauth_uri": {"type": "string"}},
    },
    **SCHEMAS,
}


def _paths() -> dict[str, Any]:
    run_id = [_path_param("run_id", "integer")]
    user_name = [_path_param("name")]
    return {
        "/api/v1/openapi.json": {"get": _op("This document", {"type": "object"}, tag="meta", public=True, errors=())},
        "/api/v1/me": {
            "get": _op("The caller's account", _ref("Me"), tag="me", errors=(401,)),
            "patch": _op(
                "Change display name or language", _ref("User"), body="MeUpdate", tag="me", errors=WRITE_ERRORS
            ),
        },
        "/api/v1/me/password": {
            "post": _op(
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
        "/api/v1/me/totp": {"post": _totp_start()},
        "/api/v1/me/totp/confirm": {
            "post": _op("Confirm TOTP enrolment", _ref("User"), body="TotpCode", tag="me", errors=WRITE_ERRORS)
        },
        "/api/v1/me/totp/disable": {
            "post": _op(
                "Turn TOTP off (not admins): needs the password and a current code, throttled like logins",
                _ref("User"),
                body="TotpChange",
                tag="me",
                errors=(*WRITE_ERRORS, 429),
            )
        },
        "/api/v1/tokens": {
            "get": _op("The caller's API tokens", _list_of("Token"), tag="me"),
            "post": _op(
                "Create an API token (returned once)",
                _ref("TokenCreated"),
                status=201,
                body="TokenCreate",
                tag="me",
                errors=WRITE_ERRORS,
            ),
        },
        "/api/v1/tokens/{token_id}": {
            "delete": _op(
                "Revoke an API token",
                _ref("Token"),
                params=[_path_param("token_id", "integer")],
                tag="me",
            )
        },
        "/api/v1/dashboard": {"get": _op("Sites, hosts and their latest runs", _ref("Dashboard"), tag="inventory")},
        "/api/v1/sites": {"get": _op("Sites in the caller's scope", _list_of("Site"), tag="inventory")},
        "/api/v1/hosts": {"get": _op("Hosts in the caller's scope", _list_of("Host"), tag="inventory")},
        "/api/v1/hosts/{name}": {
            "get": _op("One host and its runs", _ref("HostDetail"), params=[_path_param("name")], tag="inventory")
        },
        "/api/v1/runs": {
            "get": _op(
                "Runs, newest first",
                _ref("RunPage"),
                params=[
                    _query("status", {"enum": list(RunStatus.ALL)}, "only runs in this status"),
                    _query("kind", {"type": "string", "pattern": "^[a-z0-9_-]{1,32}$"}, "only runs of this kind"),
                    _query("page", {"type": "integer", "minimum": 1}, "page number"),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}, "runs per page"),
                ],
                tag="runs",
            ),
            "post": _op(
                "Start a harmless run (simulated ping, no network traffic)",
                _ref("Run"),
                status=201,
                body="RunCreate",
                tag="runs",
                errors=(*WRITE_ERRORS, 429),
            ),
        },
        "/api/v1/runs/{run_id}": {"get": _op("One run", _ref("Run"), params=run_id, tag="runs")},
        "/api/v1/runs/{run_id}/output": {
            "get": _op(
                "Output lines after a sequence number",
                _ref("RunOutput"),
                params=[
                    *run_id,
                    _query("after", {"type": "integer", "minimum": 0}, "last seq already read"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 5000}, "most lines to return"),
                ],
                tag="runs",
            )
        },
        "/api/v1/runs/{run_id}/cancel": {
            "post": _op("Ask a run to stop", _ref("Run"), status=202, params=run_id, tag="runs", errors=WRITE_ERRORS)
        },
        "/api/v1/audit": {
            "get": _op(
                "Audit records, newest first",
                _list_of("AuditRecord"),
                params=[
                    _query("before", {"type": "integer", "minimum": 0}, "only records before this seq"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "most records"),
                    _query("actor", {"type": "string"}, "only this actor"),
                    _query("action", {"type": "string"}, "only actions starting with this"),
                ],
                tag="audit",
            )
        },
        "/api/v1/audit/verify": {"get": _op("Verify the hash chain", _ref("AuditVerification"), tag="audit")},
        "/api/v1/users": {
            "get": _op("Users this admin manages", _list_of("User"), tag="users"),
            "post": _op("Create a user", _ref("User"), status=201, body="UserCreate", tag="users", errors=WRITE_ERRORS),
        },
        "/api/v1/users/{name}": {
            "get": _op("One user", _ref("User"), params=user_name, tag="users"),
            "patch": _op(
                "Change role, sites, name, language or disabled",
                _ref("User"),
                body="UserUpdate",
                params=user_name,
                tag="users",
                errors=WRITE_ERRORS,
            ),
            "delete": _op(
                "Disable a user (never deleted)", _ref("User"), params=user_name, tag="users", errors=WRITE_ERRORS
            ),
        },
        "/api/v1/me/sessions": {
            "get": _op("The caller's live console login sessions", _list_of("LoginSession"), tag="me")
        },
        "/api/v1/me/sessions/end": {
            "post": _op(
                "End the caller's console sessions (all but the calling one)",
                _ref("SessionsEnded"),
                tag="me",
                errors=WRITE_ERRORS,
            )
        },
        "/api/v1/users/{name}/sessions/end": {
            "post": _op(
                "End every console session of a user",
                _ref("SessionsEnded"),
                params=user_name,
                tag="users",
                errors=WRITE_ERRORS,
            )
        },
        "/api/v1/users/{name}/totp-reset": {
            "post": _op("Reset a user's TOTP", _ref("User"), params=user_name, tag="users", errors=WRITE_ERRORS)
        },
        **_compliance_paths(),
        **_backup_paths(),
        **_alerts_paths(),
        **_runbooks_paths(),
        **_automation_paths(),
    }


def _automation_paths() -> dict[str, Any]:
    from controlplane.web.api.automation import openapi_paths

    return openapi_paths()


def _backup_paths() -> dict[str, Any]:
    from controlplane.web.api.backup import openapi_paths

    return openapi_paths()


def _alerts_paths() -> dict[str, Any]:
    from controlplane.web.api.alerts import openapi_paths

    return openapi_paths()


def _runbooks_paths() -> dict[str, Any]:
    from controlplane.web.api.runbooks import openapi_paths

    return openapi_paths()


def _feature_schemas() -> dict[str, Any]:
    """Request schemas the feature APIs (alerts, runbooks) declare next to their routes."""
    from controlplane.web.api.alerts import SCHEMAS as ALERT_SCHEMAS
    from controlplane.web.api.automation import SCHEMAS as AUTOMATION_SCHEMAS
    from controlplane.web.api.me import SCHEMAS as ME_SCHEMAS
    from controlplane.web.api.runbooks import SCHEMAS as RUNBOOK_SCHEMAS

    return {**ALERT_SCHEMAS, **RUNBOOK_SCHEMAS, **AUTOMATION_SCHEMAS, **ME_SCHEMAS}


def _totp_start() -> dict[str, Any]:
    """``POST /me/totp``: enrol without a body; while TOTP is on, re-enrol with the password and a current code."""
    operation = _op(
        "Begin TOTP enrolment, or re-enrolment while TOTP is on (then send the password and a current code)",
        _ref("TotpEnrolment"),
        body="TotpChange",
        tag="me",
        errors=(400, 401, 403, 409, 413, 415, 429),
    )
    operation["requestBody"]["required"] = False
    return operation


def _compliance_paths() -> dict[str, Any]:
    from controlplane.web.api.compliance import openapi_paths

    return openapi_paths()


def document() -> dict[str, Any]:
    """Return the OpenAPI document as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "EduGov control plane API",
            "version": "1",
            "description": (
                "Authenticate with `Authorization: Bearer egov_<prefix>_<secret>` (create tokens in the console "
                'profile or POST /api/v1/tokens). Every error is {"error": {"code", "message"}}. Request '
                "bodies are JSON only (415 otherwise), at most 64 KiB (413), and unknown fields are refused (400)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**COMPONENT_SCHEMAS, **_feature_schemas()},
            "responses": {
                f"E{code}": _json(_ref("Error"), text)
                for code, text in {
                    400: "invalid input",
                    401: "not authenticated",
                    403: "not allowed (role or site scope)",
                    404: "not found",
                    409: "conflicts with the current state",
                    413: "body too large",
                    415: "body is not JSON",
                    429: "too many requests",
                }.items()
            },
        },
    }
