"""The network for the console and the API: the model, the latest verify and its history, cut to scope; verify now.

Reading: the flow file is read and validated per request (a few
milliseconds; an operator's edit shows at once) and the latest
whole-network verify is read from the store; :mod:`controlplane.web.network_view`
cuts both to the reader's scope. A flow file with errors is not a server
error: the page says what is wrong (the same messages ``egov network show``
prints) and the API answers 409 ``network_invalid``.

Verify now: a ministry-level operator or admin verifies the whole network; a
provincial one verifies one zone of its sites (``zone``), and the run
belongs to that zone's site so that they can follow it. The run is created
queued and handed to the dispatcher like every console start
(:mod:`controlplane.dispatch`); :func:`execute_task` is the dispatcher's task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import abort, g

from controlplane.errors import ConfigError
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event
from controlplane.web.policy import current_scope
from controlplane.web.services.dispatching import dispatch
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.inventory import Inventory
    from controlplane.network.model import NetworkModel
    from controlplane.network.results import VerifyReport
    from controlplane.store.models import Run
    from controlplane.web.network_view import NetworkView
    from controlplane.web.state import ConsoleState

KIND = "network-verify"
HISTORY = 30  # verifies in the history chart and table


@dataclass(frozen=True)
class NetworkPage:
    """What the page and the API show: the view (None without a flow file), the history, or why the file is bad."""

    view: NetworkView | None
    history: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "key.path: message" of an invalid flow file
    source: str = ""


def load_model() -> NetworkModel | None:
    """The validated model of the console's flow file; None when the site has none.

    Raises ConfigError (every problem of the file at once) for a bad file.
    """
    from controlplane.network.model import load_network

    console = state()
    return load_network(console.config, console.inventory)


def _problems(error: ConfigError) -> list[str]:
    found = getattr(error, "problems", None) or []
    return [f"{where}: {message}" if where else str(message) for where, message in found] or [str(error)]


def _run_sites(run_ids: list[int]) -> dict[int, str | None]:
    from sqlalchemy import select

    from controlplane.store.models import Run

    if not run_ids:
        return {}
    with state().store.session() as db:
        return dict(db.execute(select(Run.id, Run.site).where(Run.id.in_(run_ids))).tuples().all())


def network_page() -> NetworkPage:
    """The model and verifies cut to the current user's scope (see :mod:`controlplane.web.network_view`)."""
    from controlplane.network.model import network_file
    from controlplane.network.results import latest_report, list_reports
    from controlplane.web.network_view import build_view

    scope = current_scope()
    console = state()
    source = network_file(console.config).name  # the file's name only: readers need not learn the server's paths
    try:
        model = load_model()
    except ConfigError as error:
        return NetworkPage(None, problems=_problems(error), source=source)
    if model is None:
        return NetworkPage(None, source=source)
    with console.store.session() as db:
        latest = latest_report(db)
        past = list_reports(db, HISTORY)
    inventory = console.inventory
    scoped = not scope.all_sites
    view = build_view(model, latest, inventory, scope.allows, scoped=scoped)
    sites = _run_sites([r.run_id for r in past if r.run_id is not None])
    own = {host.name for host in inventory.hosts if scope.allows(host.site)} if scoped else None
    history = []
    for report in reversed(past):  # oldest first: the chart reads left to right
        point = history_point(report, own)
        if scoped and not point["paths"]:
            continue  # a verify of other sites' zones only: nothing of it is this reader's
        zone_shown = report.zone is None or not scoped or report.zone in view.matrix_zones
        run_shown = report.run_id is not None and report.run_id in sites and scope.allows(sites[report.run_id])
        point.update(zone=report.zone if zone_shown else "…", run_id=report.run_id if run_shown else None)
        point["actor"] = report.actor if not scoped else None
        history.append(point)
    return NetworkPage(view, history, source=source)


def history_point(report: VerifyReport, hosts: set[str] | None) -> dict[str, Any]:
    """One past verify as the history chart and table show it, counted over the paths touching ``hosts`` (None: all)."""
    paths = [p for p in report.paths if hosts is None or p.source in hosts or p.destination in hosts]
    return {
        "id": report.id,
        "run_id": report.run_id,
        "started_at": report.started_at.isoformat(),
        "paths": len(paths),
        "violations": sum(1 for p in paths if p.verdict == "violation"),
        "breakages": sum(1 for p in paths if p.verdict == "breakage"),
    }


