"""Reading and validating the operator's ``monitoring/`` folder into a MonitoringSpec.

:func:`load_monitoring` reads ``probes.yml``, ``rules.yml``, ``alerting.yml``
and ``silences.yml`` (each optional), validates each against
:mod:`controlplane.monitoring.schema`, then hands each to its own function
here, which checks what a schema cannot (unique names, rules naming a known
probe, routes naming a receiver of ``egov.yml``). Every problem of every
file is collected before one ConfigError is raised, so an operator fixes
them all in one go.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.errors import ConfigError
from controlplane.monitoring import schema
from controlplane.monitoring.labels import parse_duration, parse_matchers
from controlplane.monitoring.rule_runbooks import RunbookCatalog, check_rule_runbooks
from controlplane.monitoring.spec import (
    DEFAULT_METRIC,
    DEFAULT_MIN_INTERVAL,
    Escalation,
    Flapping,
    InhibitRule,
    MonitoringSpec,
    Probe,
    Route,
    Rule,
    RuleRunbook,
    Silence,
    Window,
)
from controlplane.yamlfile import read_yaml, schema_problems

# One file's problem reporter: (key path in the file, message).
Problem = Callable[[str, str], None]


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


def _probes_file(doc: dict[str, Any], problem: Problem) -> list[Probe]:
    """The probes of probes.yml: unique names, the fields each type needs, sane regexes and timeouts."""
    defaults = doc.get("defaults") or {}
    probes: list[Probe] = []
    for index, item in enumerate(doc.get("probes") or []):
        where = f"probes[{index}]"
        if any(p.name == item["name"] for p in probes):
            problem(f"{where}.name", f"duplicate probe name {item['name']!r}")
            continue
        if item["type"] == "tcp" and "port" not in item:
            problem(where, "a tcp probe needs port")
        if item["type"] == "http" and "url" not in item:
            problem(where, "an http probe needs url")
        if item["type"] == "run_age" and not ("run_kind" in item and "window" in item):
            problem(where, "a run_age probe needs run_kind and window (the RPO)")
        if item.get("body_match"):
            try:
                re.compile(item["body_match"])
            except re.error as error:
                problem(f"{where}.body_match", f"bad regular expression: {error}")
        probe = _probe(item, defaults)
        if probe.timeout > probe.interval:
            problem(f"{where}.timeout", "timeout must not exceed interval")
        probes.append(probe)
    return probes


def _rules_file(doc: dict[str, Any], probe_types: dict[str, str], probes_known: bool, problem: Problem) -> list[Rule]:
    """The rules of rules.yml: each on a probe of probes.yml (when there is one), unique per probe."""
    rules: list[Rule] = []
    for index, item in enumerate(doc.get("rules") or []):
        where = f"rules[{index}]"
        if item["probe"] not in probe_types and probes_known:
            problem(f"{where}.probe", f"unknown probe {item['probe']!r} (not in probes.yml)")
        if any(r.alert == item["alert"] and r.probe == item["probe"] for r in rules):
            problem(f"{where}.alert", f"duplicate rule {item['alert']!r} for probe {item['probe']!r}")
        if "value" not in item and item.get("metric", "probe_success") != "probe_success":
            problem(f"{where}.value", "a rule on a metric other than probe_success needs value")
        rules.append(_rule(item, probe_types.get(item["probe"])))
    return rules


@dataclass(frozen=True)
class _Alerting:
    """What alerting.yml says: the route tree and the inhibition rules."""

    default_route: Route
    routes: list[Route]
    inhibit: list[InhibitRule]


def _alerting_file(doc: dict[str, Any], receivers: tuple[str, ...] | None, problem: Problem) -> _Alerting:
    """The routes (naming receivers of egov.yml, when known) and inhibition rules of alerting.yml."""
    route_doc = doc.get("route") or {}
    known = set(receivers) if receivers is not None else None
    default_route = _route("default", route_doc, None)
    routes: list[Route] = []
    for index, item in enumerate(route_doc.get("routes") or []):
        try:
            routes.append(_route(item["name"], item, default_route))
        except ValueError as error:
            problem(f"route.routes[{index}].matchers", str(error))
    for route in [default_route, *routes]:
        for name in [route.receiver, *(e.receiver for e in route.escalate)]:
            if known is not None and name and name not in known:
                problem(f"route.{route.name}", f"unknown receiver {name!r} (not in egov.yml)")
    if route_doc and not default_route.receiver:
        problem("route.receiver", "the top route needs a receiver")

    inhibit: list[InhibitRule] = []
    for index, item in enumerate(doc.get("inhibit_rules") or []):
        try:
            inhibit.append(
                InhibitRule(
                    parse_matchers(item["source_matchers"]),
                    parse_matchers(item["target_matchers"]),
                    tuple(item.get("equal") or ()),
                )
            )
        except ValueError as error:
            problem(f"inhibit_rules[{index}]", str(error))
    return _Alerting(default_route, routes, inhibit)


def _silences_file(doc: dict[str, Any], problem: Problem) -> list[Silence]:
    """The silences of silences.yml: matchers, an end or a recurring window in a known time zone."""
    silences: list[Silence] = []
    for index, item in enumerate(doc.get("silences") or []):
        where = f"silences[{index}]"
        try:
            starts, ends = _time(item.get("starts_at")), _time(item.get("ends_at"))
            matchers = parse_matchers(item["matchers"])
        except ValueError as error:
            problem(where, str(error))
            continue
        every = item.get("every")
        if not every and not ends:
            problem(where, "a silence needs ends_at or a recurring window (every)")
        if starts and ends and ends <= starts:
            problem(f"{where}.ends_at", "ends_at must be after starts_at")
        window = None
        if every:
            window = Window(tuple(every.get("days") or ()), every["start"], every["end"], every.get("timezone", "UTC"))
            try:
                from zoneinfo import ZoneInfo

                ZoneInfo(window.timezone)
            except Exception:
                problem(f"{where}.every.timezone", f"unknown time zone {window.timezone!r}")
        silences.append(
            Silence(f"file:{item['name']}", matchers, item["author"], item["comment"], starts, ends, window)
        )
    return silences


def load_monitoring(
    folder: Path, receivers: tuple[str, ...] | None = None, runbooks: RunbookCatalog | None = None
) -> MonitoringSpec:
    """Read and validate the monitoring folder.

    ``receivers`` are the receiver names of ``egov.yml`` when known (routes
    must name one of them); ``runbooks`` is the runbook engine's catalog
    (rules naming a runbook must name one that loads, with parameters it
    has; without it runbook names are not checked). Returns the
    MonitoringSpec (empty when the folder has no files). Raises ConfigError
    listing every problem of every file at once.
    """
    errors: list[ConfigError] = []
    probes_doc = _read(folder, "probes.yml", schema.PROBES_SCHEMA, errors)
    rules_doc = _read(folder, "rules.yml", schema.RULES_SCHEMA, errors)
    alerting_doc = _read(folder, "alerting.yml", schema.ALERTING_SCHEMA, errors)
    silences_doc = _read(folder, "silences.yml", schema.SILENCES_SCHEMA, errors)
    problems: dict[str, list[tuple[str, str]]] = {}

    def reporter(file: str) -> Problem:
        def problem(path: str, message: str) -> None:
            problems.setdefault(str(folder / file), []).append((path, message))

        return problem

    probes = _probes_file(probes_doc, reporter("probes.yml"))
    types = {p.name: p.type for p in probes}
    rules = _rules_file(rules_doc, types, bool(probes_doc), reporter("rules.yml"))
    if runbooks is not None:
        check_rule_runbooks(rules, runbooks, reporter("rules.yml"))
    alerting = _alerting_file(alerting_doc, receivers, reporter("alerting.yml"))
    silences = _silences_file(silences_doc, reporter("silences.yml"))

    if errors or problems:
        merged: list[tuple[str, str]] = []
        for error in errors:
            merged += [
                (f"{error.source}: {path}" if path else error.source, message) for path, message in error.problems
            ]
        for file, items in problems.items():
            merged += [(f"{file}: {path}", message) for path, message in items]
        raise ConfigError(str(folder), merged)
    defaults = probes_doc.get("defaults") or {}
    flapping_doc = alerting_doc.get("flapping") or {}
    return MonitoringSpec(
        folder=folder,
        probes=tuple(probes),
        rules=tuple(rules),
        routes=tuple(alerting.routes),
        default_route=alerting.default_route,
        inhibit_rules=tuple(alerting.inhibit),
        silences=tuple(silences),
        flapping=Flapping(parse_duration(flapping_doc.get("window"), 600.0), int(flapping_doc.get("threshold", 4))),
        history=int(defaults.get("history", 100)),
        external_url=alerting_doc.get("external_url", ""),
    )
