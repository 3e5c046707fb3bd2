"""The operator's ``monitoring/`` folder as typed, validated settings.

:func:`load_monitoring` reads ``probes.yml``, ``rules.yml``, ``alerting.yml``
and ``silences.yml`` (each optional), validates them against
:mod:`controlplane.monitoring.schema` and checks what a schema cannot (unique
names, rules naming a known probe, routes naming a receiver of ``egov.yml``),
collecting every problem of every file before raising one ConfigError.
:func:`expand_checks` then turns probes into concrete checks per inventory
host, so a new host is monitored without editing any check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.errors import ConfigError
from controlplane.monitoring import schema
from controlplane.monitoring.labels import Matcher, parse_duration, parse_matchers
from controlplane.yamlfile import read_yaml, schema_problems

HOST_TYPES = ("tcp", "http", "ssh", "health")
STORE_TYPES = ("failed_runs", "run_age")
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


def _read(folder: Path, name: str, validator: dict[str, Any], problems: list[ConfigError]) -> dict[str, Any]:
    path = folder / name
    if not path.exists():
        return {}
    try:
        data = read_yaml(path) or {}
    except ConfigError as error:
        problems.append(error)
        return {}
    found = schema_problems(data, validator)
    if found:
        problems.append(ConfigError(str(path), found))
        return {}
    return data


def _probe(data: dict[str, Any], defaults: dict[str, Any]) -> Probe:
    options = {k: v for k, v in data.items() if k not in ("name", "type", "interval", "timeout", "select")}
    return Probe(
        name=data["name"],
        type=data["type"],
        interval=parse_duration(data.get("interval", defaults.get("interval")), 30.0),
        timeout=parse_duration(data.get("timeout", defaults.get("timeout")), 5.0),
        select={k: list(v) for k, v in (data.get("select") or {}).items()},
        options=options,
    )


def _rule(data: dict[str, Any], probe_type: str | None) -> Rule:
    metric = data.get("metric") or DEFAULT_METRIC.get(probe_type or "", "probe_success")
    default_value = 0 if metric == "probe_success" else None
    raw = data.get("value", default_value)
    value = parse_duration(raw) if isinstance(raw, str) else float(raw if raw is not None else 0)
    op = data.get("op") or ("==" if metric == "probe_success" else ">")
    annotations = {k: str(v) for k, v in (data.get("annotations") or {}).items()}
    return Rule(
        alert=data["alert"],
        probe=data["probe"],
        metric=metric,
        op=op,
        value=value,
        for_seconds=parse_duration(data.get("for"), 0.0),
        severity=data.get("severity", "warning"),
        labels=dict(data.get("labels") or {}),
        annotations=annotations,
        match=dict(data.get("match") or {}),
        runbook=_rule_runbook(data.get("runbook")),
    )


def _rule_runbook(data: dict[str, Any] | None) -> RuleRunbook | None:
    """The rule's ``runbook:`` block as a RuleRunbook (``auto: true`` means dry-run), or None."""
    if not data:
        return None
    auto = data.get("auto", "off")
    if auto is True:
        auto = "dry-run"
    elif auto is False:
        auto = "off"
    return RuleRunbook(
        name=data["name"],
        auto=str(auto),
        params=dict(data.get("params") or {}),
        min_interval=parse_duration(data.get("min_interval"), DEFAULT_MIN_INTERVAL),
        host_vars=dict(data.get("host_vars") or {}),
    )


