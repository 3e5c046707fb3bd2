"""The dashboard: sites, their hosts with the latest run of each, and run counts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from controlplane.web import queries
from controlplane.web.cache import cached_fragment
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state

bp = Blueprint("dashboard", __name__)
# Up to this many hosts in scope the dashboard lists every host; beyond, it summarises per site.
FULL_LIST_HOSTS = 50


@bp.get("/")
@requires("dashboard.view", scoped=True)
def index() -> Any:
    """Show every site in the user's scope with its hosts and their latest run.

    Beyond FULL_LIST_HOSTS hosts (a national or provincial view), each site
    shows counts by latest run state and the hosts that need attention; the
    hosts list has every host, page by page.
    """
    scope = current_scope()
    inventory = state().inventory
    summary = len(queries.visible_hosts(inventory, scope)) > FULL_LIST_HOSTS

    def context() -> dict[str, Any]:
        data = (queries.dashboard_summary if summary else queries.dashboard)(db, inventory, scope)
        return {"data": data, "summary": summary}

    with state().store.session() as db:
        body = cached_fragment(db, ("dashboard", scope, summary), "_dashboard_body.html", context)
    return render_template("dashboard.html", body=body)
