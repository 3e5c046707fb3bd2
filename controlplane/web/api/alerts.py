"""The alerts JSON API (its own blueprint under ``/api/v1/alerts``), and the Alertmanager intake.

* ``GET /api/v1/alerts`` — alerts in the caller's scope (``?state=`` filter), firing first
* ``POST /api/v1/alerts/<fingerprint>/ack`` — acknowledge a firing alert (``{"comment"}``)
* ``GET /api/v1/alerts/silences`` — active silences the caller may see
* ``POST /api/v1/alerts/silences`` — create a silence (matchers, comment, hours), 201
* ``DELETE /api/v1/alerts/silences/<id>`` — end a silence now
* ``POST /api/v1/alerts/alertmanager`` — intake of Alertmanager v4 webhook payloads
* ``GET|POST /api/v1/alerts/intake-tokens``, ``DELETE .../intake-tokens/<id>`` — an admin's
  per-site intake tokens (the clear token is answered once, at creation)

The intake is for the Alertmanagers sites run themselves, not for people:
it authenticates with a site's intake token (``Authorization: Bearer
egovam_...``; :mod:`controlplane.monitoring.intake_tokens`) or the legacy
site-wide vault token ``ALERTMANAGER_INTAKE_TOKEN``, never with a user's API
token. The user-token authentication hook would refuse that bearer token, so
a hook registered in front of it (:func:`intake_guard`) answers intake
requests entirely: 403 while no intake token is configured, 429 with
``Retry-After`` while the client has used up its bad-token attempts
(:mod:`controlplane.monitoring.intake_guard`), 401 without a token or with a
wrong or revoked one, 415 for a body that is not JSON, 400 for a malformed
payload, 200 with the counts otherwise: alerts outside the token's site are
refused one by one and listed in the answer. Accepted calls are audited
(``alerts.intake``, one record each); bad-token and rate-limited attempts
leave at most two records per client, reason and ten minutes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, jsonify, request

from controlplane.errors import BadInputError, EgovError
from controlplane.web.api.docs import WRITE_ERRORS, any_object, items_of, operation, path_param, query_param, ref
from controlplane.web.errors import ApiError, json_error
from controlplane.web.helpers import audit_event, client_address, current_user
from controlplane.web.policy import ANONYMOUS, current_scope, require_site, requires
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

if TYPE_CHECKING:
    from flask.blueprints import BlueprintSetupState
    from flask.typing import ResponseReturnValue

    from controlplane.monitoring.intake_tokens import IntakeScope
    from controlplane.vault import Vault

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
    "IntakeTokenCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["site"],
        "properties": {
            "site": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,62}$", "maxLength": 63},
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", "maxLength": 64},
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
def alerts() -> ResponseReturnValue:
    """Alerts in scope, firing first; ``?state=`` firing, pending, silenced, inhibited or resolved."""
    return jsonify({"items": visible_alerts(query_choice("state", FILTERS))})


@bp.post("/<fingerprint>/ack")
@requires("alerts.manage", scoped=True)
def ack(fingerprint: str) -> ResponseReturnValue:
    """Acknowledge a firing alert in scope; the alert as it is now."""
    body = _body("AlertAck", optional=True)
    return jsonify(acknowledge(fingerprint, body.get("comment", "")))


@bp.get("/silences")
@requires("alerts.view", scoped=True)
def silences() -> ResponseReturnValue:
    """Active silences the caller may see (stored and silences-as-code)."""
    return jsonify({"items": visible_silences()})


@bp.post("/silences")
@requires("alerts.manage", scoped=True)
def silence_create() -> ResponseReturnValue:
    """Create a silence pinned to the caller's scope; 201 with the silence."""
    current_scope()
    body = _body("SilenceCreate")
    return jsonify(make_silence(body["matchers"], body["comment"], float(body["duration_hours"]))), 201


@bp.delete("/silences/<silence_id>")
@requires("alerts.manage", scoped=True)
def silence_expire(silence_id: str) -> ResponseReturnValue:
    """End a stored silence now."""
    end_silence(silence_id)
    return jsonify({"expired": silence_id})


# --------------------------------------------------------------------------- Alertmanager intake
def _presented_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _vault_or_none() -> Vault | None:
    try:
        return state().vault
    except EgovError:  # no master key on this site: no vault, so no legacy intake token either
        return None


def _check_intake_token() -> IntakeScope | Response:
    """The scope of the request's intake token; raises ApiError (403, 401) or returns a 429 response."""
    from controlplane.monitoring import intake_guard, intake_tokens
    from controlplane.store.models import utcnow

    client, now, vault = client_address(), utcnow(), _vault_or_none()
    with state().store.session() as db:
        if not intake_tokens.configured(db, vault):
            raise ApiError(403, "intake_not_configured", "no Alertmanager intake token is configured on this site")
        wait = intake_guard.retry_after(db, client, now)
        presented = _presented_token()
        scope = None if wait is not None else intake_tokens.authenticate(db, presented, vault, state().inventory)
        if scope is not None:
            return scope
        reason = "rate_limited" if wait is not None else "bad_token"
        if wait is None:
            intake_guard.take(db, client, now)
        notes = intake_guard.note_refusal(db, client, reason, now)
        intake_tokens.count_refusals(db, {reason: 1}, now)
    intake_guard.write_notes(state().store, notes)
    if wait is not None:
        response = json_error(429, "rate_limited", "too many bad intake tokens from this address; try again later")
        response.headers["Retry-After"] = str(wait)
        return response
    raise ApiError(401, "invalid_intake_token", "the Alertmanager intake token is missing, wrong or revoked")


