"""The alerts JSON API (its own blueprint under ``/api/v1/alerts``), and the Alertmanager intake.

* ``GET /api/v1/alerts`` — alerts in the caller's scope (``?state=`` filter), firing first
* ``POST /api/v1/alerts/<fingerprint>/ack`` — acknowledge a firing alert (``{"comment"}``)
* ``GET /api/v1/alerts/silences`` — active silences the caller may see
* ``POST /api/v1/alerts/silences`` — create a silence (matchers, comment, hours), 201
* ``DELETE /api/v1/alerts/silences/<id>`` — end a silence now
* ``POST /api/v1/alerts/alertmanager`` — intake of Alertmanager v4 webhook payloads

The intake is for the Alertmanagers sites run themselves, not for people:
it authenticates with the site-wide intake token (vault secret
``ALERTMANAGER_INTAKE_TOKEN``, ``Authorization: Bearer <token>``), not with a
user's API token. The user-token authentication hook would refuse that
bearer token, so a hook registered in front of it (:func:`intake_guard`)
answers intake requests entirely: 403 while no intake token is configured,
401 without the token or with a wrong one (constant-time comparison), 415
for a body that is not JSON, 400 for a malformed payload, 200 with the
counts otherwise. Every call is audited (``alerts.intake``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from controlplane.errors import BadInputError, EgovError
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event
from controlplane.web.policy import ANONYMOUS, current_scope, requires
from controlplane.web.state import state
from controlplane.web.validation import NO_CONTROL, query_choice, validate
from controlplane.web.views.alerts import (
    FILTERS,
    MAX_SILENCE_HOURS,
    acknowledge,
    end_silence,
    make_silence,
    visible_alerts,
    visible_silences,
)

bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1/alerts")
INTAKE_ENDPOINT = "alerts_api.intake"
INTAKE_ACTOR = "alertmanager-intake"
# Alertmanager sends up to its max_alerts per call (we accept 1000): more room than the API's 64 KiB.
INTAKE_MAX_BYTES = 1024 * 1024

SCHEMAS: dict[str, dict[str, Any]] = {
    "AlertAck": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"comment": {"type": "string", "maxLength": 2000, "pattern": NO_CONTROL}},
    },
    "SilenceCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["matchers", "comment", "duration_hours"],
        "properties": {
            "matchers": {
                "type": "array",
                "minItems": 1,
                "maxItems": 20,
                "items": {"type": "string", "minLength": 3, "maxLength": 256, "pattern": NO_CONTROL},
            },
            "comment": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": NO_CONTROL},
            "duration_hours": {"type": "number", "minimum": 0.01, "maximum": MAX_SILENCE_HOURS},
        },
    },
    # Documentation of the payload Alertmanager sends (webhook version 4); the intake reads only what it needs.
    "AlertmanagerWebhook": {
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "alerts"],
        "properties": {
            "version": {"const": "4"},
            "groupKey": {"type": "string"},
            "truncatedAlerts": {"type": "integer"},
            "status": {"enum": ["firing", "resolved"]},
            "receiver": {"type": "string"},
            "groupLabels": {"type": "object", "additionalProperties": {"type": "string"}},
            "commonLabels": {"type": "object", "additionalProperties": {"type": "string"}},
            "commonAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "externalURL": {"type": "string"},
            "alerts": {
                "type": "array",
                "maxItems": 1000,
                "items": {
                    "type": "object",
                    "required": ["status", "labels"],
                    "properties": {
                        "status": {"enum": ["firing", "resolved"]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                        "startsAt": {"type": "string", "format": "date-time"},
                        "endsAt": {"type": "string", "format": "date-time"},
                        "generatorURL": {"type": "string"},
                        "fingerprint": {"type": "string"},
                    },
                },
            },
        },
    },
}


def _body(schema: str, optional: bool = False) -> dict[str, Any]:
    """The JSON body checked against one of SCHEMAS (an empty body is ``{}`` when ``optional``)."""
    if optional and not request.content_length:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    validate(data, SCHEMAS[schema])
    return data  # type: ignore[no-any-return]


@bp.get("")
@requires("alerts.view", scoped=True)
def alerts() -> Any:
    """Alerts in scope, firing first; ``?state=`` firing, pending, silenced, inhibited or resolved."""
    return jsonify({"items": visible_alerts(query_choice("state", FILTERS))})


@bp.post("/<fingerprint>/ack")
@requires("alerts.manage", scoped=True)
def ack(fingerprint: str) -> Any:
    """Acknowledge a firing alert in scope; the alert as it is now."""
    body = _body("AlertAck", optional=True)
    return jsonify(acknowledge(fingerprint, body.get("comment", "")))


@bp.get("/silences")
@requires("alerts.view", scoped=True)
def silences() -> Any:
    """Active silences the caller may see (stored and silences-as-code)."""
    return jsonify({"items": visible_silences()})


@bp.post("/silences")
@requires("alerts.manage", scoped=True)
def silence_create() -> Any:
    """Create a silence pinned to the caller's scope; 201 with the silence."""
    current_scope()
    body = _body("SilenceCreate")
    return jsonify(make_silence(body["matchers"], body["comment"], float(body["duration_hours"]))), 201


