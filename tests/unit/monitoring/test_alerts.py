"""The alert lifecycle: pending → firing → resolved, unknown results, flapping, acks."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.monitoring.alerts import FIRING, PENDING, RESOLVED, Alert, candidates, evaluate, render
from controlplane.monitoring.labels import fingerprint
from tests.unit.monitoring.helpers import T0, health_result, make_spec, seconds, ssh_result


@pytest.fixture
def spec(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_spec(tmp_path / "monitoring")


def step(spec, alerts, results, now):  # type: ignore[no-untyped-def]
    found, frozen = candidates(spec.rules, results)
    return evaluate(alerts, found, frozen, now, spec.flapping)


def only(alerts: dict[str, Alert]) -> Alert:
    assert len(alerts) == 1, alerts
    return next(iter(alerts.values()))


def test_a_failed_probe_makes_a_pending_alert_that_fires_after_its_for_duration(spec) -> None:  # type: ignore[no-untyped-def]
    alerts = step(spec, {}, [ssh_result("mn-db-1", False)], T0)
    assert only(alerts).state == PENDING
    alerts = step(spec, alerts, [ssh_result("mn-db-1", False)], T0 + seconds(9))
    assert only(alerts).state == PENDING
    alerts = step(spec, alerts, [ssh_result("mn-db-1", False)], T0 + seconds(10))
    alert = only(alerts)
    assert alert.state == FIRING
    assert alert.fired_at == T0 + seconds(10)
    assert alert.labels == {"alertname": "HostDown", "severity": "critical", "check": "ssh", "host": "mn-db-1",
                            "site": "ministry", "role": "portal"}  # fmt: skip
    assert alert.annotations["summary"] == "mn-db-1 down: connection refused"


def test_a_pending_alert_whose_condition_clears_disappears_without_firing(spec) -> None:  # type: ignore[no-untyped-def]
    alerts = step(spec, {}, [ssh_result("mn-db-1", False)], T0)
    alerts = step(spec, alerts, [ssh_result("mn-db-1", True)], T0 + seconds(5))
    assert alerts == {}


def test_a_firing_alert_is_resolved_when_the_probe_succeeds_again(spec) -> None:  # type: ignore[no-untyped-def]
    alerts = step(spec, {}, [ssh_result("h", False)], T0)
    alerts = step(spec, alerts, [ssh_result("h", False)], T0 + seconds(10))
    alerts = step(spec, alerts, [ssh_result("h", True)], T0 + seconds(20))
    alert = only(alerts)
    assert alert.state == RESOLVED
    assert alert.resolved_at == T0 + seconds(20)


def test_labels_are_identity_and_annotations_are_not(spec) -> None:  # type: ignore[no-untyped-def]
    first = step(spec, {}, [ssh_result("h", False)], T0)
    changed = ssh_result("h", False)
    changed.message = "timed out"
    second = step(spec, first, [changed], T0 + seconds(1))
    assert list(first) == list(second)
    assert only(second).annotations["summary"] == "h down: timed out"
    assert only(second).fingerprint == fingerprint(only(second).labels)


def test_each_stopped_service_is_its_own_alert_with_a_service_label(spec) -> None:  # type: ignore[no-untyped-def]
    result = health_result("h", {"portal": False, "sshd": True, "office": False})
    alerts = step(spec, {}, [result], T0)
    assert sorted(a.labels["service"] for a in alerts.values()) == ["office", "portal"]


def test_an_unreachable_host_neither_resolves_nor_advances_its_service_alerts(spec) -> None:  # type: ignore[no-untyped-def]
    alerts = step(spec, {}, [health_result("h", {"portal": False})], T0)
    alerts = step(spec, alerts, [health_result("h", {"portal": False})], T0 + seconds(10))
    assert only(alerts).state == FIRING
    unknown = health_result("h", {}, ok=False)
    alerts = step(spec, alerts, [unknown], T0 + seconds(60))
    assert only(alerts).state == FIRING


def test_a_metric_rule_fires_on_its_threshold_and_renders_the_value(spec) -> None:  # type: ignore[no-untyped-def]
    alerts = step(spec, {}, [health_result("h", {}, disk=0.95)], T0)
    alert = only(alerts)
    assert alert.state == FIRING  # no `for`: fires at once
    assert alert.annotations["summary"] == "/ on h is 0.95 full"


def test_a_flapping_alert_stays_firing_until_it_has_been_stable_for_a_window(spec) -> None:  # type: ignore[no-untyped-def]
    now, alerts = T0, {}
    # Fire and resolve twice (4 flips in the 10-minute window).
    for _ in range(2):
        alerts = step(spec, alerts, [ssh_result("h", False)], now)
        alerts = step(spec, alerts, [ssh_result("h", False)], now + seconds(10))
        assert only(alerts).state == FIRING
        alerts = step(spec, alerts, [ssh_result("h", True)], now + seconds(20))
        now += seconds(30)
    alerts = step(spec, alerts, [ssh_result("h", False)], now)
    alerts = step(spec, alerts, [ssh_result("h", False)], now + seconds(10))
    assert only(alerts).flapping(spec.flapping, now + seconds(10))
    # The condition clears, but the flapping alert is held firing...
    alerts = step(spec, alerts, [ssh_result("h", True)], now + seconds(20))
    assert only(alerts).state == FIRING
    alerts = step(spec, alerts, [ssh_result("h", True)], now + seconds(300))
    assert only(alerts).state == FIRING
    # ...until it has been clear for the whole window.
    alerts = step(spec, alerts, [ssh_result("h", True)], now + seconds(20 + 600))
    assert only(alerts).state == RESOLVED


def test_a_new_episode_clears_the_acknowledgement_of_the_last_one(spec) -> None:  # type: ignore[no-untyped-def]
    alerts = step(spec, {}, [ssh_result("h", False)], T0)
    alerts = step(spec, alerts, [ssh_result("h", False)], T0 + seconds(10))
    only(alerts).acked_by = "li.wei"
    alerts = step(spec, alerts, [ssh_result("h", True)], T0 + seconds(20))
    alerts = step(spec, alerts, [ssh_result("h", False)], T0 + seconds(30))
    alerts = step(spec, alerts, [ssh_result("h", False)], T0 + seconds(40))
    assert only(alerts).state == FIRING
    assert only(alerts).acked_by is None


def test_evaluate_does_not_change_its_input(spec) -> None:  # type: ignore[no-untyped-def]
    before = step(spec, {}, [ssh_result("h", False)], T0)
    snapshot = {fp: (a.state, list(a.transitions)) for fp, a in before.items()}
    step(spec, before, [ssh_result("h", False)], T0 + seconds(10))
    assert {fp: (a.state, list(a.transitions)) for fp, a in before.items()} == snapshot


def test_render_leaves_unknown_placeholders_and_stray_braces_alone() -> None:
    assert render("{host} {nope} {value}", {"host": "h"}, 0.5) == "h {nope} 0.5"
    assert render("broken {", {"host": "h"}, 1) == "broken {"