def handle_intake() -> Response | tuple[Response, int]:
    """Check the intake token, merge the payload within its scope, audit; the response (errors as ApiError)."""
    from controlplane.monitoring.intake import intake_alertmanager
    from controlplane.monitoring.intake_tokens import IntakeScope

    scope = _check_intake_token()
    if not isinstance(scope, IntakeScope):
        return scope  # the 429 response
    # The site the records concern: the token's (None, ministry level, for the legacy site-wide token).
    site = {"site": scope.site, "token_id": scope.token_id}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    request.max_content_length = INTAKE_MAX_BYTES
    payload = request.get_json(silent=True)
    if payload is None:
        audit_event("alerts.intake", "alertmanager", "invalid", actor=INTAKE_ACTOR, reason="not JSON", **site)
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    try:
        counts = intake_alertmanager(payload, state().store, scope=scope, inventory=state().inventory)
    except BadInputError as error:
        audit_event("alerts.intake", "alertmanager", "invalid", actor=INTAKE_ACTOR, reason=error.message[:200], **site)
        raise ApiError(400, "invalid", error.message) from None
    receiver = payload.get("receiver") if isinstance(payload.get("receiver"), str) else ""
    numbers = {key: value for key, value in counts.items() if key != "refusals"}
    refused = sorted({item["reason"] for item in counts["refusals"]})
    audit_event(
        "alerts.intake", "alertmanager", actor=INTAKE_ACTOR, receiver=receiver[:128], refused_for=refused,
        **numbers, **site,
    )  # fmt: skip
    return jsonify(counts)


@bp.post("/alertmanager")
@requires(ANONYMOUS)  # no user: the intake token is checked by handle_intake (intake_guard answers first)
def intake() -> ResponseReturnValue:
    """Alertmanager webhook intake (normally answered by :func:`intake_guard` before the user hooks)."""
    return handle_intake()


def intake_guard() -> ResponseReturnValue | None:
    """``before_request`` ahead of user authentication: answer intake requests with their own token check."""
    if request.endpoint != INTAKE_ENDPOINT:
        return None
    return handle_intake()


@bp.record_once
def _install_guard(setup: BlueprintSetupState) -> None:
    """Put :func:`intake_guard` just before the user-authentication hook (after the latency timer).

    Also registers the refusal counter (``egov_alert_intake_refused_total``)
    on the app's metrics registry, which controlplane.web.views.metrics set
    up before the blueprints.
    """
    from controlplane.monitoring.intake_tokens import RefusalCollector
    from controlplane.web.security import authenticate

    app: Flask = setup.app
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(hooks.index(authenticate) if authenticate in hooks else 0, intake_guard)
    registry = app.extensions.get("egov.registry")
    if registry is not None:
        registry.register(RefusalCollector(app.extensions["egov"].store))


# --------------------------------------------------------------------------- intake tokens (admin)
@bp.get("/intake-tokens")
@requires("alerts.intake_tokens", scoped=True)
def intake_tokens_list() -> ResponseReturnValue:
    """The live intake tokens of sites in the admin's scope (the legacy site-wide one for ministry admins)."""
    from controlplane.monitoring import intake_tokens

    scope = current_scope()
    with state().store.session() as db:
        rows = [intake_tokens.summary(row) for row in intake_tokens.list_tokens(db) if scope.allows(row.site)]
    legacy = scope.all_sites and intake_tokens.legacy_configured(_vault_or_none())
    return jsonify({"items": rows, "legacy_token_configured": legacy})


@bp.post("/intake-tokens")
@requires("alerts.intake_tokens", scoped=True)
def intake_token_create() -> ResponseReturnValue:
    """Make an intake token for a site in the admin's scope; 201 with the token, shown this once."""
    from controlplane.monitoring import intake_tokens

    body = _body("IntakeTokenCreate")
    require_site(body["site"])
    with state().store.session() as db:
        row, clear = intake_tokens.create_token(
            db, body["site"], name=body.get("name"), created_by=current_user().name,
            known_sites=state().inventory.sites.keys(),
        )  # fmt: skip
        data = intake_tokens.summary(row)
    audit_event("alerts.intake_token.create", f"intake-token:{row.id}", site=row.site, name=row.name, prefix=row.prefix)
    return jsonify({**data, "token": clear}), 201