def verify_zones() -> list[str]:
    """The zones the current user may verify alone: those of the view drawn in full (empty without a model)."""
    try:
        model = load_model()
    except ConfigError:
        return []
    if model is None:
        return []
    scope = current_scope()
    hosts = {host.name for host in state().inventory.hosts if scope.allows(host.site)}
    return [name for name, zone in model.zones.items() if zone.members and any(h in hosts for h in zone.members)]


def _zone_site(model: NetworkModel, zone: str) -> str | None:
    """The site a zone verify belongs to: the first site of the zone's members the user may see."""
    scope = current_scope()
    sites = {host.name: host.site for host in state().inventory.hosts}
    for member in model.zones[zone].members:
        if scope.allows(sites.get(member)):
            return sites.get(member)
    abort(403)


def start_verify(zone: str | None, via: str) -> int:
    """Queue a verify for the current user and dispatch it; return the run id.

    A ministry-level user may verify the whole network (``zone`` None) or one
    zone; a user limited to some sites must name a zone holding hosts of
    them, and the run then belongs to that zone's site. The matrix is planned
    here (:func:`controlplane.network.verify.plan_verify`), so bad input is
    refused before any run exists. Raises ApiError 400 (unknown zone, or none
    named by a scoped user), 403 (a zone outside the scope), 409 (no or an
    invalid flow file, no SSH key), 503 (the dispatcher is full).
    """
    from controlplane.errors import BadInputError
    from controlplane.network.verify import RUN_KIND, plan_verify
    from controlplane.runs import create_run

    console = state()
    scope = current_scope()
    try:
        model = load_model()
    except ConfigError as error:
        raise ApiError(409, "network_invalid", "; ".join(_problems(error))[:500]) from None
    if model is None:
        raise ApiError(409, "no_network", "this site has no flow file (inventory network.yml)")
    if zone is not None and zone not in model.zones:
        raise ApiError(400, "invalid", "no such zone in the flow file")
    if zone is None and not scope.all_sites:
        raise ApiError(400, "invalid", "name one zone of your sites to verify (the whole network is the ministry's)")
    site = _zone_site(model, zone) if zone is not None and not scope.all_sites else None  # 403 outside the scope
    key = Path(console.config.ssh_key_file)
    if not key.is_file():
        raise ApiError(
            409, "no_ssh_key", f"the control plane's SSH key {key} does not exist (ssh.key_file in egov.yml)"
        )
    try:
        plan = plan_verify(console.config, zone=zone, inventory=console.inventory)
    except BadInputError as error:
        raise ApiError(409, "network_invalid", error.message[:500]) from None
    user = g.egov_user
    with console.store.session() as db:
        run = create_run(
            db, kind=RUN_KIND, target=plan.scope, actor=f"{user.name}@{via}", trigger=via, site=site,
            params={"zone": zone, "hosts": [], "sources": [source.name for source in plan.sources]}, start=False,
        )  # fmt: skip
        run_id = run.id
    audit_event("network.verify.start", f"run:{run_id}", zone=zone or "all", site=site)
    return dispatch(run_id)


def latest_document(view: NetworkView) -> dict[str, Any]:
    """The API's answer: the model and the latest verify as the current user may see them (JSON-ready)."""
    from dataclasses import asdict

    named = {node.name for node in view.gateways if node.name}
    # A zone's gateway is the layout's key: named only when the reader may see that gateway.
    zones = [{**asdict(zone), "gateway": zone.gateway if zone.gateway in named else None} for zone in view.zones]
    return {
        "scoped": view.scoped,
        "zones": zones,
        "gateways": [{"name": node.name, "zones": list(node.zones)} for node in view.gateways if node.name],
        "flows": [
            {"id": f.id, "reason": f.reason, "ports": list(f.ports), "pairs": [list(p) for p in f.pairs]}
            for f in view.flows
        ],
        "verify": None if view.report is None else {**asdict(view.report), "ok": view.report.ok},
        "paths": [asdict(path) for path in view.paths],
        "findings": [asdict(finding) for finding in view.findings],
    }