def _check_rule_runbooks(rules: list[Rule], runbooks: Path, problem: Callable[[str, str, str], None]) -> None:
    """Check that every runbook a rule names exists, loads, knows the parameters given and may auto-run."""
    from controlplane.runbook.loader import load_runbooks

    wanted = [(index, block) for index, rule in enumerate(rules) if (block := rule.runbook) is not None]
    if not wanted:
        return
    loaded = {item.name: item for item in load_runbooks(runbooks)} if runbooks.is_dir() else {}
    for index, block in wanted:
        where = f"rules[{index}].runbook"
        item = loaded.get(block.name)
        if item is None:
            known = ", ".join(sorted(loaded)) or "none"
            problem("rules.yml", f"{where}.name", f"unknown runbook {block.name!r} (runbooks in {runbooks}: {known})")
            continue
        if item.runbook is None:
            problem("rules.yml", f"{where}.name", f"runbook {block.name!r} does not load: {item.error}")
            continue
        names = {param.name for param in item.runbook.params}
        for key in block.params:
            if key not in names:
                problem(
                    "rules.yml",
                    f"{where}.params.{key}",
                    f"runbook {block.name} has no parameter {key!r} (it has: {', '.join(sorted(names)) or 'none'})",
                )
        if block.auto == "run" and item.runbook.approvals_required > 1:
            problem(
                "rules.yml",
                f"{where}.auto",
                f"runbook {block.name} needs a second approver, so an alert cannot run it for real",
            )