@bp.delete("/intake-tokens/<int:token_id>")
@requires("alerts.intake_tokens", scoped=True)
def intake_token_revoke(token_id: int) -> ResponseReturnValue:
    """Revoke an intake token of a site in the admin's scope."""
    from controlplane.monitoring import intake_tokens
    from controlplane.monitoring.models import IntakeToken

    with state().store.session() as db:
        found = db.get(IntakeToken, token_id)
    if found is None:
        raise ApiError(404, "not_found", "no such intake token")
    require_site(found.site)
    with state().store.session() as db:
        data = intake_tokens.summary(intake_tokens.revoke_token(db, token_id))
    audit_event("alerts.intake_token.revoke", f"intake-token:{token_id}", site=found.site, name=found.name)
    return jsonify(data)


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS = SCHEMAS


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the alerts API (assembled by controlplane.web.openapi)."""
    row = any_object()
    items = items_of(row)
    counts = {
        "type": "object",
        "required": ["received", "firing", "resolved", "ignored", "refused", "refusals"],
        "properties": {
            **{k: {"type": "integer"} for k in ("received", "firing", "resolved", "ignored", "refused")},
            "refusals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "alertname", "reason"],
                    "properties": {
                        "index": {"type": "integer"},
                        "alertname": {"type": "string"},
                        "reason": {"enum": ["unknown_host", "host_out_of_scope", "site_out_of_scope"]},
                    },
                },
            },
        },
    }
    token = {
        "type": "object",
        "required": ["id", "name", "site", "prefix"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "site": {"type": "string"},
            "prefix": {"type": "string"},
            "created_at": {"type": ["string", "null"]},
            "created_by": {"type": "string"},
            "last_used_at": {"type": ["string", "null"]},
            "revoked_at": {"type": ["string", "null"]},
            "alerts_accepted": {"type": "integer"},
            "alerts_refused": {"type": "integer"},
            "token": {"type": "string"},
        },
    }
    token_list = {
        "type": "object",
        "required": ["items", "legacy_token_configured"],
        "properties": {
            "items": {"type": "array", "items": token},
            "legacy_token_configured": {"type": "boolean"},
        },
    }
    intake = operation(
        "Intake of an Alertmanager webhook payload (version 4) from a site's own Alertmanager",
        counts,
        body="AlertmanagerWebhook",
        errors=(400, 401, 413, 415, 429),
        tag="alerts",
    )
    intake["description"] = (
        "Authenticate with `Authorization: Bearer <intake token>`: a site's token (egovam_..., made by an admin "
        "with `egov alerts intake-token create --site S` or POST /api/v1/alerts/intake-tokens) or the legacy "
        "site-wide token in the vault secret ALERTMANAGER_INTAKE_TOKEN, not a user's API token. A site token "
        "speaks for its site and the sites below it: an alert whose host or site label lies outside is refused "
        "(counted, listed in `refusals`), the others are merged; an alert naming no site gets the token's. "
        "403 while no intake token is configured; 429 with Retry-After after too many bad tokens from one "
        "address. Bodies up to 1 MiB. The alerts join the console's alerts and routing."
    )
    intake["responses"]["403"] = {
        "description": "no intake token is configured on this site (intake disabled)",
        "content": {"application/json": {"schema": ref("Error")}},
    }
    return {
        "/api/v1/alerts": {
            "get": operation(
                "Alerts in the caller's scope, firing first",
                items,
                params=[query_param("state", {"enum": list(FILTERS)}, "only alerts in this state")],
                tag="alerts",
            )
        },
        "/api/v1/alerts/{fingerprint}/ack": {
            "post": operation(
                "Acknowledge a firing alert (stops repeats and escalation)",
                row,
                body="AlertAck",
                params=[path_param("fingerprint")],
                errors=WRITE_ERRORS,
                tag="alerts",
            )
        },
        "/api/v1/alerts/silences": {
            "get": operation("Active silences the caller may see", items, tag="alerts"),
            "post": operation(
                "Create a silence (a site-scoped caller must pin it with site= or host=)",
                row,
                status=201,
                body="SilenceCreate",
                errors=WRITE_ERRORS,
                tag="alerts",
            ),
        },
        "/api/v1/alerts/silences/{silence_id}": {
            "delete": operation(
                "End a silence now",
                {"type": "object", "properties": {"expired": {"type": "string"}}},
                params=[path_param("silence_id")],
                errors=WRITE_ERRORS,
                tag="alerts",
            )
        },
        "/api/v1/alerts/alertmanager": {"post": intake},
        "/api/v1/alerts/intake-tokens": {
            "get": operation("Intake tokens of the sites in the admin's scope", token_list, tag="alerts"),
            "post": operation(
                "Make an intake token for a site (the token is in this answer only)",
                token,
                status=201,
                body="IntakeTokenCreate",
                errors=WRITE_ERRORS,
                tag="alerts",
            ),
        },
        "/api/v1/alerts/intake-tokens/{token_id}": {
            "delete": operation(
                "Revoke an intake token",
                token,
                params=[path_param("token_id", "integer")],
                errors=WRITE_ERRORS,
                tag="alerts",
            )
        },
    }
