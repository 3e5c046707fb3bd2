"""Health at a glance: for each site in scope, whether its hosts are up, its probes pass, its backups are
within RPO, its compliance score and its open alerts (the dashboard's picture).

Everything comes from what the engines already store; nothing here probes,
scans or connects:

* hosts up: each host's latest ``ssh`` probe result (a result older than
  :data:`STALE_SECONDS` counts as unknown: the monitor may have stopped);
* probes: the latest result of every other host check (http, tcp, health);
* backups: the DR readiness rows (:func:`controlplane.backup.report.readiness`):
  ``stale`` and ``never`` are outside the RPO, ``warning`` is within it with a
  problem;
* compliance: each host's newest scan, counted per site in one query (the
  score after waivers, as the compliance page shows it);
* alerts: firing alerts by their ``site`` label; one nobody acknowledged,
  silenced or inhibited makes the site red.

Objects of no inventory site (the control plane's own datasets and checks,
alerts without a site label) belong to the ministry level: they are counted
on the top site of the picture, for users who see every site only.

Cost: four small queries and the backup policy files per reading
(:func:`read_sources`); the dashboard keeps each source until its part of
:func:`health_version` changes, and the picture per scope.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session

from controlplane.errors import EgovError
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store
    from controlplane.web.policy import Scope

log = logging.getLogger(__name__)
STATES = ("ok", "warn", "bad", "unknown")
DIMENSIONS = ("hosts", "probes", "backups", "compliance", "alerts")
REACHABILITY = frozenset({"ssh"})
STORE_CHECKS = frozenset({"failed_runs", "run_age"})
STALE_SECONDS = 900
COMPLIANCE_BAD_BELOW = 80.0  # percent after waivers
RANK = {"unknown": 0, "ok": 1, "warn": 2, "bad": 3}


@dataclass(frozen=True)
class Measure:
    """One dimension of one site: its state, the text of its badge, and the counts behind it."""

    state: str = "unknown"
    shown: str = "—"
    good: int = 0
    total: int = 0


@dataclass
class SiteHealth:
    """A site of the picture: where it sits in the tree and one Measure per dimension it shows."""

    name: str
    level: str
    parent: str | None
    measures: dict[str, Measure] = field(default_factory=dict)

    @cached_property
    def state(self) -> str:
        """The worst known state of its dimensions; unknown while nothing says whether its hosts are up.

        A site with hosts is ``ok`` only once its hosts are known to be up;
        any bad or warn dimension shows whatever else is unknown.
        """
        states = [measure.state for measure in self.measures.values()]
        worst = max(states, key=RANK.__getitem__, default="unknown")
        if worst in ("bad", "warn"):
            return worst
        hosts = self.measures.get("hosts")
        if hosts is not None and hosts.total and hosts.state == "unknown":
            return "unknown"
        return worst

    @property
    def problems(self) -> list[str]:
        """The dimensions that are bad or warn, worst first."""
        ranked = [(RANK[m.state], name) for name, m in self.measures.items() if m.state in ("bad", "warn")]
        return [name for _rank, name in sorted(ranked, key=lambda item: -item[0])]


@dataclass
class _Counts:
    """Tallies per site while the rows are read."""

    up: dict[str, set[str]] = field(default_factory=dict)
    down: dict[str, set[str]] = field(default_factory=dict)
    passing: dict[str, int] = field(default_factory=dict)
    failing: dict[str, int] = field(default_factory=dict)


def _bump(table: dict[str, int], site: str, by: int = 1) -> None:
    table[site] = table.get(site, 0) + by


def probe_counts(session: Session, now: dt.datetime) -> _Counts:
    """Hosts up or down (``ssh`` results) and passing or failing host checks, per site; stale ones are left out.

    Two queries that filter by age in the database: one row per host for
    reachability, one row per site and outcome for the other checks.
    """
    from controlplane.monitoring.models import ProbeLatest as Latest

    counts = _Counts()
    fresh = Latest.at >= now - dt.timedelta(seconds=STALE_SECONDS)
    reach = select(Latest.site, Latest.host, Latest.success).where(fresh, Latest.type.in_(sorted(REACHABILITY)))
    for site, host, success in session.execute(reach):
        (counts.up if success else counts.down).setdefault(site, set()).add(host)
    others = (
        select(Latest.site, Latest.success, func.count())
        .where(fresh, Latest.type.not_in(sorted(REACHABILITY | STORE_CHECKS)))
        .group_by(Latest.site, Latest.success)
    )
    for site, success, number in session.execute(others):
        _bump(counts.passing if success else counts.failing, site, int(number))
    return counts


def compliance_counts(session: Session) -> dict[str, dict[str, int]]:
    """Per site, how many current results (each host's newest scan) have each status: one grouped query."""
    from controlplane.compliance.models import ComplianceResult as Result

    newest = select(Result.host, func.max(Result.scan_id).label("scan_id")).group_by(Result.host).subquery()
    query = (
        select(Result.site, Result.status, func.count())
        .join(newest, and_(Result.host == newest.c.host, Result.scan_id == newest.c.scan_id))
        .group_by(Result.site, Result.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for site, status, number in session.execute(query):
        counts.setdefault(site or "", {})[status] = int(number)
    return counts


def backup_rows(config: Config, store: Store, inventory: Inventory) -> list[dict[str, Any]] | None:
    """The DR readiness rows of the backup policy, or None when the policy does not load (logged)."""
    from controlplane.backup.report import PolicyView, readiness

    try:
        return readiness(PolicyView(config, store, inventory))
    except EgovError as error:
        log.warning("backup status not shown on the dashboard: %s", error)
        return None


def alert_rows(config: Config, store: Store) -> list[dict[str, Any]]:
    """Every alert with what mutes it (silences of the store and of monitoring/silences.yml)."""
    from controlplane.monitoring.alert_actions import list_alerts
    from controlplane.monitoring.spec_loader import load_monitoring

    spec = None
    if Path(config.monitoring).is_dir():
        try:
            spec = load_monitoring(config.monitoring, tuple(r.name for r in config.receivers) or None)
        except EgovError as error:
            log.warning("monitoring spec does not load (alerts shown unmuted): %s", error)
    return list_alerts(store, spec)


def hosts_measure(hosts: int, up: int, down: int) -> Measure:
    """Hosts up of the site's hosts: bad when one is down, unknown when none is known."""
    if not hosts or up + down == 0:
        return Measure("unknown", "—", up, hosts)
    state = "bad" if down else ("ok" if up >= hosts else "warn")
    return Measure(state, f"{up}/{hosts}", up, hosts)


def probes_measure(passing: int, failing: int) -> Measure:
    """Host checks passing: bad when one fails."""
    total = passing + failing
    if not total:
        return Measure()
    return Measure("bad" if failing else "ok", f"{passing}/{total}", passing, total)


def backups_measure(verdicts: list[str]) -> Measure:
    """Backup units within their RPO: bad when one is stale or never ran, warn when one has a warning."""
    if not verdicts:
        return Measure()
    within = sum(1 for verdict in verdicts if verdict in ("ok", "warning"))
    state = "bad" if within < len(verdicts) else ("warn" if "warning" in verdicts else "ok")
    return Measure(state, f"{within}/{len(verdicts)}", within, len(verdicts))


def compliance_measure(statuses: dict[str, int]) -> Measure:
    """The score after waivers: bad below COMPLIANCE_BAD_BELOW percent, warn with any failing or error result."""
    held = statuses.get("pass", 0) + statuses.get("waived", 0)
    applicable = held + statuses.get("fail", 0) + statuses.get("error", 0)
    if not applicable:
        return Measure()
    percent = 100.0 * held / applicable
    state = "bad" if percent < COMPLIANCE_BAD_BELOW else ("ok" if held == applicable else "warn")
    return Measure(state, f"{int(percent)}%", held, applicable)


def alerts_measure(alerts: list[dict[str, Any]]) -> Measure:
    """Firing alerts: bad when one is neither acknowledged, silenced nor inhibited; warn when all are."""
    firing = [a for a in alerts if a.get("state") == "firing"]
    if not firing:
        return Measure("ok", "0", 0, 0)
    unhandled = [a for a in firing if not (a.get("acked_by") or a.get("silenced_by") or a.get("inhibited_by"))]
    return Measure("bad" if unhandled else "warn", str(len(firing)), len(firing) - len(unhandled), len(firing))


@dataclass(frozen=True)
class Sources:
    """What the picture is computed from, every site's at once; each part is read (and can be kept) apart."""

    probes: _Counts
    scores: dict[str, dict[str, int]]
    backups: list[dict[str, Any]] | None  # None: the backup policy does not load
    alerts: list[dict[str, Any]]


def read_sources(config: Config, store: Store, inventory: Inventory, now: dt.datetime | None = None) -> Sources:
    """Read every part now: four queries and one read of the backup policy (tens of ms at a thousand hosts)."""
    with store.session() as session:
        probes, scores = probe_counts(session, now or utcnow()), compliance_counts(session)
    return Sources(probes, scores, backup_rows(config, store, inventory), alert_rows(config, store))


def site_health(inventory: Inventory, scope: Scope, sources: Sources, *, compliance: bool = True) -> list[SiteHealth]:
    """Every site the scope covers, parents before children, with its measures (``compliance``: show that one).

    Pure over ``sources``: no query. Objects of another site than the
    scope's are left out; ministry-level ones go to the top site for a user
    who sees every site.
    """
    names = ordered_sites(inventory, scope)
    top = names[0] if names and scope.all_sites else None  # where ministry-level objects are counted

    def owner(site: str | None) -> str | None:
        if site in inventory.sites:
            return site if scope.allows(site) else None
        return top

    hosts_per_site: dict[str, int] = {}
    for host in inventory.hosts:
        _bump(hosts_per_site, host.site)
    probes = sources.probes
    backups: dict[str, list[str]] = {}
    for row in sources.backups or []:
        site = owner(row["site"])
        if site is not None:
            backups.setdefault(site, []).append(row["verdict"])
    alerts: dict[str, list[dict[str, Any]]] = {}
    for alert in sources.alerts:
        site = owner((alert.get("labels") or {}).get("site") or None)
        if site is not None:
            alerts.setdefault(site, []).append(alert)
    result = []
    for name in names:
        site = inventory.sites[name]
        up, down = probes.up.get(name, set()), probes.down.get(name, set())
        measures = {
            "hosts": hosts_measure(hosts_per_site.get(name, 0), len(up - down), len(down)),
            "probes": probes_measure(probes.passing.get(name, 0), probes.failing.get(name, 0)),
            "backups": backups_measure(backups.get(name, [])) if sources.backups is not None else Measure(),
            "alerts": alerts_measure(alerts.get(name, [])),
        }
        if compliance:
            measures["compliance"] = compliance_measure(sources.scores.get(name, {}))
        ordered = {key: measures[key] for key in DIMENSIONS if key in measures}
        result.append(SiteHealth(name, site.level, site.parent if site.parent in names else None, ordered))
    return result


def ordered_sites(inventory: Inventory, scope: Scope) -> list[str]:
    """The sites the scope covers, each parent before its children (depth first, by name); linear in the sites.

    The same order as the other pages' (``queries.visible_sites``), without
    its scan of every site per site.
    """
    below: dict[str | None, list[str]] = {}
    for site in inventory.sites.values():
        parent = site.parent if site.parent in inventory.sites else None
        below.setdefault(parent, []).append(site.name)
    ordered: list[str] = []
    pending = sorted(below.get(None, []), reverse=True)
    while pending:
        name = pending.pop()
        ordered.append(name)
        pending.extend(sorted(below.get(name, []), reverse=True))
    return [name for name in ordered if scope.allows(name)]


class HealthVersion(NamedTuple):
    """The parts of :func:`health_version`, one per source, so each source can be kept by its own."""

    probes: tuple[Any, ...]
    alerts: tuple[Any, ...]
    backups: tuple[Any, ...]
    scans: tuple[Any, ...]


VERSION_SQL = text(
    "SELECT"
    " (SELECT count(*) FROM monitor_probe_latest),"
    " (SELECT count(*) FROM monitor_probe_latest WHERE NOT success),"
    " (SELECT count(*) FROM monitor_alerts WHERE state = 'firing'),"
    " (SELECT count(*) FROM monitor_alerts WHERE state = 'firing' AND acked_by IS NOT NULL),"
    " (SELECT max(fired_at) FROM monitor_alerts),"
    " (SELECT max(resolved_at) FROM monitor_alerts),"
    " (SELECT count(*) FROM monitor_silences),"
    " (SELECT max(ends_at) FROM monitor_silences),"
    " (SELECT max(last_run_at) FROM backup_status),"
    " (SELECT max(last_check_at) FROM backup_status),"
    " (SELECT max(last_drill_at) FROM backup_status),"
    " (SELECT max(id) FROM compliance_scans)"
)


def health_version(session: Session) -> HealthVersion:
    """What changes when the picture's state changes: probe failures, firing alerts, silences, backups, scans.

    One textual statement of small aggregates (a fraction of a millisecond
    at a thousand hosts): it counts failing probes rather than reading their
    times, which change on every probe cycle. What no write shows (a backup
    ageing past its RPO, a probe result going stale) the caller covers with
    a time bucket.
    """
    row = tuple(session.execute(VERSION_SQL).one())
    return HealthVersion(row[0:2], row[2:8], row[8:11], row[11:12])


def headline(sites: list[SiteHealth]) -> dict[str, Any]:
    """Counts of sites per state and the sites needing attention (bad first), for the sentence above the picture."""
    counts = dict.fromkeys(STATES, 0)
    for site in sites:
        counts[site.state] += 1
    attention = sorted((s for s in sites if s.state in ("bad", "warn")), key=lambda s: -RANK[s.state])
    return {"counts": counts, "total": len(sites), "attention": attention}
