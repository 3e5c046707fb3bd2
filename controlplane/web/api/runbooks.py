"""The runbooks JSON API (its own blueprint under ``/api/v1/runbooks``).

* ``GET /api/v1/runbooks`` — every runbook, with the error of those that do not load
* ``POST /api/v1/runbooks/<name>/start`` — start in a mode with parameters, 202 with the run id; 403
  when a host a parameter or target names lies outside the caller's scope, or the caller lacks a
  permission the runbook needs (``backup.restore`` for restore-to-dr), and no run row is created
  (``{"mode": "run"}`` needs ``"confirm": "<the runbook's name>"``); a real run of a runbook that
  needs a second approver becomes a run request instead: 202 with its ``request_id``, status ``pending``
* ``GET /api/v1/runbooks/requests`` — run requests whose named hosts all lie in scope, pending first
* ``POST /api/v1/runbooks/requests/<id>/approve`` — another person in scope approves: the run starts
  as the requester, 202 with the run id; ``.../reject`` — it will not run
* ``GET /api/v1/runbooks/history`` — runbook runs in scope, newest first, with RTO against objective
* ``GET /api/v1/runbooks/runs/<run_id>/journal`` — one run's journal as JSON
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request, url_for

from controlplane.web.api.docs import (
    WRITE_ERRORS,
    any_object,
    items_of,
    operation,
    optional_body,
    path_param,
    query_param,
)
from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope, requires
from controlplane.web.services import runbooks as service
from controlplane.web.services.runbook_approvals import (
    MAX_REASON,
    DecisionRefused,
    approve_and_start,
    decide,
    visible_requests,
)
from controlplane.web.services.runbooks import get_runbook_run, listing, visible_history
from controlplane.web.state import state
from controlplane.web.validation import NO_CONTROL, query_int, query_text, validate

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

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
            "reason": {"type": "string", "maxLength": MAX_REASON, "pattern": NO_CONTROL},
        },
    },
    "RunbookDecision": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": MAX_REASON, "pattern": NO_CONTROL}},
    },
}


def _json_body(required: bool) -> dict[str, Any]:
    """The request's JSON object body (``{}`` for an empty body when not required).

    Raises ApiError 415 for another media type, 400 for invalid JSON.
    """
    if not required and not request.get_data(cache=True):
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    return body  # type: ignore[no-any-return]


@bp.get("")
@requires("runbooks.view")
def runbooks() -> ResponseReturnValue:
    """Every runbook file: name, ok, error, title, severity, RTO objective."""
    return jsonify({"items": listing()})


@bp.post("/<name>/start")
@requires("runbooks.start", scoped=True)
def start(name: str) -> ResponseReturnValue:
    """Start a runbook; 202 with the run id and where its journal is.

    A real run of a runbook needing a second approver is recorded as a run
    request instead (audited as ``<user>@api``): 202 with ``request_id`` and
    status ``pending``; another person approves it with the requests API.
    """
    body = _json_body(required=True)
    validate(body, SCHEMAS["RunbookStart"])
    mode = body["mode"]
    started = service.start(
        name, mode, body.get("params") or {}, body.get("confirm", ""), channel="api", reason=body.get("reason", "")
    )
    if started.request is not None:
        return jsonify(_request_answer(started.request)), 202
    run_id = started.run_id
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


def _request_answer(item: dict[str, Any]) -> dict[str, Any]:
    """A run request as the API shows it: its fields with ``request_id`` for ``id``."""
    answer = {key: value for key, value in item.items() if key != "id"}
    answer["request_id"] = item["id"]
    return answer


@bp.get("/requests")
@requires("runbooks.view", scoped=True)
def requests() -> ResponseReturnValue:
    """Run requests whose targets all lie in the caller's scope: pending first, then newest first."""
    return jsonify({"items": [_request_answer(item) for item in visible_requests()]})


def _decision_reason() -> str:
    """The optional reason of a decision body (validated)."""
    body = _json_body(required=False)
    validate(body, SCHEMAS["RunbookDecision"])
    return str(body.get("reason", ""))


@bp.post("/requests/<request_id>/approve")
@requires("runbooks.approve", scoped=True)
def approve(request_id: str) -> ResponseReturnValue:
    """Approve a pending run request (not one's own): the run starts as the requester; 202 with its run id.

    409 ``not_started`` when the approval is recorded but the run could not
    start (the reason is also noted on the request).
    """
    reason = _decision_reason()
    try:
        decided, definition, run_id, not_started = approve_and_start(request_id, reason, "api")
    except DecisionRefused as error:
        raise ApiError(error.status, error.code, error.message) from None
    if not_started is not None or definition is None:
        raise ApiError(409, "not_started", f"approved, but the run did not start: {not_started}")
    answer = _request_answer({**decided, "run_id": run_id})
    answer.update(runbook=definition.name, journal=url_for("runbooks_api.journal", run_id=run_id))
    return jsonify(answer), 202


