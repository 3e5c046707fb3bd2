"""Backups in the console: the dataset × host grid, one unit's snapshots and drills, run now, drill, restore.

The grid colours each cell by the age of the last success against the
dataset's RPO (the verdicts of :mod:`controlplane.backup.report`). Run now,
drill and restore are started by :mod:`controlplane.web.services.backup`
(the run row shows the progress on the runs page); restores are admin-only
and audited with the console user as actor. Everything is site-scoped: a
user sees and acts on the units of the sites in scope only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from controlplane.errors import BadInputError, EgovError
from controlplane.web.policy import current_scope, require_site, requires
from controlplane.web.services.backup import ACTIONS, centers_of, find_unit, policy_view, start_operation
from controlplane.web.site_filter import requested_sites
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("backup", __name__)
SNAPSHOT = re.compile(r"latest|[0-9a-f]{8,64}")


@bp.get("/backup")
@requires("backup.view", scoped=True)
def index() -> ResponseReturnValue:
    """The dataset × host grid, coloured by age against the RPO, within the user's scope."""
    from controlplane.backup.report import readiness

    scope = current_scope()
    wanted = requested_sites()
    view = policy_view()
    rows = [
        row for row in readiness(view) if scope.allows(row["site"]) and (wanted is None or wanted.covers(row["site"]))
    ]
    datasets = [d.name for d in view.policy.datasets if any(r["dataset"] == d.name for r in rows)]
    hosts = sorted({row["host"] for row in rows})
    grid = {(row["dataset"], row["host"]): row for row in rows}
    return render_template(
        "backup.html",
        datasets=datasets,
        hosts=hosts,
        grid=grid,
        rows=rows,
        centers=centers_of(view),
        site_filter=wanted,
    )


@bp.get("/backup/<dataset>/<host>")
@requires("backup.view", scoped=True)
def detail(dataset: str, host: str) -> ResponseReturnValue:
    """One unit: its figures, recent snapshots (as recorded by our runs), runs and drills."""
    from controlplane.backup import records
    from controlplane.backup.report import readiness
    from controlplane.store.models import Run

    view = policy_view()
    unit = find_unit(view, dataset, host)
    row = next(r for r in readiness(view) if r["dataset"] == dataset and r["host"] == host)
    with state().store.session() as db:
        snapshots = records.recent_snapshots(db, dataset, host, 30)
        drills = records.recent_drills(db, dataset, host, 20)
        runs = db.scalars(select(Run).where(Run.target == f"{dataset}@{host}").order_by(Run.id.desc()).limit(20)).all()
        db.expunge_all()
    return render_template(
        "backup_detail.html",
        unit=unit,
        row=row,
        snapshots=snapshots,
        drills=drills,
        runs=runs,
        roots=view.policy.restore_roots,
        centers=centers_of(view),
    )


@bp.post("/backup/<dataset>/<host>/run")
@requires("backup.run", scoped=True)
def run_now(dataset: str, host: str) -> ResponseReturnValue:
    """Start a backup (``action=backup``) or a restore drill (``action=drill``) now."""
    view = policy_view()
    unit = find_unit(view, dataset, host)
    action = request.form.get("action", "backup")
    if action not in ACTIONS:
        abort(400)
    if action == "drill" and unit.dataset.drill is None:
        abort(400)
    if action == "copy" and (view.policy.secondary is None or view.active != "primary"):
        abort(400)
    run_id = start_operation(action, dataset, host)
    flash(f"{action} of {dataset}@{host} started: run {run_id}", "info")
    return redirect(url_for("backup.detail", dataset=dataset, host=host))


@bp.post("/backup/<dataset>/<host>/restore")
@requires("backup.restore", scoped=True)
def restore_now(dataset: str, host: str) -> ResponseReturnValue:
    """Start a restore into an allowed restore root (never in place from the console)."""
    from controlplane.backup.restore import check_restore_dir

    view = policy_view()
    find_unit(view, dataset, host)
    snapshot = request.form.get("snapshot", "latest").strip() or "latest"
    to_host = request.form.get("to_host", "").strip() or None
    try:
        folder = check_restore_dir(request.form.get("target", ""), view.policy.restore_roots)
        if to_host is not None:
            to_site = state().inventory.host(to_host).site
            require_site(to_site)
        if not SNAPSHOT.fullmatch(snapshot):
            raise BadInputError(f"snapshot {snapshot!r} is not 'latest' or a hexadecimal snapshot id")
    except (BadInputError, EgovError) as error:
        flash(error.message, "error")
        return redirect(url_for("backup.detail", dataset=dataset, host=host))
    run_id = start_operation("restore", dataset, host, directory=folder, snapshot=snapshot, to_host=to_host)
    flash(f"restore of {dataset}@{host} into {to_host or host}:{folder} started: run {run_id}", "info")
    return redirect(url_for("backup.detail", dataset=dataset, host=host))
