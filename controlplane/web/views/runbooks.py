"""Runbooks in the console: the list (with load errors), start with parameters, live journal, drill history.

Pages only: who may start or see what, and the start itself, are decided in
:mod:`controlplane.web.services.runbooks` (and run requests in
:mod:`controlplane.web.services.runbook_approvals`), which the JSON API
calls too. A started run's journal fills live over server-sent events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.errors import BadInputError
from controlplane.store.models import RunStatus
from controlplane.web.errors import ApiError
from controlplane.web.policy import requires
from controlplane.web.services import runbooks as service
from controlplane.web.services.runbook_approvals import DecisionRefused, approve_and_start, decide, visible_requests
from controlplane.web.services.runbooks import get_runbook_run, listing, load_definition, visible_history
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from controlplane.runbook.definition import Runbook

bp = Blueprint("runbooks", __name__)
EXPORTS = {"json": "application/json", "md": "text/markdown", "html": "text/html"}
CHART_BAR = 16
CHART_WIDTH = 360
CHART_LABEL = 150


def rto_chart(rows: list[dict[str, Any]], limit: int = 20) -> dict[str, Any]:
    """Geometry of a horizontal bar chart of drill RTOs against their objectives (newest at the top).

    Only drills with a measured RTO count. Returns ``{"width", "height", "bars": [...]}`` where each
    bar has y, width, objective_x, met, label and the figures; only numbers and names reach the SVG.
    """
    drills = [r for r in rows if r.get("drill") and r.get("rto_seconds") is not None][:limit]
    figures = [float(r["rto_seconds"]) for r in drills] + [float(r.get("rto_objective_seconds") or 0) for r in drills]
    top = max(figures, default=0.0) or 1.0
    bars = []
    for index, row in enumerate(drills):
        rto = float(row["rto_seconds"])
        objective = float(row.get("rto_objective_seconds") or 0)
        bars.append(
            {
                "y": index * (CHART_BAR + 4),
                "width": round(max(1.0, rto / top * CHART_WIDTH), 1),
                "objective_x": round(CHART_LABEL + objective / top * CHART_WIDTH, 1) if objective else None,
                "met": row.get("rto_met") is not False and (not objective or rto <= objective),
                "label": f"#{row['run_id']} {row.get('runbook') or '?'}",
                "rto": round(rto, 2),
                "objective": objective,
                "run_id": row["run_id"],
            }
        )
    return {
        "width": CHART_LABEL + CHART_WIDTH + 60,
        "height": max(1, len(bars)) * (CHART_BAR + 4),
        "label_width": CHART_LABEL,
        "bar_height": CHART_BAR,
        "bars": bars,
    }


def _form_params(definition: Runbook) -> dict[str, Any]:
    """The parameters given in the start form (``param_<name>``; empty fields keep the default)."""
    given: dict[str, Any] = {}
    for param in definition.params:
        raw = request.form.get(f"param_{param.name}", "")
        if len(raw) > 512:
            raise BadInputError(f"parameter {param.name} is too long")
        if param.type == "bool" and f"param_{param.name}" in request.form and raw == "":
            continue
        if raw.strip() != "":
            given[param.name] = raw.strip()
    return given


@bp.get("/runbooks")
@requires("runbooks.view", scoped=True)
def index() -> ResponseReturnValue:
    """Every runbook (with the error of those that do not load), recent runs and the drill RTO chart."""
    rows = visible_history(limit=30)
    return render_template("runbooks.html", runbooks=listing(), history=rows, chart=rto_chart(rows))


@bp.get("/runbooks/<name>")
@requires("runbooks.view", scoped=True)
def detail(name: str) -> ResponseReturnValue:
    """One runbook: what it does, the start form (operators), its runs and drill RTOs."""
    definition = load_definition(name)
    rows = visible_history(name=name, limit=30)
    return render_template(
        "runbooks_detail.html",
        runbook=definition.describe(),
        history=rows,
        chart=rto_chart(rows),
        alert_rules=alert_rules_for(name),
    )


def alert_rules_for(name: str) -> list[dict[str, Any]]:
    """The alert rules naming this runbook: alert, probe, automatic mode, rate limit, host condition."""
    from controlplane.web.views.alerts import monitoring_spec

    spec = monitoring_spec()
    if spec is None:
        return []
    return [
        {
            "alert": rule.alert,
            "probe": rule.probe,
            "auto": rule.runbook.auto,
            "min_interval": rule.runbook.min_interval,
            "host_vars": rule.runbook.host_vars,
        }
        for rule in spec.rules
        if rule.runbook is not None and rule.runbook.name == name
    ]


@bp.post("/runbooks/<name>/start")
@requires("runbooks.start", scoped=True)
def start(name: str) -> ResponseReturnValue:
    """Start a runbook in a mode with the form's parameters; show its journal (or the approvals page)."""
    definition = load_definition(name)
    mode = request.form.get("mode", "dry-run")
    try:
        started = service.start(
            name,
            mode,
            _form_params(definition),
            request.form.get("confirm", "")[:128],
            channel="console",
            reason=request.form.get("reason", "")[:500],
        )
    except (BadInputError, ApiError) as error:
        if isinstance(error, ApiError) and error.status in (403, 404):
            raise
        flash(_("The runbook was not started: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.detail", name=name))
    if started.request is not None:
        flash(_("Run request %(id)s waits for a second approver.", id=started.request["id"]), "ok")
        return redirect(url_for("runbooks.approvals"))
    flash(_("Runbook %(name)s started (%(mode)s): run %(id)d.", name=name, mode=mode, id=started.run_id), "ok")
    return redirect(url_for("runbooks.journal", run_id=started.run_id))