def execute_task(console: ConsoleState, run: Run) -> None:
    """The dispatcher's task for verify runs: the steps of ``run_verify`` on the run the console queued.

    :func:`controlplane.network.verify.run_verify` creates its own run; the
    console's run exists already (queued, with its site). A run that belongs
    to a site (a provincial operator's zone verify) writes in its output only
    what that site's readers may see on the page: the sources of its sites,
    and problems with their out-of-scope ends masked. Raises what the verify
    raises (the dispatcher then ends the run failed with the error).
    """
    from controlplane import audit
    from controlplane.network.results import save_report
    from controlplane.network.verify import execute_verify, plan_verify, problem_lines, run_status
    from controlplane.runs import append_output, finish_run
    from controlplane.ssh import SSHPool
    from controlplane.store.models import Run as RunRow

    config, store, inventory = console.config, console.store, console.inventory
    plan = plan_verify(config, zone=(run.params or {}).get("zone"), inventory=inventory)
    sites = inventory.site_and_descendants(run.site) if run.site else None
    own = {host.name for host in inventory.hosts if sites is None or host.site in sites}

    def progress(done: Any) -> None:
        if done.name in own or (sites is None) or done.name == "controlplane":
            with store.session() as db:
                append_output(db, db.get(RunRow, run.id), [done.line])

    pool = SSHPool.from_config(config)
    try:
        report = execute_verify(plan, pool, ssh_user=config.ssh_user, on_source=progress, actor=run.actor)
    finally:
        pool.close()
    status = run_status(report)
    with store.session() as db:
        verify_id = save_report(db, report, run_id=run.id, actor=run.actor)
        stored = report.with_ids(verify_id, run.id)
        row = db.get(RunRow, run.id)
        lines = problem_lines(stored) if sites is None else _site_lines(plan.model, inventory, stored, sites)
        append_output(db, row, lines)
        counted = _site_counts(plan.model, inventory, stored, sites)
        append_output(db, row, [f"verify {verify_id}: {counted}"])
        finish_run(db, row, status, summary=stored.summary(), exit_code=stored.exit_code)
    audit.append(
        store, actor=run.actor, action="network.verify", target=plan.scope, outcome=status, client="console",
        details={"verify_id": verify_id, "run_id": run.id, "paths": len(stored.paths), "site": run.site,
                 "violations": len(stored.violations), "breakages": len(stored.breakages)},
        site=run.site,
    )  # fmt: skip


def _site_lines(model: NetworkModel, inventory: Inventory, report: Any, sites: set[str]) -> list[str]:
    """Problem lines of a site's run: like ``problem_lines``, with the ends outside ``sites`` masked."""
    from controlplane.web.network_view import visible_paths

    lines = []
    for row in visible_paths(model, inventory, lambda site: site in sites, report.paths):
        if row.verdict == "ok":
            continue
        source = row.source or f"({row.source_zone})"
        destination = f"{row.destination or f'({row.destination_zone})'} {row.address or ''}".rstrip()
        port = f":{row.port}" if row.port is not None else ""
        lines.append(f"{row.verdict.upper()} {source} -> {destination}{port}/{row.protocol} observed {row.observed}: "
                     f"{row.rule or '-'}")  # fmt: skip
    return lines[:100]


def _site_counts(model: NetworkModel, inventory: Inventory, report: Any, sites: set[str] | None) -> str:
    """The closing line's counts: over every path, or over the paths a site's readers may see."""
    from controlplane.web.network_view import visible_paths

    if sites is None:
        paths = list(report.paths)
        findings = len(report.findings)
    else:
        paths = visible_paths(model, inventory, lambda site: site in sites, report.paths)
        findings = 0
    violations = sum(1 for p in paths if p.verdict == "violation")
    breakages = sum(1 for p in paths if p.verdict == "breakage")
    text = f"{len(paths)} paths, {violations} violation(s), {breakages} breakage(s)"
    return text + (f", {findings} finding(s)" if sites is None else "")