@bp.post("/requests/<request_id>/reject")
@requires("runbooks.approve", scoped=True)
def reject(request_id: str) -> ResponseReturnValue:
    """Reject a pending run request (not one's own): it will not run; the decided request."""
    reason = _decision_reason()
    try:
        decided = decide(request_id, approve=False, reason=reason, channel="api")
    except DecisionRefused as error:
        raise ApiError(error.status, error.code, error.message) from None
    return jsonify(_request_answer(decided))


@bp.get("/history")
@requires("runbooks.view", scoped=True)
def history() -> ResponseReturnValue:
    """Runbook runs in scope, newest first (``?name=`` one runbook, ``?limit=`` at most 200)."""
    current_scope()
    name = query_text("name", r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    return jsonify({"items": visible_history(name=name, limit=query_int("limit", 30, 1, 200))})


@bp.get("/runs/<int:run_id>/journal")
@requires("runbooks.view", scoped=True)
def journal(run_id: int) -> ResponseReturnValue:
    """One runbook run and its journal entries (steps, checks, figures)."""
    from controlplane.runbook.journal import read_journal

    get_runbook_run(run_id)
    return jsonify(read_journal(state().store, run_id))


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS = SCHEMAS


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the runbooks API (assembled by controlplane.web.openapi)."""
    row = any_object()
    items = items_of(row)
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
    text = {"type": "string"}
    when = {"type": "string", "format": "date-time"}
    request_fields: dict[str, Any] = {
        "request_id": {"type": "string", "pattern": "^[0-9a-f]{12}$"},
        "runbook": text,
        "mode": {"const": "run"},
        "params": row,
        "targets": {"type": "array", "items": text},
        "hosts": {"type": "array", "items": text, "description": "every host the run names (targets, host parameters)"},
        "requester": text,
        "reason": text,
        "status": {"enum": ["pending", "approved", "rejected", "expired"]},
        "requested_at": when,
        "expires_at": when,
        "decided_by": {"type": ["string", "null"]},
        "decided_at": {"type": ["string", "null"]},
        "decision_reason": text,
        "run_id": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
    }
    run_request = {
        "type": "object",
        "required": ["request_id", "runbook", "mode", "targets", "requester", "status", "expires_at", "run_id"],
        "properties": request_fields,
    }
    waiting = {
        **run_request,
        "description": "a real run that waits for a second approver (GET /api/v1/runbooks/requests)",
        "properties": {**request_fields, "status": {"const": "pending"}, "run_id": {"type": "null"}},
    }
    approved = {
        **run_request,
        "required": [*run_request["required"], "journal"],
        "properties": {
            **request_fields,
            "status": {"const": "approved"},
            "run_id": {"type": "integer"},
            "journal": text,
        },
    }
    listed = items_of(run_request)
    return {
        "/api/v1/runbooks": {
            "get": operation("Every runbook, with the error of those that do not load", items, tag="runbooks")
        },
        "/api/v1/runbooks/requests": {
            "get": operation(
                "Run requests of runbooks needing a second approver whose targets all lie in the caller's scope",
                listed,
                tag="runbooks",
            )
        },
        "/api/v1/runbooks/requests/{request_id}/approve": {
            "post": optional_body(
                operation(
                    "Approve another person's pending run request (scope covering every target): the run starts "
                    "as the requester",
                    approved,
                    status=202,
                    body="RunbookDecision",
                    params=[path_param("request_id")],
                    errors=WRITE_ERRORS,
                    tag="runbooks",
                )
            )
        },
        "/api/v1/runbooks/requests/{request_id}/reject": {
            "post": optional_body(
                operation(
                    "Reject another person's pending run request: it will not run",
                    {**run_request, "properties": {**request_fields, "status": {"const": "rejected"}}},
                    body="RunbookDecision",
                    params=[path_param("request_id")],
                    errors=WRITE_ERRORS,
                    tag="runbooks",
                )
            )
        },
        "/api/v1/runbooks/{name}/start": {
            "post": operation(
                "Start a runbook (dry-run, drill, or run with the name as confirmation); a real run of a "
                "runbook needing a second approver answers with a pending run request instead",
                {"oneOf": [started, waiting]},
                status=202,
                body="RunbookStart",
                params=[path_param("name")],
                errors=WRITE_ERRORS,
                tag="runbooks",
            )
        },
        "/api/v1/runbooks/history": {
            "get": operation(
                "Runbook runs in the caller's scope, newest first, with RTO against objective",
                items,
                params=[
                    query_param("name", {"type": "string"}, "only runs of this runbook"),
                    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "most runs"),
                ],
                tag="runbooks",
            )
        },
        "/api/v1/runbooks/runs/{run_id}/journal": {
            "get": operation(
                "One runbook run and its journal",
                row,
                params=[path_param("run_id", "integer")],
                tag="runbooks",
            )
        },
    }
