"""Provision and harden in the console: start a run, watch each host, see drift and history.

* ``GET /automation`` — the start form (provision / harden, optional host
  pattern, ``--check``, ``--diff``), recent playbook runs and the drift of
  every host in scope;
* ``POST /automation/start`` — start a run in the background (audited) and
  redirect to its page;
* ``GET /automation/runs/<id>`` — per-host progress (refreshed by
  ``static/automation.js`` from ``…/progress``) above the run's live output
  (the runs page's SSE stream);
* ``GET /automation/runs/<id>/progress`` — the per-host counters as JSON;
* ``GET /automation/hosts/<name>`` — one host's drift and playbook run history.

Pages only: scope, validation and the start are decided in
:mod:`controlplane.web.services.automation`, which the JSON API calls too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.store.models import Run
from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope, requires
from controlplane.web.services.automation import (
    KINDS,
    drift_in_scope,
    host_in_scope,
    progress_of,
    scoped_history,
    start_playbook,
)
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("automation", __name__)


@bp.get("/automation")
@requires("automation.view", scoped=True)
def index() -> ResponseReturnValue:
    """The start form, recent provision/harden runs and the drift of every host in scope."""
    from controlplane.automation.report import recent_runs

    scope = current_scope()
    with state().store.session() as db:
        runs = recent_runs(db, scope.allows)
    rows = drift_in_scope()
    return render_template("automation.html", runs=runs, drift=rows, kinds=KINDS)


@bp.post("/automation/start")
@requires("automation.start", scoped=True)
def start() -> ResponseReturnValue:
    """Start provision or harden (optionally ``--check``) on a host pattern; go to the run's page."""
    kind = request.form.get("kind", "")
    limit = request.form.get("limit", "")
    check = request.form.get("check") in ("1", "on", "true")
    diff = request.form.get("diff") in ("1", "on", "true")
    try:
        started = start_playbook(kind, limit, check, diff, "console")
    except ApiError as error:
        if error.status in (403, 404):
            raise
        flash(_("The run could not be started: %(reason)s", reason=error.message), "error")
        return redirect(url_for("automation.index"))
    flash(_("Run %(id)d started.", id=started.run_id), "ok")
    return redirect(url_for("automation.run", run_id=started.run_id))


@bp.get("/automation/runs/<int:run_id>")
@requires("automation.view", scoped=True)
def run(run_id: int) -> ResponseReturnValue:
    """A provision/harden run: per-host progress (live) above the run's output (live)."""
    from controlplane.runs import read_output
    from controlplane.store.models import RunStatus

    data = progress_of(run_id)
    with state().store.session() as db:
        row = db.get(Run, run_id)
        lines = read_output(db, run_id, after=max(0, (row.output_lines if row else 0) - 2000), limit=2000)
    final = data["final"]
    return render_template(
        "automation_run.html", run=row, progress=data, lines=lines, final=final, statuses=RunStatus.FINAL
    )


@bp.get("/automation/runs/<int:run_id>/progress")
@requires("automation.view", scoped=True)
def progress(run_id: int) -> ResponseReturnValue:
    """The run's per-host counters as JSON (polled by the run page)."""
    return jsonify(progress_of(run_id))


@bp.get("/automation/hosts/<name>")
@requires("automation.view", scoped=True)
def host(name: str) -> ResponseReturnValue:
    """One host: its drift per playbook and the provision/harden runs that touched it."""
    from controlplane.automation.report import drift

    found = host_in_scope(name)
    with state().store.session() as db:
        rows = drift(db, [found.name])
        history = scoped_history(db, found)
    return render_template("automation_host.html", host=found, drift=rows, history=history, kinds=KINDS)