@bp.delete("/silences/<silence_id>")
@requires("alerts.manage", scoped=True)
def silence_expire(silence_id: str) -> Any:
    """End a stored silence now."""
    end_silence(silence_id)
    return jsonify({"expired": silence_id})


# --------------------------------------------------------------------------- Alertmanager intake
def _presented_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def handle_intake() -> Response | tuple[Response, int]:
    """Check the intake token, merge the payload, audit; the response (errors are raised as ApiError)."""
    from controlplane.monitoring.intake import expected_token, intake_alertmanager, verify_token

    try:
        expected = expected_token(state().vault)
    except EgovError:  # no master key on this site: no vault, so no intake token either
        expected = None
    if not expected:
        raise ApiError(403, "intake_not_configured", "no Alertmanager intake token is configured on this site")
    if not verify_token(_presented_token(), expected):
        audit_event("alerts.intake", "alertmanager", "denied", actor=INTAKE_ACTOR, reason="missing or wrong token")
        raise ApiError(401, "unauthorized", "the Alertmanager intake token is missing or wrong")
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    request.max_content_length = INTAKE_MAX_BYTES
    payload = request.get_json(silent=True)
    if payload is None:
        audit_event("alerts.intake", "alertmanager", "invalid", actor=INTAKE_ACTOR, reason="not JSON")
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    try:
        counts = intake_alertmanager(payload, state().store)
    except BadInputError as error:
        audit_event("alerts.intake", "alertmanager", "invalid", actor=INTAKE_ACTOR, reason=error.message[:200])
        raise ApiError(400, "invalid", error.message) from None
    receiver = payload.get("receiver") if isinstance(payload.get("receiver"), str) else ""
    audit_event("alerts.intake", "alertmanager", actor=INTAKE_ACTOR, receiver=receiver[:128], **counts)
    return jsonify(counts)


@bp.post("/alertmanager")
@requires(ANONYMOUS)  # no user: the intake token is checked by handle_intake (intake_guard answers first)
def intake() -> Any:
    """Alertmanager webhook intake (normally answered by :func:`intake_guard` before the user hooks)."""
    return handle_intake()


def intake_guard() -> Any:
    """``before_request`` ahead of user authentication: answer intake requests with their own token check."""
    if request.endpoint != INTAKE_ENDPOINT:
        return None
    return handle_intake()


@bp.record_once
def _install_guard(setup: Any) -> None:
    """Put :func:`intake_guard` just before the user-authentication hook (after the latency timer)."""
    from controlplane.web.security import authenticate

    app: Flask = setup.app
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(hooks.index(authenticate) if authenticate in hooks else 0, intake_guard)


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the alerts API (merged into the document by controlplane.web.openapi)."""
    from controlplane.web.openapi import WRITE_ERRORS, _op, _path_param, _query

    row = {"type": "object", "additionalProperties": True}
    items = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": row}}}
    counts = {
        "type": "object",
        "required": ["received", "firing", "resolved", "ignored"],
        "properties": {k: {"type": "integer"} for k in ("received", "firing", "resolved", "ignored")},
    }
    intake = _op(
        "Intake of an Alertmanager webhook payload (version 4) from a site's own Alertmanager",
        counts,
        body="AlertmanagerWebhook",
        errors=(400, 401, 413, 415),
        tag="alerts",
    )
    intake["description"] = (
        "Authenticate with `Authorization: Bearer <intake token>`: the site-wide token in the vault secret "
        "ALERTMANAGER_INTAKE_TOKEN, not a user's API token. 403 while no intake token is configured. "
        "Bodies up to 1 MiB. The alerts join the console's alerts and routing."
    )
    intake["responses"]["403"] = {
        "description": "no intake token is configured on this site (intake disabled)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {
        "/api/v1/alerts": {
            "get": _op(
                "Alerts in the caller's scope, firing first",
                items,
                params=[_query("state", {"enum": list(FILTERS)}, "only alerts in this state")],
                tag="alerts",
            )
        },
        "/api/v1/alerts/{fingerprint}/ack": {
            "post": _op(
                "Acknowledge a firing alert (stops repeats and escalation)",
                row,
                body="AlertAck",
                params=[_path_param("fingerprint")],
                errors=WRITE_ERRORS,
                tag="alerts",
            )
        },
        "/api/v1/alerts/silences": {
            "get": _op("Active silences the caller may see", items, tag="alerts"),
            "post": _op(
                "Create a silence (a site-scoped caller must pin it with site= or host=)",
                row,
                status=201,
                body="SilenceCreate",
                errors=WRITE_ERRORS,
                tag="alerts",
            ),
        },
        "/api/v1/alerts/silences/{silence_id}": {
            "delete": _op(
                "End a silence now",
                {"type": "object", "properties": {"expired": {"type": "string"}}},
                params=[_path_param("silence_id")],
                errors=WRITE_ERRORS,
                tag="alerts",
            )
        },
        "/api/v1/alerts/alertmanager": {"post": intake},
    }
