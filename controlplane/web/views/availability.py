"""Service levels in the console: ``/availability`` (scoped) and the public status page ``/status``.

``/availability`` shows the objectives of the services in the user's
scope: availability and budget over each one's window, this month's daily
bars and budget burn-down (server-rendered SVG, no script), the maintenance
windows (declare, end) and the written monthly reports. ``/status`` needs no
login and shows only what :mod:`controlplane.slo.status` lets out. The
views translate HTTP to the engine's calls; scope is checked here (the
engine checks it again), policy lives in :mod:`controlplane.web.policy`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from markupsafe import Markup

from controlplane.errors import BadInputError, EgovError
from controlplane.web.helpers import client_address, current_user, form_text
from controlplane.web.policy import ANONYMOUS, current_scope, require_site, requires
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from controlplane.slo.site import SiteLevels

bp = Blueprint("availability", __name__)
log = logging.getLogger(__name__)
MAX_SERVICES_FIELD = 4000


def language() -> str:
    """zh or en, after the console's own choice (the user's setting, else the browser)."""
    from flask_babel import get_locale

    from controlplane.slo.labels import lang_of

    return lang_of(get_locale())


@bp.app_template_global("slo_text")
def slo_text(key: str, **values: Any) -> str:
    """A word of the service-level pages in the interface's language (for templates, the navigation too)."""
    from controlplane.slo.labels import text

    return text(language(), key, **values)


def site_levels() -> SiteLevels | None:
    """The site's objectives, or None when slo.yml or the monitoring folder does not load (logged, shown)."""
    from controlplane.slo.site import load_levels

    try:
        return load_levels(state().config, state().inventory, strict=False)
    except EgovError as error:
        log.warning("service levels do not load: %s", error.message)
        return None


def _time(text: str, zone: dt.tzinfo, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"{name}: {text!r} is not a date and time") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


@bp.get("/availability")
@requires("availability.view", scoped=True)
def index() -> ResponseReturnValue:
    """Objectives, budgets and this month's charts of the services in scope; maintenance; reports."""
    from sqlalchemy import select

    from controlplane.slo import charts
    from controlplane.slo.maintenance import list_windows
    from controlplane.slo.models import ReportFile
    from controlplane.slo.report import build_report, current_figures
    from controlplane.store.models import utcnow

    scope = current_scope()
    levels = site_levels()
    lang = language()
    now = utcnow()
    sections, figures, markup = [], {}, {}
    if levels is not None:
        local = now.astimezone(levels.slo.zone)
        report = build_report(state().store, levels, f"{local.year:04d}-{local.month:02d}", scope=scope, now=now)
        sections = report["services"]
        services = levels.services_for(None, scope)
        figures = {name: f.as_dict() for name, f in current_figures(state().store, levels, services, now).items()}
        windows = {s.name: s.window for s in services}
        for section in sections:
            section["window"] = windows.get(section["name"], "month")
            markup[section["name"]] = {  # our own SVG: numbers and escaped words only
                "daily": Markup(charts.daily_bars(section["days"], section["objective"], lang)),  # noqa: S704
                "burn": Markup(charts.burn_down(section["burn_down"], len(section["days"]), lang)),  # noqa: S704
            }
    windows_list = list_windows(state().store, scope=scope, since=now - dt.timedelta(days=31), now=now)
    with state().store.session() as db:
        rows = db.scalars(select(ReportFile).order_by(ReportFile.month.desc(), ReportFile.site, ReportFile.lang))
        reports = [r for r in rows if scope.allows(r.site or None)]
        db.expunge_all()
    sites = sorted(name for name in state().inventory.sites if scope.allows(name))
    return render_template("availability.html", sections=sections, figures=figures, charts=markup,
                           windows=windows_list, reports=reports, sites=sites, broken=levels is None,
                           lang=lang)  # fmt: skip


@bp.get("/availability/reports/<int:report_id>")
@requires("availability.view", scoped=True)
def report_file(report_id: int) -> ResponseReturnValue:
    """Download a written report (a national one only for ministry-level users)."""
    from controlplane.slo.models import ReportFile
    from controlplane.slo.schedule import report_folder

    with state().store.session() as db:
        row = db.get(ReportFile, report_id)
        found = (row.site, row.path) if row is not None else None
    if found is None:
        abort(404)
    require_site(found[0] or None)
    path = Path(found[1]).resolve()
    if path.parent != report_folder(state().config).resolve() or not path.is_file():
        abort(404)
    return send_file(path, as_attachment=True, download_name=path.name)


@bp.post("/availability/maintenance")
@requires("maintenance.manage", scoped=True)
def maintenance_add() -> ResponseReturnValue:
    """Declare a maintenance window for a site in scope (403 for another site)."""
    from controlplane.slo.maintenance import add_window

    site = form_text("site", 64)
    require_site(site)
    text = request.form.get("services", "")
    if len(text) > MAX_SERVICES_FIELD:
        abort(400)
    levels = site_levels()
    try:
        if levels is None:
            raise BadInputError("monitoring/slo.yml does not load: see the log")
        zone = levels.slo.zone
        made = add_window(
            state().store, levels.slo, levels.inventory, site=site,
            services=[word.strip() for line in text.splitlines() for word in line.split(",") if word.strip()],
            starts_at=_time(form_text("start", 40), zone, "start"), ends_at=_time(form_text("end", 40), zone, "end"),
            reason=form_text("reason", 2000), actor=current_user().name,
            after_the_fact=request.form.get("after_the_fact") == "1", scope=current_scope(), client=client_address(),
        )  # fmt: skip
    except BadInputError as error:
        flash(error.message, "error")
    else:
        flash(f"{slo_text('maintenance')} #{made['id']} ({slo_text(made['kind'])})", "ok")
    return redirect(url_for("availability.index"))


@bp.post("/availability/maintenance/<int:window_id>/end")
@requires("maintenance.manage", scoped=True)
def maintenance_end(window_id: int) -> ResponseReturnValue:
    """End a maintenance window of a site in scope now."""
    from controlplane.slo.maintenance import end_window
    from controlplane.slo.models import MaintenanceWindow

    with state().store.session() as db:
        row = db.get(MaintenanceWindow, window_id)
        site = row.site if row is not None else None
    if site is None:
        abort(404)
    require_site(site)
    try:
        end_window(state().store, window_id, actor=current_user().name, scope=current_scope(), client=client_address())
    except BadInputError as error:
        flash(error.message, "error")
    else:
        flash(f"{slo_text('maintenance')} #{window_id}: {slo_text('end_window')}", "ok")
    return redirect(url_for("availability.index"))


@bp.get("/status")
@requires(ANONYMOUS)
def status() -> ResponseReturnValue:
    """The public status page: public services' titles, states and last 90 days (no login, nothing internal)."""
    from controlplane.slo import charts
    from controlplane.slo.status import public_status

    levels = site_levels()
    lang = language()
    services = public_status(state().store, levels) if levels is not None else []
    for item in services:
        item["strip"] = Markup(charts.status_strip(item["days"], item["objective"], lang))  # noqa: S704
    return render_template("status.html", services=services, lang=lang)
