"""The alert lifecycle, as pure logic: pending → firing → resolved, with flapping held back.

:func:`evaluate` takes the rules, the latest probe results, the current
alerts and ``now`` (an injectable clock), and returns the new alerts. It
does no I/O, so the lifecycle is tested with a fake clock and no store.

* Identity is the label set (fingerprint); annotations never change it.
* A condition true for ``for`` seconds makes a pending alert fire; a pending
  alert whose condition clears is dropped without a word.
* A result that could not measure the rule's metric (the host did not answer
  the health check) freezes that rule's alerts on that host: "unknown" is
  neither resolved nor firing, so an unreachable host does not resolve its
  service alerts.
* An alert that flipped between firing and resolved ``threshold`` times in
  ``window`` seconds is flapping: it stays firing until its condition has
  been clear for a whole window, so on-call is not paged on every flip.
* A new episode (firing again after resolved) clears the acknowledgement.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.monitoring.labels import fingerprint
from controlplane.monitoring.results import ProbeResult
from controlplane.monitoring.spec import Flapping, Rule

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
ENGINE, INTAKE = "engine", "intake"
INTAKE_RESOLVE_TIMEOUT = 300.0  # an intake alert not refreshed for 5 min is resolved
RESOLVED_RETENTION = 7 * 86400.0
OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
             ">=": operator.ge}  # fmt: skip
# Metrics every result carries even when the probe failed.
ALWAYS_MEASURED = ("probe_success", "probe_duration_seconds")


@dataclass
class Alert:
    """One alert identity and its lifecycle state."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    active_since: dt.datetime | None = None
    fired_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    clearing_since: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    value: float | None = None
    transitions: list[dt.datetime] = field(default_factory=list)
    acked_by: str | None = None
    acked_at: dt.datetime | None = None
    ack_comment: str | None = None
    source: str = ENGINE
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        """The alert's identity: the fingerprint of its labels."""
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        """The alert name (``alertname`` label)."""
        return self.labels.get("alertname", "")

    def flapping(self, policy: Flapping, now: dt.datetime) -> bool:
        """Whether the alert flipped ``threshold`` times within the last ``window``."""
        since = now - dt.timedelta(seconds=policy.window)
        return sum(1 for t in self.transitions if t >= since) >= policy.threshold


@dataclass(frozen=True)
class Candidate:
    """A rule's condition found true for one label set, with its annotations and value."""

    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    for_seconds: float


