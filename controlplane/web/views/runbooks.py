"""Runbooks in the console: the list (with load errors), start with parameters, live journal, drill history.

A runbook run names hosts: its targets and every host its parameters name
(``host`` and ``hosts`` parameters; a dataset belongs to its ``of`` host). A
user may start a run only when every one of them lies in scope and the role
holds what the runbook needs (``runbooks.start``, and for a drill or a real
run the runbook's own ``permissions``, e.g. ``backup.restore``): the engine's
one check (:func:`controlplane.runbook.params.prepare`) decides, here before
the engine's thread starts (403 at once, no run row) and again in the engine.
A user sees the runs (history, journal, live stream) whose named hosts all
lie in scope; a run naming no host is ministry level. A real run (mode ``run``) needs the runbook's name typed as
confirmation. The engine runs in a daemon thread of the console
(:func:`start_runbook`); the console waits until the run row exists and
shows its journal, which fills live over server-sent events. The engine
writes the audit records (``runbook.<mode>``) with the console user as actor.

A real run of a runbook that needs a second approver (``approvals_required``
above 1) becomes a run request instead: it waits on the approvals page until
another person holding ``runbooks.approve`` whose scope covers every target
approves it (the run then starts as the requester, using that approval) or
rejects it. Requests, approvals and rejections are audited.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.errors import BadInputError, EgovError
from controlplane.runbook.scope import Caller, ScopeRefused, caller_for_user, hosts_of_run, sites_of
from controlplane.store.models import Run, RunStatus
from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope, requires
from controlplane.web.runbook_requests import (
    DecisionRefused,
    ask_for_approval,
    decide,
    start_approved,
    visible_requests,
)
from controlplane.web.state import state

bp = Blueprint("runbooks", __name__)
log = logging.getLogger(__name__)
START_WAIT = 15.0
EXPORTS = {"json": "application/json", "md": "text/markdown", "html": "text/html"}
CHART_BAR = 16
CHART_WIDTH = 360
CHART_LABEL = 150


def folder() -> Path:
    """The site's runbooks folder."""
    return Path(state().config.runbooks)


def load_definition(name: str) -> Any:
    """The named runbook; 404 when there is none or it does not load."""
    from controlplane.runbook.loader import get_runbook

    if len(name) > 64:
        raise ApiError(404, "not_found", "no such runbook")
    try:
        return get_runbook(folder(), name)
    except BadInputError as error:
        raise ApiError(404, "not_found", error.message) from None


def listing() -> list[dict[str, Any]]:
    """Every runbook file: name, whether it loads (and its error), title, severity, RTO objective."""
    from controlplane.runbook.loader import load_runbooks

    rows = []
    for item in load_runbooks(folder()):
        row: dict[str, Any] = {"name": item.name, "ok": item.ok, "error": item.error}
        if item.runbook is not None:
            row.update(
                title=item.runbook.title,
                title_zh=item.runbook.title_zh,
                severity=item.runbook.severity,
                rto_objective_seconds=item.runbook.rto_objective,
                approvals_required=item.runbook.approvals_required,
            )
        rows.append(row)
    return rows


def target_sites(targets: list[str]) -> list[str | None]:
    """The sites of some hosts (None for a host the inventory does not know, or for no host at all)."""
    return sites_of(targets, state().inventory) or [None]


def run_in_scope(params: dict[str, Any] | None) -> bool:
    """True when every host a runbook run names (targets, host parameters) lies in the current user's scope."""
    scope = current_scope()
    return all(scope.allows(site) for site in target_sites(hosts_of_run(params, state().inventory)))


def request_caller() -> Caller:
    """The current console user as the runbook engine's caller (their role's permissions, their sites)."""
    current_scope()
    user = g.egov_user
    return caller_for_user(f"{user.name}", user.role, user.sites or [], state().inventory)


def get_runbook_run(run_id: int) -> Run:
    """A runbook run the current user may see; 404 when missing (or another kind), 403 out of scope."""
    with state().store.session() as db:
        run = db.get(Run, run_id)
    if run is None or run.kind != "runbook":
        raise ApiError(404, "not_found", f"no runbook run {run_id}")
    if not run_in_scope(run.params):
        abort(403)
    return run


