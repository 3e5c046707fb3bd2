"""The dashboard: sites, their hosts with the latest run of each, and run counts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from controlplane.web import queries
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@requires("dashboard.view", scoped=True)
def index() -> Any:
    """Show every site in the user's scope with its hosts and their latest run."""
    scope = current_scope()
    with state().store.session() as db:
        data = queries.dashboard(db, state().inventory, scope)
    return render_template("dashboard.html", data=data)
