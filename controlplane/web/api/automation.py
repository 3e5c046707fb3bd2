"""The provision/harden JSON API (its own blueprint under ``/api/v1/automation``).

* ``POST /api/v1/automation/runs`` — start ``{"kind": "harden"|"provision",
  "limit": PATTERN?, "check": bool?, "diff": bool?}``; 202 with the run id,
  the hosts and where to follow it
* ``GET /api/v1/automation/runs`` — recent provision/harden runs in scope
* ``GET /api/v1/automation/runs/<run_id>/hosts`` — per-host progress counters
* ``GET /api/v1/automation/drift`` — per host and playbook, what the newest
  check run would change
* ``GET /api/v1/automation/hosts/<name>/history`` — one host's runs with its tally (a run of a site
  out of the caller's scope shows this host's own outcome only, ``redacted: true``)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request, url_for

from controlplane.web.api.docs import WRITE_ERRORS, any_object, items_of, operation, path_param, query_param
from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope, requires
from controlplane.web.services.automation import (
    KINDS,
    MAX_LIMIT,
    drift_in_scope,
    host_in_scope,
    progress_of,
    scoped_history,
    start_playbook,
)
from controlplane.web.state import state
from controlplane.web.validation import query_int, validate

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("automation_api", __name__, url_prefix="/api/v1/automation")

SCHEMAS: dict[str, dict[str, Any]] = {
    "AutomationStart": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "properties": {
            "kind": {"enum": list(KINDS)},
            "limit": {"type": ["string", "null"], "maxLength": MAX_LIMIT, "pattern": r"^[A-Za-z0-9_.*?\[\],:-]*$"},
            "check": {"type": "boolean"},
            "diff": {"type": "boolean"},
        },
    },
}


def json_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON body validated against ``schema``; ApiError 415 (not JSON) or 400 (invalid)."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    validate(body, schema)
    return body  # type: ignore[no-any-return]


@bp.post("/runs")
@requires("automation.start", scoped=True)
def start() -> ResponseReturnValue:
    """Start provision or harden on the hosts of a pattern (all of the caller's sites); 202."""
    body = json_object(SCHEMAS["AutomationStart"])
    started = start_playbook(
        body["kind"], body.get("limit"), bool(body.get("check", False)), bool(body.get("diff", False)), "api"
    )
    return (
        jsonify(
            {
                "run_id": started.run_id,
                "kind": started.kind,
                "limit": started.limit,
                "check": started.check,
                "hosts": started.hosts,
                "progress": url_for("automation_api.hosts", run_id=started.run_id),
                "output": url_for("api.run_output", run_id=started.run_id),
            }
        ),
        202,
    )


@bp.get("/runs")
@requires("automation.view", scoped=True)
def runs() -> ResponseReturnValue:
    """The newest provision/harden runs the caller may see (``limit`` 1-200, default 30)."""
    from controlplane.automation.report import recent_runs

    scope = current_scope()
    count = query_int("limit", 30, 1, 200)
    with state().store.session() as db:
        return jsonify({"items": recent_runs(db, scope.allows, count)})


@bp.get("/runs/<int:run_id>/hosts")
@requires("automation.view", scoped=True)
def hosts(run_id: int) -> ResponseReturnValue:
    """Per-host progress of one run: state, ok, changed, failed, unreachable, skipped, last task."""
    return jsonify(progress_of(run_id))


@bp.get("/drift")
@requires("automation.view", scoped=True)
def drift() -> ResponseReturnValue:
    """Per host in scope and playbook: the newest check run and the tasks it would change."""
    return jsonify({"items": drift_in_scope()})


@bp.get("/hosts/<name>/history")
@requires("automation.view", scoped=True)
def history(name: str) -> ResponseReturnValue:
    """The provision/harden runs that touched one host, newest first, with the host's tally."""
    from controlplane.automation.report import drift as host_drift

    host = host_in_scope(name)
    with state().store.session() as db:
        return jsonify({"host": host.name, "items": scoped_history(db, host), "drift": host_drift(db, [host.name])})


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS = SCHEMAS


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the automation API (assembled by controlplane.web.openapi)."""
    row = any_object()
    items = items_of(row)
    counters = {key: {"type": "integer"} for key in ("ok", "changed", "failed", "unreachable", "skipped")}
    progress = {
        "type": "object",
        "required": ["run", "final", "hosts"],
        "properties": {
            "run": row,
            "final": {"type": "boolean"},
            "hosts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["host", "state", *counters],
                    "properties": {
                        "host": {"type": "string"},
                        "state": {"enum": ["waiting", "running", "ok", "changed", "failed", "unreachable", "not run"]},
                        **counters,
                        "last_task": {"type": "string"},
                    },
                },
            },
        },
    }
    started = {
        "type": "object",
        "required": ["run_id", "kind", "hosts"],
        "properties": {
            "run_id": {"type": "integer"},
            "kind": {"enum": list(KINDS)},
            "limit": {"type": ["string", "null"]},
            "check": {"type": "boolean"},
            "hosts": {"type": "array", "items": {"type": "string"}},
            "progress": {"type": "string"},
            "output": {"type": "string"},
        },
    }
    return {
        "/api/v1/automation/runs": {
            "get": operation(
                "Recent provision and harden runs in the caller's scope",
                items,
                params=[
                    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "how many (default 30)")
                ],
                tag="automation",
            ),
            "post": operation(
                "Start provision or harden (check = drift report only) on the hosts of a pattern in scope",
                started,
                status=202,
                body="AutomationStart",
                errors=WRITE_ERRORS,
                tag="automation",
            ),
        },
        "/api/v1/automation/runs/{run_id}/hosts": {
            "get": operation(
                "Per-host progress of a provision or harden run",
                progress,
                params=[path_param("run_id", "integer")],
                tag="automation",
            )
        },
        "/api/v1/automation/drift": {
            "get": operation("Per host and playbook: what the newest check run would change", items, tag="automation")
        },
        "/api/v1/automation/hosts/{name}/history": {
            "get": operation(
                "Provision and harden runs that touched a host, with its drift",
                {
                    **items,
                    "properties": {
                        **items["properties"],
                        "host": {"type": "string"},
                        "drift": {"type": "array", "items": row},
                    },
                },
                params=[path_param("name")],
                tag="automation",
            )
        },
    }
