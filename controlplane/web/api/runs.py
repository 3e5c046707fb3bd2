"""API: runs (list, detail, output, start a harmless run, cancel)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import jsonify, url_for

from controlplane.runs import read_output
from controlplane.store.models import RunStatus
from controlplane.web import actions
from controlplane.web.api import bp
from controlplane.web.api.docs import NULLABLE_TIME, WRITE_ERRORS, operation, path_param, query_param, ref
from controlplane.web.policy import requires
from controlplane.web.services.runs import list_runs, runs_query
from controlplane.web.state import state
from controlplane.web.validation import SCHEMAS, json_body, query_int

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.get("/runs")
@requires("runs.view", scoped=True)
def runs() -> ResponseReturnValue:
    """Return one page of runs, newest first (filters: status, kind; page, per_page)."""
    with state().store.session() as db:
        listing = list_runs(db, runs_query(per_page_allowed=True))
    return jsonify(
        {
            "items": [run.as_dict() for run in listing.items],
            "page": listing.page,
            "per_page": listing.per_page,
            "total": listing.total,
        }
    )


@bp.post("/runs")
@requires("runs.start", scoped=True)
def run_create() -> ResponseReturnValue:
    """Start a harmless run (kind ``ping``: a local, simulated ping that sends nothing)."""
    body = json_body("RunCreate")
    run = actions.start_harmless_run(body["kind"], body["host"], trigger="api")
    response = jsonify(run.as_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("api.run", run_id=run.id)
    return response


@bp.get("/runs/<int:run_id>")
@requires("runs.view", scoped=True)
def run(run_id: int) -> ResponseReturnValue:
    """Return one run."""
    found = actions.get_run(run_id)
    return jsonify({**found.as_dict(), "cancel_requested": bool(found.cancel_requested)})


@bp.get("/runs/<int:run_id>/output")
@requires("runs.view", scoped=True)
def run_output(run_id: int) -> ResponseReturnValue:
    """Return output lines after ``after`` (at most ``limit``) and whether the run is final."""
    found = actions.get_run(run_id)
    after = query_int("after", 0, 0, 10**9)
    limit = query_int("limit", 1000, 1, 5000)
    with state().store.session() as db:
        lines = read_output(db, run_id, after=after, limit=limit)
    return jsonify(
        {
            "run_id": run_id,
            "status": found.status,
            "final": found.status in RunStatus.FINAL,
            "lines": [
                {"seq": line.seq, "stream": line.stream, "text": line.text, "at": line.created_at.isoformat()}
                for line in lines
            ],
            "next_after": lines[-1].seq if lines else after,
        }
    )


@bp.post("/runs/<int:run_id>/cancel")
@requires("runs.cancel", scoped=True)
def run_cancel(run_id: int) -> ResponseReturnValue:
    """Ask an active run to stop; 409 when it already ended."""
    found = actions.cancel_run(run_id)
    response = jsonify({**found.as_dict(), "cancel_requested": True})
    response.status_code = 202
    return response


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "RunCreate": SCHEMAS["RunCreate"],
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
    "RunPage": {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": ref("Run")},
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
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of this module: the run list, one run, its output, start and cancel."""
    run_id = [path_param("run_id", "integer")]
    return {
        "/api/v1/runs": {
            "get": operation(
                "Runs, newest first",
                ref("RunPage"),
                params=[
                    query_param("status", {"enum": list(RunStatus.ALL)}, "only runs in this status"),
                    query_param("kind", {"type": "string", "pattern": "^[a-z0-9_-]{1,32}$"}, "only runs of this kind"),
                    query_param("page", {"type": "integer", "minimum": 1}, "page number"),
                    query_param("per_page", {"type": "integer", "minimum": 1, "maximum": 100}, "runs per page"),
                ],
                tag="runs",
            ),
            "post": operation(
                "Start a harmless run (simulated ping, no network traffic)",
                ref("Run"),
                status=201,
                body="RunCreate",
                tag="runs",
                errors=(*WRITE_ERRORS, 429),
            ),
        },
        "/api/v1/runs/{run_id}": {"get": operation("One run", ref("Run"), params=run_id, tag="runs")},
        "/api/v1/runs/{run_id}/output": {
            "get": operation(
                "Output lines after a sequence number",
                ref("RunOutput"),
                params=[
                    *run_id,
                    query_param("after", {"type": "integer", "minimum": 0}, "last seq already read"),
                    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 5000}, "most lines to return"),
                ],
                tag="runs",
            )
        },
        "/api/v1/runs/{run_id}/cancel": {
            "post": operation(
                "Ask a run to stop", ref("Run"), status=202, params=run_id, tag="runs", errors=WRITE_ERRORS
            )
        },
    }
