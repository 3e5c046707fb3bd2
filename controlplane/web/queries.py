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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
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
    """Return the hosts whose site the scope covers (a new list; the caller may change it).

    Kept per scope on the inventory object: an inventory does not change once
    loaded (a reload makes a new one), and every page asks this of a thousand hosts.
    """
    per_scope: dict[Scope, list[Host]] = inventory.__dict__.setdefault("_visible_hosts_by_scope", {})
    hosts = per_scope.get(scope)
    if hosts is None:
        hosts = per_scope[scope] = [host for host in inventory.hosts if scope.allows(host.site)]
    return list(hosts)


def _target_resolver(hosts: list[Host]) -> Callable[[str], list[str]]:
    """Return a function: run target -> names of the hosts it selects (same result as host_matches).

    A word without glob characters is looked up in an index of host names,
    groups, sites and roles; only glob words scan the hosts. Results are
    cached per target, so a thousand runs on a thousand hosts cost a
    thousand lookups, not a million pattern matches.
    """
    index: dict[str, set[str]] = {}
    for host in hosts:
        for key in (host.name, host.site, host.role, *host.groups):
            index.setdefault(key, set()).add(host.name)
    every = [host.name for host in hosts]
    cache: dict[str, list[str]] = {}

    def resolve(target: str) -> list[str]:
        found = cache.get(target)
        if found is None:
            words = [w.strip() for w in re.split(r"[,:]", target or "") if w.strip()]
            if "all" in words:
                found = every
            else:
                names: set[str] = set()
                for word in words:
                    if any(c in word for c in "*?["):
                        names.update(h.name for h in hosts if host_matches(h, word))
                    else:
                        names |= index.get(word, set())
                found = sorted(names)
            cache[target] = found
        return found

    return resolve


@dataclass(frozen=True)
class LatestRun:
    """What a listing shows of a host's latest run: its id, kind and status."""

    id: int
    kind: str
    status: str


def latest_states(session: Session, scope: Scope, hosts: list[Host], limit: int = RECENT_RUNS) -> dict[str, LatestRun]:
    """Map each of ``hosts`` to id, kind and status of the newest recent run in scope that touched it.

    Only the RECENT_RUNS newest runs are looked at, reading four columns
    instead of whole rows.
    """
    if not hosts:
        return {}
    query = select(Run.id, Run.target, Run.kind, Run.status).order_by(Run.id.desc()).limit(limit)
    if not scope.all_sites:
        query = query.where(Run.site.in_(sorted(scope.sites)))
    resolve = _target_resolver(hosts)
    latest: dict[str, LatestRun] = {}
    for run_id, target, kind, status in session.execute(query):
        names = resolve(target)
        if names:
            state = LatestRun(run_id, kind, status)
            for name in names:
                latest.setdefault(name, state)
        if len(latest) == len(hosts):
            break
    return latest


def latest_runs(session: Session, scope: Scope, hosts: list[Host], limit: int = RECENT_RUNS) -> dict[str, Run]:
    """Map each of ``hosts`` to the newest of the scope's recent runs that touched it (whole rows).

    Same choice as :func:`latest_states`; only the rows that are some host's
    latest run are loaded.
    """
    latest_id = {name: state.id for name, state in latest_states(session, scope, hosts, limit).items()}
    wanted = sorted(set(latest_id.values()))
    rows: dict[int, Run] = {}
    for start in range(0, len(wanted), 500):  # bounded IN lists
        chunk = wanted[start : start + 500]
        rows.update((run.id, run) for run in session.scalars(select(Run).where(Run.id.in_(chunk))))
    return {name: rows[run_id] for name, run_id in latest_id.items() if run_id in rows}


def runs_for_host(session: Session, scope: Scope, host: Host, limit: int = 50) -> list[Run]:
    """Return the newest runs (of the scope's RECENT_RUNS newest) that touched a host.

    Only runs whose site the scope covers: a run's site is the lowest site
    holding every host it touched, so a national run (``all``, several
    provinces) whose params and summary name other sites' hosts is not
    shown to a provincial user, not even on the page of one of their hosts
    (the automation host page shows such a run's outcome on this host alone).
    """
    query = select(Run.id, Run.target).order_by(Run.id.desc()).limit(RECENT_RUNS)
    if not scope.all_sites:
        query = query.where(Run.site.in_(sorted(scope.sites)))
    recent = session.execute(query)
    ids = [run_id for run_id, target in recent if host_matches(host, target)][:limit]
    if not ids:
        return []
    return list(session.scalars(select(Run).where(Run.id.in_(ids)).order_by(Run.id.desc())))


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


