"""Read models shared by the pages and the API: sites, hosts, runs, the dashboard.

Each function takes the caller's :class:`~controlplane.web.policy.Scope` and
returns only what it covers, so a page and its API twin cannot disagree on
what a user may see.

Runs name their target as an Ansible-like pattern (a host, a group, a site,
a glob, or a list of those); which hosts a run touched is decided with the
same rules as ``Inventory.select``. Recent runs are scanned in memory: fine
for a lab or a province; a national deployment would keep a run-host table.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.inventory import Host, Inventory
from controlplane.store.models import Run, RunStatus
from controlplane.web.policy import Scope

RECENT_RUNS = 1000


def host_matches(host: Host, target: str) -> bool:
    """True when a run target pattern selects the host (same rules as Inventory.select)."""
    words = [w.strip() for w in re.split(r"[,:]", target or "") if w.strip()]
    if "all" in words:
        return True
    return any(fnmatch.fnmatchcase(host.name, w) or w in host.groups or w == host.site or w == host.role for w in words)


def site_dict(inventory: Inventory, name: str) -> dict[str, Any]:
    """Return one site as JSON-safe data."""
    site = inventory.sites[name]
    return {"name": site.name, "level": site.level, "parent": site.parent, "title_zh": site.title_zh}


def host_dict(host: Host) -> dict[str, Any]:
    """Return one host as JSON-safe data."""
    return {
        "name": host.name,
        "address": host.address,
        "site": host.site,
        "role": host.role,
        "groups": list(host.groups),
    }


def visible_sites(inventory: Inventory, scope: Scope) -> list[str]:
    """Return the site names the scope covers, parents before children."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        ordered.append(name)
        for child in sorted(s.name for s in inventory.sites.values() if s.parent == name):
            visit(child)

    for root in sorted(s.name for s in inventory.sites.values() if s.parent is None or s.parent not in inventory.sites):
        visit(root)
    return [name for name in ordered if scope.allows(name)]


def visible_hosts(inventory: Inventory, scope: Scope) -> list[Host]:
    """Return the hosts whose site the scope covers."""
    return [host for host in inventory.hosts if scope.allows(host.site)]


def recent_runs(session: Session, scope: Scope, limit: int = RECENT_RUNS) -> list[Run]:
    """Return the newest runs the scope covers, newest first."""
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    if not scope.all_sites:
        query = query.where(Run.site.in_(sorted(scope.sites)))
    return list(session.scalars(query))


def latest_run_per_host(hosts: list[Host], runs: list[Run]) -> dict[str, Run]:
    """Map each host name to the newest run (of ``runs``, newest first) that touched it."""
    latest: dict[str, Run] = {}
    for run in runs:
        for host in hosts:
            if host.name not in latest and host_matches(host, run.target):
                latest[host.name] = run
        if len(latest) == len(hosts):
            break
    return latest


def runs_for_host(session: Session, host: Host, limit: int = 50) -> list[Run]:
    """Return the newest runs that touched a host."""
    runs = session.scalars(select(Run).order_by(Run.id.desc()).limit(RECENT_RUNS))
    return [run for run in runs if host_matches(host, run.target)][:limit]


@dataclass
class Page:
    """One page of a listing."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def list_runs(
    session: Session, scope: Scope, *, status: str | None, kind: str | None, page: int, per_page: int
) -> Page:
    """Return one page of runs the scope covers, filtered by status and kind, newest first."""
    conditions = []
    if status:
        conditions.append(Run.status == status)
    if kind:
        conditions.append(Run.kind == kind)
    if not scope.all_sites:
        conditions.append(Run.site.in_(sorted(scope.sites)))
    total = session.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0
    rows = session.scalars(
        select(Run).where(*conditions).order_by(Run.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return Page(list(rows), page, per_page, total)


def run_kinds(session: Session) -> list[str]:
    """Return the kinds of run present in the store (for the filter)."""
    return sorted(session.scalars(select(Run.kind).distinct()))


def dashboard(session: Session, inventory: Inventory, scope: Scope) -> dict[str, Any]:
    """Return the dashboard: per site its hosts with their latest run, and run counts.

    The counts of running and failed runs are within the scope.
    """
    hosts = visible_hosts(inventory, scope)
    latest = latest_run_per_host(hosts, recent_runs(session, scope))
    conditions = [] if scope.all_sites else [Run.site.in_(sorted(scope.sites))]
    counts = dict(
        session.execute(select(Run.status, func.count()).where(*conditions).group_by(Run.status)).tuples().all()
    )
    sites = []
    for name in visible_sites(inventory, scope):
        site_hosts = [h for h in hosts if h.site == name]
        sites.append(
            {
                **site_dict(inventory, name),
                "hosts": [
                    {
                        **host_dict(h),
                        "last_run": latest[h.name].as_dict() if h.name in latest else None,
                    }
                    for h in site_hosts
                ],
            }
        )
    return {
        "sites": sites,
        "counts": {
            "running": int(counts.get(RunStatus.RUNNING, 0)) + int(counts.get(RunStatus.QUEUED, 0)),
            "failed": int(counts.get(RunStatus.FAILED, 0)) + int(counts.get(RunStatus.INTERRUPTED, 0)),
            "by_status": {status: int(counts.get(status, 0)) for status in RunStatus.ALL},
        },
    }
