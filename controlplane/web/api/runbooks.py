"""The runbooks JSON API (its own blueprint under ``/api/v1/runbooks``).

* ``GET /api/v1/runbooks`` — every runbook, with the error of those that do not load
* ``POST /api/v1/runbooks/<name>/start`` — start in a mode with parameters, 202 with the run id
  (``{"mode": "run"}`` needs ``"confirm": "<the runbook's name>"``)
* ``GET /api/v1/runbooks/history`` — runbook runs in scope, newest first, with RTO against objective
* ``GET /api/v1/runbooks/runs/<run_id>/journal`` — one run's journal as JSON
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request, url_for

from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state
from controlplane.web.validation import NO_CONTROL, query_int, query_text, validate
from controlplane.web.views.runbooks import get_runbook_run, listing, prepare_start, start_runbook, visible_history

bp = Blueprint("runbooks_api", __name__, url_prefix="/api/v1/runbooks")
MODES = ("dry-run", "drill", "run")

SCHEMAS: dict[str, dict[str, Any]] = {
    "RunbookStart": {
        "type": "object",
        "additionalProperties": False,
        "required": ["mode"],
        "properties": {
            "mode": {"enum": list(MODES)},
            "params": {
                "type": "object",
                "maxProperties": 32,
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,31}$"},
                "additionalProperties": {
                    "oneOf": [
                        {"type": "string", "maxLength": 512, "pattern": NO_CONTROL},
                        {"type": "number"},
                        {"type": "boolean"},
                    ]
                },
            },
            "confirm": {"type": "string", "maxLength": 128, "pattern": NO_CONTROL},
        },
    },
}


@bp.get("")
@requires("runbooks.view")
def runbooks() -> Any:
    """Every runbook file: name, ok, error, title, severity, RTO objective."""
    return jsonify({"items": listing()})


@bp.post("/<name>/start")
@requires("runbooks.start", scoped=True)
def start(name: str) -> Any:
    """Start a runbook; 202 with the run id and where its journal is."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    validate(body, SCHEMAS["RunbookStart"])
    mode = body["mode"]
    definition, resolved = prepare_start(name, mode, body.get("params") or {}, body.get("confirm", ""))
    run_id = start_runbook(definition, mode, resolved, f"{g.egov_user.name}@api")
    return (
        jsonify(
            {
                "run_id": run_id,
                "runbook": name,
                "mode": mode,
                "journal": url_for("runbooks_api.journal", run_id=run_id),
            }
        ),
        202,
    )


@bp.get("/history")
@requires("runbooks.view", scoped=True)
def history() -> Any:
    """Runbook runs in scope, newest first (``?name=`` one runbook, ``?limit=`` at most 200)."""
    current_scope()
    name = query_text("name", r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    return jsonify({"items": visible_history(name=name, limit=query_int("limit", 30, 1, 200))})


@bp.get("/runs/<int:run_id>/journal")
@requires("runbooks.view", scoped=True)
def journal(run_id: int) -> Any:
    """One runbook run and its journal entries (steps, checks, figures)."""
    from controlplane.runbook.journal import read_journal

    get_runbook_run(run_id)
    return jsonify(read_journal(state().store, run_id))


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the runbooks API (merged into the document by controlplane.web.openapi)."""
    from controlplane.web.openapi import WRITE_ERRORS, _op, _path_param, _query

    row = {"type": "object", "additionalProperties": True}
    items = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": row}}}
    started = {
        "type": "object",
        "required": ["run_id", "runbook", "mode", "journal"],
        "properties": {
            "run_id": {"type": "integer"},
            "runbook": {"type": "string"},
            "mode": {"enum": list(MODES)},
            "journal": {"type": "string"},
        },
    }
    return {
        "/api/v1/runbooks": {
            "get": _op("Every runbook, with the error of those that do not load", items, tag="runbooks")
        },
        "/api/v1/runbooks/{name}/start": {
            "post": _op(
                "Start a runbook (dry-run, drill, or run with the name as confirmation)",
                started,
                status=202,
                body="RunbookStart",
                params=[_path_param("name")],
                errors=WRITE_ERRORS,
                tag="runbooks",
            )
        },
        "/api/v1/runbooks/history": {
            "get": _op(
                "Runbook runs in the caller's scope, newest first, with RTO against objective",
                items,
                params=[
                    _query("name", {"type": "string"}, "only runs of this runbook"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "most runs"),
                ],
                tag="runbooks",
            )
        },
        "/api/v1/runbooks/runs/{run_id}/journal": {
            "get": _op(
                "One runbook run and its journal",
                row,
                params=[_path_param("run_id", "integer")],
                tag="runbooks",
            )
        },
    }
