"""The operator's ``monitoring/`` folder as typed settings, and probes bound to inventory hosts.

The types here are what :func:`controlplane.monitoring.spec_loader.load_monitoring`
reads from ``probes.yml``, ``rules.yml``, ``alerting.yml`` and
``silences.yml``. :func:`expand_checks` then turns probes into concrete
checks per inventory host, so a new host is monitored without editing any
check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.monitoring.labels import Matcher

if TYPE_CHECKING:
    from controlplane.inventory import Inventory

HOST_TYPES = ("tcp", "http", "ssh", "health")
STORE_TYPES = ("failed_runs", "run_age", "host_certificates", "network_verify")
# Hostless checks (store-backed) carry these in the host/site/role labels.
CONTROL_PLANE = "controlplane"
DEFAULT_METRIC = {"failed_runs": "runs_failed"}


@dataclass(frozen=True)
class Probe:
    """One probe definition from probes.yml (not yet expanded over hosts)."""

    name: str
    type: str
    interval: float
    timeout: float
    select: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """A probe bound to one host (or to the control plane for store checks)."""

    probe: Probe
    host: str
    site: str
    role: str
    address: str = ""
    port: int = 22

    @property
    def key(self) -> tuple[str, str]:
        """(check name, host): the identity of a result series."""
        return (self.probe.name, self.host)


DEFAULT_MIN_INTERVAL = 1800.0


@dataclass(frozen=True)
class RuleRunbook:
    """The runbook an alert rule names: linked from its notifications, maybe started when it fires.

    ``auto`` is off, dry-run, drill or run; ``params`` are the parameter
    values (text may use ``{host}``, ``{site}`` and any alert label);
    ``min_interval`` is the least time in seconds between two automatic
    starts by this rule; ``host_vars`` limits automatic starts to alerts on
    hosts whose inventory variables have these values.
    """

    name: str
    auto: str = "off"
    params: dict[str, Any] = field(default_factory=dict)
    min_interval: float = DEFAULT_MIN_INTERVAL
    host_vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """An alert rule: a condition on one probe's samples, held for ``for_seconds``."""

    alert: str
    probe: str
    metric: str
    op: str
    value: float
    for_seconds: float
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    match: dict[str, str] = field(default_factory=dict)
    runbook: RuleRunbook | None = None


@dataclass(frozen=True)
class Escalation:
    """After ``after`` seconds unacknowledged, a group also goes to ``receiver``."""

    after: float
    receiver: str


@dataclass(frozen=True)
class Route:
    """Where matching alerts go, and how they are grouped and repeated."""

    name: str
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ("alertname", "site")
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    escalate: tuple[Escalation, ...] = ()
    continue_: bool = False


@dataclass(frozen=True)
class InhibitRule:
    """While a source alert fires, matching target alerts with equal labels are muted."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class Window:
    """A recurring weekly window: days (empty: every day), start/end clock, timezone."""

    days: tuple[str, ...]
    start: str
    end: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class Silence:
    """A silence: matchers, a validity span or a recurring window, author and comment."""

    id: str
    matchers: tuple[Matcher, ...]
    author: str
    comment: str
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    every: Window | None = None
    source: str = "file"


@dataclass(frozen=True)
class Flapping:
    """An alert with ``threshold`` fire/resolve flips in ``window`` seconds is flapping."""

    window: float = 600.0
    threshold: int = 4


@dataclass(frozen=True)
class MonitoringSpec:
    """Everything read from the monitoring folder."""

    folder: Path
    probes: tuple[Probe, ...] = ()
    rules: tuple[Rule, ...] = ()
    routes: tuple[Route, ...] = ()
    default_route: Route = Route(name="default", receiver="")
    inhibit_rules: tuple[InhibitRule, ...] = ()
    silences: tuple[Silence, ...] = ()
    flapping: Flapping = Flapping()
    history: int = 100
    external_url: str = ""

    def probe(self, name: str) -> Probe | None:
        """Return the probe of that name, or None."""
        return next((p for p in self.probes if p.name == name), None)


def expand_checks(spec: MonitoringSpec, inventory: Inventory) -> list[Check]:
    """Bind every probe to the inventory hosts it selects.

    Returns the checks in probe order, then inventory order. Store-backed
    probes yield one check on the control
    plane itself. A selector naming an unknown site, role or host simply
    selects nothing (the inventory may shrink without breaking monitoring).
    """
    checks: list[Check] = []
    for probe in spec.probes:
        if probe.type in STORE_TYPES:
            checks.append(Check(probe, CONTROL_PLANE, CONTROL_PLANE, CONTROL_PLANE))
            continue
        select = probe.select
        sites: set[str] = set()
        for site in select.get("sites", []):
            if site in inventory.sites:
                sites |= inventory.site_and_descendants(site)
        for host in inventory.hosts:
            if select.get("sites") and host.site not in sites:
                continue
            if select.get("roles") and host.role not in select["roles"]:
                continue
            if select.get("hosts") and host.name not in select["hosts"]:
                continue
            if host.name in select.get("exclude", []):
                continue
            checks.append(Check(probe, host.name, host.site, host.role, host.address, host.port))
    return checks