def _route(name: str, data: dict[str, Any], parent: Route | None) -> Route:
    base = parent or Route(name="default", receiver="")
    return Route(
        name=name,
        receiver=data.get("receiver", base.receiver),
        matchers=parse_matchers(data.get("matchers") or []),
        group_by=tuple(data.get("group_by", base.group_by)),
        group_wait=parse_duration(data.get("group_wait"), base.group_wait),
        group_interval=parse_duration(data.get("group_interval"), base.group_interval),
        repeat_interval=parse_duration(data.get("repeat_interval"), base.repeat_interval),
        escalate=tuple(Escalation(parse_duration(e["after"]), e["receiver"]) for e in data.get("escalate", []))
        or (base.escalate if parent else ()),
        continue_=bool(data.get("continue", False)),
    )


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def load_monitoring(
    folder: Path, receivers: tuple[str, ...] | None = None, runbooks: Path | None = None
) -> MonitoringSpec:
    """Read and validate the monitoring folder.

    Given the folder, when known the receiver names of ``egov.yml`` (routes
    must name one of them), and the runbooks folder (rules naming a runbook
    must name one that loads, with parameters it has; without the folder
    runbook names are not checked). Returns the MonitoringSpec (empty when
    the folder has no files). Raises ConfigError listing every problem of
    every file at once.
    """
    errors: list[ConfigError] = []
    probes_doc = _read(folder, "probes.yml", schema.PROBES_SCHEMA, errors)
    rules_doc = _read(folder, "rules.yml", schema.RULES_SCHEMA, errors)
    alerting_doc = _read(folder, "alerting.yml", schema.ALERTING_SCHEMA, errors)
    silences_doc = _read(folder, "silences.yml", schema.SILENCES_SCHEMA, errors)
    problems: dict[str, list[tuple[str, str]]] = {}

    def problem(file: str, path: str, message: str) -> None:
        problems.setdefault(str(folder / file), []).append((path, message))

    defaults = probes_doc.get("defaults") or {}
    probes: list[Probe] = []
    for index, item in enumerate(probes_doc.get("probes") or []):
        where = f"probes[{index}]"
        if any(p.name == item["name"] for p in probes):
            problem("probes.yml", f"{where}.name", f"duplicate probe name {item['name']!r}")
            continue
        if item["type"] == "tcp" and "port" not in item:
            problem("probes.yml", where, "a tcp probe needs port")
        if item["type"] == "http" and "url" not in item:
            problem("probes.yml", where, "an http probe needs url")
        if item["type"] == "run_age" and not ("run_kind" in item and "window" in item):
            problem("probes.yml", where, "a run_age probe needs run_kind and window (the RPO)")
        if item.get("body_match"):
            import re

            try:
                re.compile(item["body_match"])
            except re.error as error:
                problem("probes.yml", f"{where}.body_match", f"bad regular expression: {error}")
        probe = _probe(item, defaults)
        if probe.timeout > probe.interval:
            problem("probes.yml", f"{where}.timeout", "timeout must not exceed interval")
        probes.append(probe)
    types = {p.name: p.type for p in probes}

    rules: list[Rule] = []
    for index, item in enumerate(rules_doc.get("rules") or []):
        where = f"rules[{index}]"
        if item["probe"] not in types and probes_doc:
            problem("rules.yml", f"{where}.probe", f"unknown probe {item['probe']!r} (not in probes.yml)")
        if any(r.alert == item["alert"] and r.probe == item["probe"] for r in rules):
            problem("rules.yml", f"{where}.alert", f"duplicate rule {item['alert']!r} for probe {item['probe']!r}")
        if "value" not in item and item.get("metric", "probe_success") != "probe_success":
            problem("rules.yml", f"{where}.value", "a rule on a metric other than probe_success needs value")
        rules.append(_rule(item, types.get(item["probe"])))
    if runbooks is not None:
        _check_rule_runbooks(rules, runbooks, problem)

    route_doc = alerting_doc.get("route") or {}
    known = set(receivers) if receivers is not None else None
    default_route = _route("default", route_doc, None)
    routes: list[Route] = []
    for index, item in enumerate(route_doc.get("routes") or []):
        try:
            routes.append(_route(item["name"], item, default_route))
        except ValueError as error:
            problem("alerting.yml", f"route.routes[{index}].matchers", str(error))
    for route in [default_route, *routes]:
        for name in [route.receiver, *(e.receiver for e in route.escalate)]:
            if known is not None and name and name not in known:
                problem("alerting.yml", f"route.{route.name}", f"unknown receiver {name!r} (not in egov.yml)")
    if route_doc and not default_route.receiver:
        problem("alerting.yml", "route.receiver", "the top route needs a receiver")

    inhibit: list[InhibitRule] = []
    for index, item in enumerate(alerting_doc.get("inhibit_rules") or []):
        try:
            inhibit.append(
                InhibitRule(
                    parse_matchers(item["source_matchers"]),
                    parse_matchers(item["target_matchers"]),
                    tuple(item.get("equal") or ()),
                )
            )
        except ValueError as error:
            problem("alerting.yml", f"inhibit_rules[{index}]", str(error))

    silences: list[Silence] = []
    for index, item in enumerate(silences_doc.get("silences") or []):
        where = f"silences[{index}]"
        try:
            starts, ends = _time(item.get("starts_at")), _time(item.get("ends_at"))
            matchers = parse_matchers(item["matchers"])
        except ValueError as error:
            problem("silences.yml", where, str(error))
            continue
        every = item.get("every")
        if not every and not ends:
            problem("silences.yml", where, "a silence needs ends_at or a recurring window (every)")
        if starts and ends and ends <= starts:
            problem("silences.yml", f"{where}.ends_at", "ends_at must be after starts_at")
        window = None
        if every:
            window = Window(tuple(every.get("days") or ()), every["start"], every["end"], every.get("timezone", "UTC"))
            try:
                from zoneinfo import ZoneInfo

                ZoneInfo(window.timezone)
            except Exception:
                problem("silences.yml", f"{where}.every.timezone", f"unknown time zone {window.timezone!r}")
        silences.append(
            Silence(f"file:{item['name']}", matchers, item["author"], item["comment"], starts, ends, window)
        )

    flapping_doc = alerting_doc.get("flapping") or {}
    if errors or problems:
        merged: list[tuple[str, str]] = []
        for error in errors:
            merged += [
                (f"{error.source}: {path}" if path else error.source, message) for path, message in error.problems
            ]
        for file, items in problems.items():
            merged += [(f"{file}: {path}", message) for path, message in items]
        raise ConfigError(str(folder), merged)
    return MonitoringSpec(
        folder=folder,
        probes=tuple(probes),
        rules=tuple(rules),
        routes=tuple(routes),
        default_route=default_route,
        inhibit_rules=tuple(inhibit),
        silences=tuple(silences),
        flapping=Flapping(parse_duration(flapping_doc.get("window"), 600.0), int(flapping_doc.get("threshold", 4))),
        history=int(defaults.get("history", 100)),
        external_url=alerting_doc.get("external_url", ""),
    )


def expand_checks(spec: MonitoringSpec, inventory: Any) -> list[Check]:
    """Bind every probe to the inventory hosts it selects.

    Given the spec and a loaded Inventory; returns the checks in probe order,
    then inventory order. Store-backed probes yield one check on the control
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