def _run_conditions(scope: Scope, status: str | None, kind: str | None) -> list[Any]:
    conditions = []
    if status:
        conditions.append(Run.status == status)
    if kind:
        conditions.append(Run.kind == kind)
    if not scope.all_sites:
        conditions.append(Run.site.in_(sorted(scope.sites)))
    return conditions


def count_runs(session: Session, scope: Scope, *, status: str | None, kind: str | None) -> int:
    """Return how many runs the scope covers with that status and kind (None: any)."""
    conditions = _run_conditions(scope, status, kind)
    return int(session.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0)


def list_runs(
    session: Session,
    scope: Scope,
    *,
    status: str | None,
    kind: str | None,
    page: int,
    per_page: int,
) -> Page:
    """Return one page of runs the scope covers, filtered by status and kind, newest first."""
    conditions = _run_conditions(scope, status, kind)
    total = count_runs(session, scope, status=status, kind=kind)
    rows = session.scalars(
        select(Run).where(*conditions).order_by(Run.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return Page(list(rows), page, per_page, total)


def run_kinds(session: Session) -> list[str]:
    """Return the kinds of run present in the store (for the filter).

    A loose index scan (one index probe per kind, on ``ix_runs_kind_created``)
    instead of DISTINCT, which reads every run: milliseconds at 100,000 runs.
    """
    kinds = session.scalars(
        text(
            "WITH RECURSIVE k(kind) AS (SELECT MIN(kind) FROM runs UNION ALL "
            "SELECT (SELECT MIN(kind) FROM runs WHERE kind > k.kind) FROM k WHERE k.kind IS NOT NULL) "
            "SELECT kind FROM k WHERE kind IS NOT NULL"
        )
    )
    return sorted(kinds)


def dashboard(session: Session, inventory: Inventory, scope: Scope) -> dict[str, Any]:
    """Return the dashboard: per site its hosts with their latest run, and run counts.

    The counts of running and failed runs are within the scope.
    """
    hosts = visible_hosts(inventory, scope)
    latest = latest_runs(session, scope, hosts)
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


# Latest-run states a summary counts as needing attention.
ATTENTION = (RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.PARTIAL)


def run_counts(session: Session, scope: Scope) -> dict[str, int]:
    """Return the scope's running-or-queued and failed-or-interrupted run counts.

    Two counts on the status index, instead of a GROUP BY over every run.
    """
    conditions = [] if scope.all_sites else [Run.site.in_(sorted(scope.sites))]

    def count(statuses: tuple[str, ...]) -> int:
        query = select(func.count()).select_from(Run).where(Run.status.in_(statuses), *conditions)
        return int(session.scalar(query) or 0)

    return {"running": count(RunStatus.ACTIVE), "failed": count((RunStatus.FAILED, RunStatus.INTERRUPTED))}


def dashboard_summary(session: Session, inventory: Inventory, scope: Scope, attention: int = 20) -> dict[str, Any]:
    """Return the dashboard of a large scope: per site, host counts by latest run state.

    Also the ``attention`` hosts whose latest run is the newest among those
    that failed, were interrupted or partly succeeded; the hosts list has
    every host.
    """
    hosts = visible_hosts(inventory, scope)
    latest = latest_states(session, scope, hosts)
    by_site: dict[str, list[Host]] = {}
    for host in hosts:
        by_site.setdefault(host.site, []).append(host)
    sites = []
    for name in visible_sites(inventory, scope):
        states = [latest.get(host.name) for host in by_site.get(name, [])]
        sites.append(
            {
                **site_dict(inventory, name),
                "hosts": len(states),
                "ok": sum(1 for run in states if run is not None and run.status == RunStatus.SUCCEEDED),
                "running": sum(1 for run in states if run is not None and run.status in RunStatus.ACTIVE),
                "failing": sum(1 for run in states if run is not None and run.status in ATTENTION),
                "never": sum(1 for run in states if run is None),
            }
        )
    failing = sorted(
        ((host, latest[host.name]) for host in hosts if host.name in latest and latest[host.name].status in ATTENTION),
        key=lambda pair: -pair[1].id,
    )
    return {
        "sites": sites,
        "hosts": len(hosts),
        "attention": [{"name": host.name, "site": host.site, "run": run} for host, run in failing[:attention]],
        "counts": run_counts(session, scope),
    }