class _Template(dict):  # type: ignore[type-arg]
    """Format mapping that leaves unknown {names} as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(text: str, labels: Mapping[str, str], value: float) -> str:
    """Fill ``{label}`` and ``{value}`` in an annotation (unknown names stay as written)."""
    try:
        return text.format_map(_Template({**labels, "value": _format_value(value)}))
    except (ValueError, IndexError):  # stray braces: show the text unformatted
        return text


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def candidates(rules: Iterable[Rule], results: Iterable[ProbeResult]) -> tuple[list[Candidate], set[tuple[str, str]]]:
    """Evaluate rules over the latest results.

    Returns the candidates (conditions true now) and the frozen
    (alertname, host) pairs whose metric could not be measured.
    """
    by_check: dict[str, list[ProbeResult]] = {}
    for result in results:
        by_check.setdefault(result.check, []).append(result)
    found: list[Candidate] = []
    frozen: set[tuple[str, str]] = set()
    for rule in rules:
        compare = OPERATORS[rule.op]
        for result in by_check.get(rule.probe, []):
            if not result.success and rule.metric not in ALWAYS_MEASURED:
                frozen.add((rule.alert, result.host))
                continue
            for sample in result.all_samples():
                if sample.name != rule.metric:
                    continue
                if any(sample.labels.get(k) != v for k, v in rule.match.items()):
                    continue
                if not compare(sample.value, rule.value):
                    continue
                labels = {
                    "alertname": rule.alert,
                    "severity": rule.severity,
                    "check": result.check,
                    "host": result.host,
                    "site": result.site,
                    "role": result.role,
                    **sample.labels,
                    **rule.labels,
                }
                context = {**labels, "message": result.message}
                annotations = {k: render(v, context, sample.value) for k, v in rule.annotations.items()}
                found.append(Candidate(labels, annotations, sample.value, rule.for_seconds))
    return found, frozen


def _frozen(alert: Alert, frozen: set[tuple[str, str]]) -> bool:
    return (alert.labels.get("alertname", ""), alert.labels.get("host", "")) in frozen


def evaluate(
    alerts: Mapping[str, Alert],
    found: Iterable[Candidate],
    frozen: set[tuple[str, str]],
    now: dt.datetime,
    flapping: Flapping,
) -> dict[str, Alert]:
    """Advance every alert's lifecycle one step.

    ``found`` and ``frozen`` come from :func:`candidates`. Returns new Alert
    objects by fingerprint; the input is not changed. Intake alerts are only
    expired here (their state comes from their sender).
    """
    result: dict[str, Alert] = {fp: replace(a, transitions=list(a.transitions)) for fp, a in alerts.items()}
    active: dict[str, Candidate] = {}
    for candidate in found:
        active.setdefault(fingerprint(candidate.labels), candidate)
    window_start = now - dt.timedelta(seconds=max(flapping.window, 0))
    for fp, candidate in active.items():
        alert = result.get(fp)
        if alert is None or alert.state == RESOLVED:
            alert = Alert(
                labels=dict(candidate.labels),
                annotations=dict(candidate.annotations),
                state=PENDING,
                active_since=now,
                transitions=[t for t in (alert.transitions if alert else []) if t >= window_start],
            )
            result[fp] = alert
        alert.annotations = dict(candidate.annotations)
        alert.value = candidate.value
        alert.last_seen = now
        alert.clearing_since = None
        held = (now - alert.active_since).total_seconds() if alert.active_since else 0.0
        if alert.state == PENDING and held >= candidate.for_seconds:
            alert.state = FIRING
            alert.fired_at = now
            alert.resolved_at = None
            alert.acked_by = alert.acked_at = alert.ack_comment = None  # a new episode needs a new ack
            alert.transitions.append(now)
    for fp, alert in list(result.items()):
        if fp in active:
            continue
        if alert.source == INTAKE:
            seen = alert.last_seen or alert.fired_at or now
            if alert.state == FIRING and (now - seen).total_seconds() > INTAKE_RESOLVE_TIMEOUT:
                _resolve(alert, now)
        elif _frozen(alert, frozen):
            continue
        elif alert.state == PENDING:
            del result[fp]
        elif alert.state == FIRING:
            if alert.flapping(flapping, now):
                alert.clearing_since = alert.clearing_since or now
                if (now - alert.clearing_since).total_seconds() < flapping.window:
                    continue
            _resolve(alert, now)
        age = (now - alert.resolved_at).total_seconds() if alert.resolved_at else 0.0
        if alert.state == RESOLVED and age > RESOLVED_RETENTION:
            del result[fp]
        alert.transitions = [t for t in alert.transitions if t >= window_start]
    return result


def _resolve(alert: Alert, now: dt.datetime) -> None:
    alert.state = RESOLVED
    alert.resolved_at = now
    alert.clearing_since = None
    alert.transitions.append(now)


def as_dict(alert: Alert, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-safe view of an alert for the CLI and the console."""

    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "fingerprint": alert.fingerprint,
        "name": alert.name,
        "state": alert.state,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "value": alert.value,
        "active_since": iso(alert.active_since),
        "fired_at": iso(alert.fired_at),
        "resolved_at": iso(alert.resolved_at),
        "acked_by": alert.acked_by,
        "acked_at": iso(alert.acked_at),
        "ack_comment": alert.ack_comment,
        "source": alert.source,
        **(extra or {}),
    }