@bp.get("/runbooks/runs/<int:run_id>")
@requires("runbooks.view", scoped=True)
def journal(run_id: int) -> ResponseReturnValue:
    """A run's journal (steps, checks, figures), filled live while the run goes."""
    from controlplane.runbook.journal import read_journal
    from controlplane.runs import read_output

    run = get_runbook_run(run_id)
    data = read_journal(state().store, run_id)
    with state().store.session() as db:
        lines = read_output(db, run_id, after=max(0, run.output_lines - 500), limit=500)
    return render_template(
        "runbooks_journal.html", run=run, journal=data, lines=lines, final=run.status in RunStatus.FINAL
    )


@bp.get("/runbooks/runs/<int:run_id>/stream")
@requires("runbooks.view", scoped=True)
def stream(run_id: int) -> ResponseReturnValue:
    """The run's journal lines after Last-Event-ID (or ?after=) as server-sent events."""
    from controlplane.web.sse import stream_response

    get_runbook_run(run_id)
    return stream_response(run_id)


@bp.get("/runbooks/runs/<int:run_id>/journal.<fmt>")
@requires("runbooks.view", scoped=True)
def export(run_id: int, fmt: str) -> ResponseReturnValue:
    """Download the journal as JSON, Markdown or HTML (always as an attachment)."""
    from controlplane.runbook.export import export as render
    from controlplane.runbook.journal import read_journal

    if fmt not in EXPORTS:
        abort(404)
    get_runbook_run(run_id)
    text = render(read_journal(state().store, run_id), fmt)
    response = Response(text, mimetype=EXPORTS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="runbook-run-{run_id}.{fmt}"'
    return response


@bp.get("/runbooks/approvals")
@requires("runbooks.view", scoped=True)
def approvals() -> ResponseReturnValue:
    """Run requests waiting for a second approver (and recent decisions) whose targets lie in scope."""
    return render_template("runbooks_approvals.html", requests=visible_requests(), me=g.egov_user.name)


@bp.post("/runbooks/approvals/<request_id>/approve")
@requires("runbooks.approve", scoped=True)
def approve(request_id: str) -> ResponseReturnValue:
    """Approve a pending run request (not one's own) and start the run as its requester."""
    try:
        _decided, definition, run_id, not_started = approve_and_start(
            request_id, request.form.get("reason", ""), "console"
        )
    except DecisionRefused as error:
        flash(_("The request was not decided: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.approvals"))
    if not_started is not None or definition is None:
        flash(_("Approved, but the run did not start: %(reason)s", reason=not_started), "error")
        return redirect(url_for("runbooks.approvals"))
    flash(_("Approved: run %(id)d of %(name)s started.", id=run_id, name=definition.name), "ok")
    return redirect(url_for("runbooks.journal", run_id=run_id))


@bp.post("/runbooks/approvals/<request_id>/reject")
@requires("runbooks.approve", scoped=True)
def reject(request_id: str) -> ResponseReturnValue:
    """Reject a pending run request (not one's own): it will not run."""
    try:
        decided = decide(request_id, approve=False, reason=request.form.get("reason", ""), channel="console")
    except DecisionRefused as error:
        flash(_("The request was not decided: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.approvals"))
    flash(_("Run request %(id)s rejected.", id=decided["id"]), "ok")
    return redirect(url_for("runbooks.approvals"))
