"""Runs: the list (filters, pages), one run with live output, start a harmless run, cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from controlplane.runs import read_output
from controlplane.store.models import RunStatus
from controlplane.web import actions, queries
from controlplane.web.cache import cached_fragment
from controlplane.web.errors import ApiError
from controlplane.web.helpers import form_text
from controlplane.web.policy import current_scope, requires
from controlplane.web.services.runs import list_runs, runs_query
from controlplane.web.sse import stream_response
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("runs", __name__)


@bp.get("/runs")
@requires("runs.view", scoped=True)
def index() -> ResponseReturnValue:
    """List runs newest first, filtered by status and kind, 25 a page."""
    scope = current_scope()
    wanted = runs_query(per_page_allowed=False)

    def context() -> dict[str, Any]:
        listing = list_runs(db, wanted)
        kinds = queries.run_kinds(db)
        return {"listing": listing, "status": wanted.status, "kind": wanted.kind, "statuses": RunStatus.ALL,
                "kinds": kinds}  # fmt: skip

    with state().store.session() as db:
        body = cached_fragment(db, ("runs", scope, wanted.status, wanted.kind, wanted.page), "_runs_body.html", context)
    return render_template("runs.html", body=body)


@bp.get("/runs/<int:run_id>")
@requires("runs.view", scoped=True)
def detail(run_id: int) -> ResponseReturnValue:
    """Show a run, its output so far, and (through the page's script) the rest live."""
    run = actions.get_run(run_id)
    with state().store.session() as db:
        lines = read_output(db, run_id, after=max(0, run.output_lines - 2000), limit=2000)
    return render_template("run.html", run=run, lines=lines, final=run.status in RunStatus.FINAL)


@bp.get("/runs/<int:run_id>/stream")
@requires("runs.view", scoped=True)
def stream(run_id: int) -> ResponseReturnValue:
    """Stream the run's output lines after Last-Event-ID (or ?after=) as server-sent events."""
    actions.get_run(run_id)
    return stream_response(run_id)


@bp.post("/runs/new")
@requires("runs.start", scoped=True)
def create() -> ResponseReturnValue:
    """Start a harmless run on a host (operator, admin) and show it."""
    kind = form_text("kind", 32) or "ping"
    host = form_text("host", 64)
    try:
        run = actions.start_harmless_run(kind, host, trigger="console")
    except ApiError as error:
        if error.status in (403, 404):
            raise
        flash(_("The run could not be started: %(reason)s", reason=error.message), "error")
        return redirect(url_for("hosts.detail", name=host) if error.status != 400 else url_for("hosts.index"))
    flash(_("Run %(id)d started.", id=run.id), "ok")
    return redirect(url_for("runs.detail", run_id=run.id))


@bp.post("/runs/<int:run_id>/cancel")
@requires("runs.cancel", scoped=True)
def cancel(run_id: int) -> ResponseReturnValue:
    """Ask a running run to stop (operator, admin)."""
    try:
        actions.cancel_run(run_id)
    except ApiError as error:
        if error.status != 409:
            raise
        flash(_("This run has already ended."), "error")
    else:
        flash(_("Cancellation requested."), "ok")
    return redirect(url_for("runs.detail", run_id=run_id))