def visible_history(name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Runbook runs newest first whose targets lie in scope."""
    from controlplane.runbook.history import runbook_history

    current_scope()
    rows = runbook_history(state().store, name=name, limit=limit * 4)
    with state().store.session() as db:
        params = {row["run_id"]: (db.get(Run, row["run_id"]).params or {}) for row in rows}
    return [row for row in rows if run_in_scope(params[row["run_id"]])][:limit]


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


def prepare_start(
    name: str, mode: str, given: dict[str, Any], confirmation: str, caller: Caller | None = None
) -> tuple[Any, dict[str, Any]]:
    """Check a start request before anything runs; return the runbook and its resolved parameters.

    The check is the engine's (:func:`controlplane.runbook.params.prepare`)
    for ``caller`` (default: the current user). 404 for an unknown runbook,
    400 for a bad mode or parameter, 403 when a named host lies out of scope
    or a permission the runbook needs is missing, 400 for a real run without
    the typed name or a drill on a target that is not a drill target.
    """
    from controlplane.runbook.api import MODES
    from controlplane.runbook.params import prepare

    definition = load_definition(name)
    if mode not in MODES:
        raise ApiError(400, "invalid", f"mode must be one of {', '.join(MODES)}")
    caller = caller or request_caller()
    confirmed = mode != "run" or confirmation.strip() == definition.name
    try:
        prepared = prepare(definition, mode, given, state().inventory, caller, confirmed=True)
    except ScopeRefused as refused:
        raise ApiError(403, "forbidden", refused.message) from None
    if not confirmed:
        raise BadInputError(f"a real run of {definition.name} needs its name typed as confirmation")
    return definition, prepared.params


def start_runbook(definition: Any, mode: str, params: dict[str, Any], actor: str, caller: Caller | None = None) -> int:
    """Execute a runbook in a daemon thread as ``caller`` (default: the current user); return the run id.

    The engine checks the start again for the caller. Raises ApiError 409
    when the engine refuses before creating a run (a missing second
    approval, a host no longer in scope), 503 when no run appeared in time.
    """
    from controlplane.runbook.engine import execute

    console = state()
    inventory = console.inventory
    caller = caller or request_caller()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def on_run(run_id: int) -> None:
        box["run_id"] = run_id
        ready.set()

    def work() -> None:
        try:
            execute(
                console.config,
                console.store,
                inventory,
                definition,
                mode=mode,
                params=params,
                actor=actor,
                trigger="console",
                confirmed=mode == "run",
                on_run=on_run,
                caller=caller,
            )
        except EgovError as error:
            box.setdefault("error", error.message)
        except Exception:  # the thread must report, whatever happened
            log.exception("runbook %s (%s) failed", definition.name, mode)
            box.setdefault("error", "the runbook engine failed: see the console log")
        finally:
            ready.set()

    threading.Thread(target=work, name=f"egov-runbook-{definition.name}", daemon=True).start()
    ready.wait(START_WAIT)
    if "run_id" in box:
        return int(box["run_id"])
    if "error" in box:
        raise ApiError(409, "refused", str(box["error"]))
    raise ApiError(503, "not_started", "the run did not start in time; see the runs page")


def _form_params(definition: Any) -> dict[str, Any]:
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
def index() -> Any:
    """Every runbook (with the error of those that do not load), recent runs and the drill RTO chart."""
    rows = visible_history(limit=30)
    return render_template("runbooks.html", runbooks=listing(), history=rows, chart=rto_chart(rows))


@bp.get("/runbooks/<name>")
@requires("runbooks.view", scoped=True)
def detail(name: str) -> Any:
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
def start(name: str) -> Any:
    """Start a runbook in a mode with the form's parameters; show its journal."""
    definition = load_definition(name)
    mode = request.form.get("mode", "dry-run")
    try:
        definition, resolved = prepare_start(
            name, mode, _form_params(definition), request.form.get("confirm", "")[:128]
        )
        if mode == "run" and definition.approvals_required > 1:
            made = ask_for_approval(definition, resolved, g.egov_user.name, request.form.get("reason", "")[:500])
            flash(_("Run request %(id)s waits for a second approver.", id=made["id"]), "ok")
            return redirect(url_for("runbooks.approvals"))
        run_id = start_runbook(definition, mode, resolved, f"{g.egov_user.name}@console")
    except BadInputError as error:
        flash(_("The runbook was not started: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.detail", name=name))
    except ApiError as error:
        if error.status in (403, 404):
            raise
        flash(_("The runbook was not started: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.detail", name=name))
    flash(_("Runbook %(name)s started (%(mode)s): run %(id)d.", name=name, mode=mode, id=run_id), "ok")
    return redirect(url_for("runbooks.journal", run_id=run_id))


@bp.get("/runbooks/runs/<int:run_id>")
@requires("runbooks.view", scoped=True)
def journal(run_id: int) -> Any:
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
def stream(run_id: int) -> Any:
    """The run's journal lines after Last-Event-ID (or ?after=) as server-sent events."""
    from controlplane.web.sse import stream_response

    get_runbook_run(run_id)
    return stream_response(run_id)


@bp.get("/runbooks/runs/<int:run_id>/journal.<fmt>")
@requires("runbooks.view", scoped=True)
def export(run_id: int, fmt: str) -> Any:
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
def approvals() -> Any:
    """Run requests waiting for a second approver (and recent decisions) whose targets lie in scope."""
    return render_template("runbooks_approvals.html", requests=visible_requests(), me=g.egov_user.name)


@bp.post("/runbooks/approvals/<request_id>/approve")
@requires("runbooks.approve", scoped=True)
def approve(request_id: str) -> Any:
    """Approve a pending run request (not one's own) and start the run as its requester."""
    try:
        decided = decide(request_id, approve=True, reason=request.form.get("reason", ""), channel="console")
    except DecisionRefused as error:
        flash(_("The request was not decided: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.approvals"))
    try:
        definition, run_id = start_approved(decided, "console")
    except (BadInputError, ApiError) as error:
        flash(_("Approved, but the run did not start: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.approvals"))
    flash(_("Approved: run %(id)d of %(name)s started.", id=run_id, name=definition.name), "ok")
    return redirect(url_for("runbooks.journal", run_id=run_id))


@bp.post("/runbooks/approvals/<request_id>/reject")
@requires("runbooks.approve", scoped=True)
def reject(request_id: str) -> Any:
    """Reject a pending run request (not one's own): it will not run."""
    try:
        decided = decide(request_id, approve=False, reason=request.form.get("reason", ""), channel="console")
    except DecisionRefused as error:
        flash(_("The request was not decided: %(reason)s", reason=error.message), "error")
        return redirect(url_for("runbooks.approvals"))
    flash(_("Run request %(id)s rejected.", id=decided["id"]), "ok")
    return redirect(url_for("runbooks.approvals"))
