"""The network in the console (MLPS 2.0 8.1.2 安全通信网络, 8.1.3 安全区域边界).

* ``GET /network`` — the topology picture (zones, gateways, allowed flows,
  what the latest verify found failing in red), the zone × zone access
  control matrix, the evidence of every violation and breakage, rule
  hygiene, the allowed flows and the history of verifies;
* ``POST /network/verify`` — verify now (operators and admins; a provincial
  one verifies a zone of its sites), then the run's page.

Pages only: what a reader may see is decided by
:mod:`controlplane.web.network_view`, loading and starting by
:mod:`controlplane.web.services.network` (the JSON API calls the same).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.web.errors import ApiError
from controlplane.web.policy import allowed, requires
from controlplane.web.services.network import network_page, start_verify, verify_zones

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("network", __name__)


def _words(scoped: bool) -> dict[str, str]:
    summary = _("Security zones of the network with their hosts, the gateways between them and the allowed flows.")
    if scoped:
        summary += " " + _("Only the zones of your sites and the flows that touch them are shown.")
    return {
        "stub": _("outside your scope"),
        "management": _("the control plane"),
        "gateway": _("gateway"),
        "summary": summary,
    }


@bp.get("/network")
@requires("network.view", scoped=True)
def index() -> ResponseReturnValue:
    """The network page, cut to the user's scope (network_page() applies it)."""
    from flask import g

    from controlplane.web.network_svg import history_chart, topology

    page = network_page()
    view = page.view
    svg = topology(view, _words(view.scoped)) if view is not None else None
    chart = history_chart(page.history, _("Violations and breakages per verify")) if page.history else None
    may_verify = view is not None and allowed(g.egov_user.role, "network.verify")
    return render_template(
        "network.html",
        page=page,
        view=view,
        svg=svg,
        chart=chart,
        verify_zones=verify_zones() if may_verify else [],
        verdicts={"ok": _("ok"), "violation": _("violation"), "breakage": _("breakage")},
    )


@bp.post("/network/verify")
@requires("network.verify", scoped=True)
def verify() -> ResponseReturnValue:
    """Start a verify (the whole network, or the zone chosen) and go to its run."""
    zone = request.form.get("zone", "").strip() or None
    try:
        run_id = start_verify(zone, "console")
    except ApiError as error:
        if error.status in (403, 404):
            raise
        flash(_("The verify could not be started: %(reason)s", reason=error.message), "error")
        return redirect(url_for("network.index"))
    flash(_("Verify started: run %(id)d.", id=run_id), "ok")
    return redirect(url_for("runs.detail", run_id=run_id))
