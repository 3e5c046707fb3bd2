"""Hosts: the list (by site, within scope) and one host with the runs that touched it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, render_template

from controlplane.errors import BadInputError
from controlplane.web import queries
from controlplane.web.cache import cached_fragment
from controlplane.web.policy import current_scope, require_site, requires
from controlplane.web.state import state
from controlplane.web.validation import query_int, query_text

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("hosts", __name__)
PER_PAGE = 50


@bp.get("/hosts")
@requires("hosts.view", scoped=True)
def index() -> ResponseReturnValue:
    """List the hosts of the sites in the user's scope (or of one site and those below it), 50 a page."""
    scope = current_scope()
    inventory = state().inventory
    site = query_text("site", r"^[a-z0-9][a-z0-9-]{0,62}$")
    if site is not None:
        if site not in inventory.sites:
            abort(404)
        require_site(site)
    page = query_int("page", 1, 1, 100000)
    hosts = queries.visible_hosts(inventory, scope)
    if site is not None:
        below = inventory.site_and_descendants(site)
        hosts = [host for host in hosts if host.site in below]
    listing = queries.Page(hosts[(page - 1) * PER_PAGE : page * PER_PAGE], page, PER_PAGE, len(hosts))

    def context() -> dict[str, Any]:
        latest = queries.latest_states(db, scope, listing.items)
        return {"hosts": listing.items, "listing": listing, "site": site, "latest": latest}

    with state().store.session() as db:
        body = cached_fragment(db, ("hosts", scope, site, page), "_hosts_body.html", context)
    return render_template("hosts.html", body=body)


@bp.get("/hosts/<name>")
@requires("hosts.view", scoped=True)
def detail(name: str) -> ResponseReturnValue:
    """Show one host and the runs that touched it."""
    inventory = state().inventory
    try:
        host = inventory.host(name)
    except BadInputError:
        abort(404)
    require_site(host.site)
    with state().store.session() as db:
        runs = queries.runs_for_host(db, current_scope(), host)
    return render_template("host.html", host=host, runs=runs, site=inventory.sites.get(host.site))
