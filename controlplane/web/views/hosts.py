"""Hosts: the list (by site, within scope) and one host with the runs that touched it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from controlplane.errors import BadInputError
from controlplane.web import queries
from controlplane.web.policy import current_scope, require_site, requires
from controlplane.web.state import state

bp = Blueprint("hosts", __name__)


@bp.get("/hosts")
@requires("hosts.view", scoped=True)
def index() -> Any:
    """List the hosts of the sites in the user's scope."""
    scope = current_scope()
    inventory = state().inventory
    with state().store.session() as db:
        hosts = queries.visible_hosts(inventory, scope)
        latest = queries.latest_run_per_host(hosts, queries.recent_runs(db, scope))
    return render_template("hosts.html", hosts=hosts, latest=latest, sites=inventory.sites)


@bp.get("/hosts/<name>")
@requires("hosts.view", scoped=True)
def detail(name: str) -> Any:
    """Show one host and the runs that touched it."""
    inventory = state().inventory
    try:
        host = inventory.host(name)
    except BadInputError:
        abort(404)
    require_site(host.site)
    with state().store.session() as db:
        runs = queries.runs_for_host(db, host)
    return render_template("host.html", host=host, runs=runs, site=inventory.sites.get(host.site))
