"""The network JSON API (its own blueprint under ``/api/v1/network``).

* ``GET /api/v1/network`` — the zones, gateways and allowed flows, and the
  latest whole-network verify (its counts, paths and findings), all cut to
  the caller's scope exactly as the ``/network`` page is
  (:mod:`controlplane.web.network_view`), plus the history of verifies;
* ``POST /api/v1/network/verify`` — start a verify (``{"zone": NAME}`` for
  one zone; a caller limited to some sites must name a zone of them), 202.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request

from controlplane.web.api.docs import WRITE_ERRORS, any_object, json_response, operation, optional_body, ref
from controlplane.web.errors import ApiError
from controlplane.web.policy import requires
from controlplane.web.services.network import latest_document, network_page, start_verify

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("network_api", __name__, url_prefix="/api/v1/network")
ZONE = r"^[a-z0-9][a-z0-9-]{0,62}$"


@bp.get("")
@requires("network.view", scoped=True)
def network() -> ResponseReturnValue:
    """The model and the latest verify in the caller's scope; 409 when the flow file is invalid."""
    page = network_page()
    if page.problems:
        raise ApiError(409, "network_invalid", "; ".join(page.problems)[:1000])
    body: dict[str, Any] = {"modelled": page.view is not None, "history": page.history}
    if page.view is not None:
        body.update(latest_document(page.view))
    return jsonify(body)


@bp.post("/verify")
@requires("network.verify", scoped=True)
def verify() -> ResponseReturnValue:
    """Start a verify now; 202 with the run to follow."""
    import re

    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict) or set(body) - {"zone"}:
        raise ApiError(400, "invalid", 'the body is {"zone": NAME} or empty')
    zone = body.get("zone")
    if zone is not None and (not isinstance(zone, str) or not re.fullmatch(ZONE, zone)):
        raise ApiError(400, "invalid", "zone must be a zone name of the flow file")
    run_id = start_verify(zone, "api")
    return jsonify({"started": "network-verify", "zone": zone, "run_id": run_id}), 202


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "NetworkVerifyRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"zone": {"type": ["string", "null"], "pattern": ZONE, "description": "one zone (default: all)"}},
    },
    "NetworkPath": {
        "type": "object",
        "description": "a tested path; source/destination/address are null when outside the caller's scope",
        "required": ["source_zone", "destination_zone", "protocol", "expected", "observed", "verdict"],
        "properties": {
            "source": {"type": ["string", "null"]},
            "source_zone": {"type": "string"},
            "destination": {"type": ["string", "null"]},
            "destination_zone": {"type": "string"},
            "address": {"type": ["string", "null"]},
            "protocol": {"type": "string"},
            "port": {"type": ["integer", "null"]},
            "expected": {"enum": ["allow", "deny"]},
            "flow": {"type": ["string", "null"]},
            "observed": {"type": "string"},
            "verdict": {"enum": ["ok", "violation", "breakage"]},
            "rule": {"type": ["string", "null"]},
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the network API (assembled by controlplane.web.openapi)."""
    counts = {"type": "integer", "minimum": 0}
    answer = {
        "type": "object",
        "required": ["modelled", "history"],
        "properties": {
            "modelled": {"type": "boolean", "description": "false when the site has no flow file"},
            "scoped": {"type": "boolean", "description": "true when cut to the caller's sites"},
            "zones": {"type": "array", "items": any_object()},
            "gateways": {"type": "array", "items": any_object()},
            "flows": {"type": "array", "items": any_object()},
            "verify": {
                "type": ["object", "null"],
                "description": "the latest whole-network verify, counted over the paths in the caller's scope",
                "properties": {"violations": counts, "breakages": counts, "paths": counts, "ok": {"type": "boolean"}},
            },
            "paths": {"type": "array", "items": {"$ref": "#/components/schemas/NetworkPath"}},
            "findings": {"type": "array", "items": any_object()},
            "history": {"type": "array", "items": any_object()},
        },
    }
    started = {
        "type": "object",
        "required": ["started", "zone", "run_id"],
        "properties": {
            "started": {"const": "network-verify"},
            "zone": {"type": ["string", "null"]},
            "run_id": {"type": "integer", "description": "the queued run (GET /api/v1/runs/{id})"},
        },
    }
    start = operation(
        "Verify the network now (a zone, or the whole network for ministry-level callers)",
        started,
        status=202,
        body="NetworkVerifyRequest",
        errors=WRITE_ERRORS,
        tag="network",
    )
    start["responses"]["503"] = json_response(ref("Error"), "the dispatcher is full; try again shortly")
    return {
        "/api/v1/network": {
            "get": operation(
                "Zones, gateways, flows and the latest verify in the caller's scope",
                answer,
                errors=(401, 403, 409),
                tag="network",
            )
        },
        "/api/v1/network/verify": {"post": optional_body(start)},
    }
