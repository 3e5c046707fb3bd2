"""Compliance pages: the site x host matrix, a host's results, one control's evidence and fix,
waivers (security officers add and expire them) and report downloads (audited).

Everything shown is the "current" state: each host's newest stored scan.
Site scope applies everywhere: a school's security officer sees, waives and
downloads only what belongs to the sites they cover.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.errors import BadInputError, ConfigError, EgovError
from controlplane.web import queries
from controlplane.web.helpers import audit_event, current_user, form_text
from controlplane.web.policy import current_scope, require_site, requires
from controlplane.web.site_filter import requested_sites
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from controlplane.compliance.catalog import Catalog
    from controlplane.inventory import Host

bp = Blueprint("compliance", __name__)

STATUS_ORDER = {"fail": 0, "error": 1, "waived": 2, "pass": 3, "not_applicable": 4}
CONTROL_ID = r"^[a-z0-9][a-z0-9._-]{0,95}$"


def catalog() -> Catalog:
    """The catalog in force (shipped + the site's controls folder); a malformed site file is a 500 we log."""
    from pathlib import Path

    from controlplane.compliance.catalog import load_catalog

    return load_catalog(Path(state().config.controls))


def matrix_data(hosts: list[Host]) -> dict[str, Any]:
    """Scores per host and per site over the hosts' current results, and each host's facts."""
    from controlplane.compliance.history import current_results, host_facts, latest_scan_per_host
    from controlplane.compliance.scoring import by_host, by_site

    names = [host.name for host in hosts]
    with state().store.session() as db:
        latest = latest_scan_per_host(db, names)
        results = current_results(db, names)
        facts = host_facts(db, latest) if latest else {}
    return {"results": results, "by_host": by_host(results), "by_site": by_site(results), "facts": facts}


def scoped_host(name: str) -> Host:
    """The inventory host, after checking the user's scope (404 unknown, 403 outside the scope)."""
    try:
        host = state().inventory.host(name)
    except BadInputError:
        abort(404)
    require_site(host.site)
    return host


@bp.get("/compliance")
@requires("compliance.view", scoped=True)
def index() -> ResponseReturnValue:
    """The site x host matrix of current scores (before and after waivers), with the report downloads."""
    from controlplane.compliance.history import recent_scans

    scope = current_scope()
    wanted = requested_sites()
    inventory = state().inventory
    hosts = [h for h in queries.visible_hosts(inventory, scope) if wanted is None or h.site in wanted.sites]
    data = matrix_data(hosts)
    sites = [s for s in queries.visible_sites(inventory, scope) if wanted is None or s in wanted.sites]
    per_site = {site: [host for host in hosts if host.site == site] for site in sites}
    with state().store.session() as db:
        scans = [scan for scan in recent_scans(db, 10) if scope.all_sites or scope.allows(scan.site)]
    return render_template(
        "compliance.html", sites=[s for s in sites if per_site[s]], per_site=per_site, scans=scans,
        site_filter=wanted, **data,
    )  # fmt: skip


@bp.get("/compliance/hosts/<name>")
@requires("compliance.view", scoped=True)
def host(name: str) -> ResponseReturnValue:
    """One host: every control's current result (failures first) and the score over its last scans."""
    from controlplane.compliance.history import host_trend

    found = scoped_host(name)
    data = matrix_data([found])
    results = sorted(data["results"], key=lambda r: (STATUS_ORDER.get(r.status, 9), r.control_id))
    with state().store.session() as db:
        trend = host_trend(db, found.name)
    return render_template(
        "compliance_host.html",
        host=found,
        results=results,
        score=data["by_host"].get(found.name),
        facts=data["facts"].get(found.name),
        trend=trend,
        controls={control.id: control for control in catalog()},
    )


@bp.get("/compliance/hosts/<name>/<control_id>")
@requires("compliance.view", scoped=True)
def control(name: str, control_id: str) -> ResponseReturnValue:
    """One control on one host: what it checks and why, the evidence of each recent scan, and the fix."""
    from sqlalchemy import select

    from controlplane.compliance.models import ComplianceResult, ComplianceScan

    found = scoped_host(name)
    item = catalog().get(control_id)
    with state().store.session() as db:
        rows = db.execute(
            select(ComplianceResult, ComplianceScan.finished_at)
            .join(ComplianceScan, ComplianceScan.id == ComplianceResult.scan_id)
            .where(ComplianceResult.host == found.name, ComplianceResult.control_id == control_id)
            .order_by(ComplianceResult.scan_id.desc())
            .limit(20)
        ).all()
    if item is None and not rows:
        abort(404)
    history = [{"row": row, "at": at} for row, at in rows]
    return render_template("compliance_control.html", host=found, control=item, control_id=control_id, history=history)


def visible_waivers(waivers: list[Any]) -> list[tuple[int, Any]]:
    """(index in the file, waiver) of the waivers whose every host and site the user's scope covers."""
    inventory = state().inventory
    scope = current_scope()
    visible = []
    for index, waiver in enumerate(waivers):
        sites = list(waiver.sites)
        for name in waiver.hosts:
            try:
                sites.append(inventory.host(name).site)
            except BadInputError:
                sites.append("")  # a host no longer in the inventory: ministry level only
        if all(scope.allows(site or None) for site in sites):
            visible.append((index, waiver))
    return visible


@bp.get("/compliance/waivers")
@requires("compliance.view", scoped=True)
def waivers() -> ResponseReturnValue:
    """The waivers in the site's waiver file (in force and expired), with the form to add one."""
    from controlplane.compliance.service import waiver_path
    from controlplane.compliance.waivers import load_waivers

    path = waiver_path(state().config)
    problem = None
    try:
        items = load_waivers(path)
    except ConfigError as error:
        items, problem = [], error.message
    scope = current_scope()
    today = datetime.now(UTC).date()
    inventory = state().inventory
    return render_template(
        "compliance_waivers.html",
        waivers=visible_waivers(items),
        today=today,
        path=path,
        problem=problem,
        controls=catalog(),
        hosts=queries.visible_hosts(inventory, scope),
        sites=queries.visible_sites(inventory, scope),
    )


def _split(text: str) -> list[str]:
    return [word for word in text.replace(",", " ").split() if word]


@bp.post("/compliance/waivers")
@requires("compliance.waive", scoped=True)
def waiver_add() -> ResponseReturnValue:
    """Add a waiver (every field required; the approver is the signed-in security officer by default)."""
    from controlplane.compliance.service import waiver_path
    from controlplane.compliance.waiverfile import add_waiver, new_entry

    inventory = state().inventory
    hosts = _split(form_text("hosts", 2000))
    sites = _split(form_text("sites", 2000))
    for name in hosts:
        scoped_host(name)  # 404 unknown, 403 outside the scope
    for site in sites:
        if site not in inventory.sites:
            raise BadInputError(f"unknown site {site!r}")
        require_site(site)
    current_scope()
    user = current_user()
    try:
        expires = date.fromisoformat(form_text("expires", 10))
    except ValueError:
        raise BadInputError("expires must be a date (YYYY-MM-DD)") from None
    entry = new_entry(
        control=form_text("control", 96),
        hosts=hosts,
        sites=sites,
        justification=form_text("justification", 500),
        approver=form_text("approver", 200) or (user.display_name or user.name),
        expires=expires,
        today=datetime.now(UTC).date(),
    )
    try:
        add_waiver(waiver_path(state().config), entry, catalog().ids)
    except BadInputError as error:
        flash(_("The waiver was not added: %(reason)s", reason=error.message), "error")
        return redirect(url_for("compliance.waivers"))
    audit_event("compliance.waiver.add", entry["control"], **{k: v for k, v in entry.items() if k != "control"})
    flash(_("Waiver added. It applies from the next scan."), "ok")
    return redirect(url_for("compliance.waivers"))


@bp.post("/compliance/waivers/<int:index>/expire")
@requires("compliance.waive", scoped=True)
def waiver_expire(index: int) -> ResponseReturnValue:
    """Make a waiver stop applying today (it stays in the file, marked, and in the reports' expired list)."""
    from controlplane.compliance.service import waiver_path
    from controlplane.compliance.waiverfile import expire_waiver
    from controlplane.compliance.waivers import load_waivers

    path = waiver_path(state().config)
    items = load_waivers(path)
    if not 0 <= index < len(items):
        abort(404)
    if index not in {i for i, _w in visible_waivers(items)}:
        abort(403)
    user = current_user()
    try:
        expire_waiver(path, index, today=datetime.now(UTC).date(), actor=user.name, control=form_text("control", 96))
    except BadInputError as error:
        flash(_("The waiver was not changed: %(reason)s", reason=error.message), "error")
        return redirect(url_for("compliance.waivers"))
    audit_event("compliance.waiver.expire", items[index].control, hosts=list(items[index].hosts),
                sites=list(items[index].sites), was=items[index].expires.isoformat())  # fmt: skip
    flash(_("Waiver expired. The next scan reports the control as failing again."), "ok")
    return redirect(url_for("compliance.waivers"))


@bp.get("/compliance/report.<fmt>")
@requires("compliance.view", scoped=True)
def report(fmt: str) -> ResponseReturnValue:
    """Download the report of the newest scan (html, json, csv, oscal), restricted to the user's scope; audited."""
    from controlplane.compliance.export import FORMATS, MEDIA_TYPES, filename, load_report, render, report_digest

    if fmt not in FORMATS:
        abort(404)
    scope = current_scope()
    inventory = state().inventory
    site = request.args.get("site") or None
    if site is not None:
        if site not in inventory.sites:
            abort(404)
        require_site(site)
    allowed = None if scope.all_sites else [host.name for host in queries.visible_hosts(inventory, scope)]
    label = None if scope.all_sites else "sites " + ", ".join(sorted(s for s in scope.sites if s in inventory.sites))
    try:
        data = load_report(
            state().config, state().store, site=site, inventory=inventory, allowed=allowed, scope_label=label
        )
    except EgovError:
        audit_event("compliance.report", site or "scope", "not_found", format=fmt)
        abort(404)
    content = render(data, fmt)
    digest = report_digest(state().config, content)
    audit_event(
        "compliance.report", data.scope, "ok", format=fmt, scan_id=data.stored.id, bytes=len(content), digest=digest
    )
    response = Response(content, mimetype=MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename(data, fmt)}"'
    return response
