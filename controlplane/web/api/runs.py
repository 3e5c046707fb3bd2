"""API: runs (list, detail, output, start a harmless run, cancel)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for

from controlplane.runs import read_output
from controlplane.store.models import RunStatus
from controlplane.web import actions, queries
from controlplane.web.api import bp
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state
from controlplane.web.validation import json_body, query_choice, query_int, query_text


@bp.get("/runs")
@requires("runs.view", scoped=True)
def runs() -> Any:
    """Return one page of runs, newest first (filters: status, kind; page, per_page)."""
    scope = current_scope()
    status = query_choice("status", RunStatus.ALL)
    kind = query_text("kind", r"^[a-z0-9_-]{1,32}$")
    page = query_int("page", 1, 1, 100000)
    per_page = query_int("per_page", 25, 1, 100)
    with state().store.session() as db:
        listing = queries.list_runs(db, scope, status=status, kind=kind, page=page, per_page=per_page)
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
def run_create() -> Any:
    """Start a harmless run (kind ``ping``: a local, simulated ping that sends nothing)."""
    body = json_body("RunCreate")
    run = actions.start_harmless_run(body["kind"], body["host"], trigger="api")
    response = jsonify(run.as_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("api.run", run_id=run.id)
    return response


@bp.get("/runs/<int:run_id>")
@requires("runs.view", scoped=True)
def run(run_id: int) -> Any:
    """Return one run."""
    found = actions.get_run(run_id)
    return jsonify({**found.as_dict(), "cancel_requested": bool(found.cancel_requested)})


@bp.get("/runs/<int:run_id>/output")
@requires("runs.view", scoped=True)
def run_output(run_id: int) -> Any:
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
def run_cancel(run_id: int) -> Any:
    """Ask an active run to stop; 409 when it already ended."""
    found = actions.cancel_run(run_id)
    response = jsonify({**found.as_dict(), "cancel_requested": True})
    response.status_code = 202
    return response
