"""Host health in the console: a grid per site from the latest probe results, with a sparkline per host.

The sparkline is server-rendered SVG (no script, no chart library): the
probe history of one check of the host (its reachability check when it has
one), latency as a line and failures as red marks. Site-scoped: a user sees
the sites in scope only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template

from controlplane.web.policy import current_scope, requires
from controlplane.web.site_filter import requested_sites
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("monitoring", __name__)
SPARK_POINTS = 40
SPARK_WIDTH = 120
SPARK_HEIGHT = 24
PREFERRED = ("ssh", "reach", "tcp", "ping", "http")


def chart_check(checks: list[str]) -> str | None:
    """The check a host's sparkline shows: a reachability check when there is one, else the first."""
    for word in PREFERRED:
        for check in checks:
            if word in check:
                return check
    return checks[0] if checks else None


def sparkline(points: list[dict[str, Any]], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> dict[str, Any]:
    """Geometry of a sparkline of probe results (oldest first): a polyline of latencies and failure marks.

    Returns ``{"width", "height", "line", "failures": [(x, y)], "count", "failed", "max_ms"}``;
    only numbers go into the SVG, so nothing from a probe message reaches the markup.
    """
    durations = [max(0.0, float(p.get("duration_seconds") or 0.0)) for p in points]
    top = max(durations, default=0.0) or 1.0
    step = width / max(1, len(points) - 1)
    coords = []
    failures = []
    for index, (point, duration) in enumerate(zip(points, durations, strict=True)):
        x = round(index * step if len(points) > 1 else width / 2, 1)
        y = round(height - 2 - (duration / top) * (height - 4), 1)
        coords.append(f"{x},{y}")
        if not point.get("success"):
            failures.append((x, y))
    return {
        "width": width,
        "height": height,
        "line": " ".join(coords),
        "failures": failures,
        "count": len(points),
        "failed": len(failures),
        "max_ms": round(top * 1000, 1) if durations else 0,
    }


@bp.get("/monitoring")
@requires("alerts.view", scoped=True)
def index() -> ResponseReturnValue:
    """Host health per site (latest probe results), each host with a sparkline of its probe history."""
    from controlplane.monitoring.alert_actions import health_grid
    from controlplane.monitoring.results import history

    scope = current_scope()
    wanted = requested_sites()
    grid = {
        site: hosts
        for site, hosts in health_grid(state().store).items()
        if scope.allows(site) and (wanted is None or wanted.covers(site))
    }
    sparks: dict[tuple[str, str], Any] = {}
    with state().store.session() as db:
        for site, hosts in grid.items():
            for host, cell in hosts.items():
                check = chart_check(sorted(cell["checks"]))
                if check is not None:
                    sparks[(site, host)] = {"check": check, **sparkline(history(db, check, host, SPARK_POINTS))}
    from controlplane.lease import read_lease

    lease = read_lease(state().store)  # which egov serve process runs the probes (and the scheduler)
    leader = lease.as_dict() if lease else None
    return render_template("monitoring.html", grid=grid, sparks=sparks, site_filter=wanted, leader=leader)
