"""The network_verify probe: the newest verify's violations as samples; NetworkPathViolation names path and rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane import providers
from controlplane.monitoring.alerts import FIRING, candidates, evaluate
from controlplane.monitoring.probes.network_paths import network_verify_probe, stable_rule
from controlplane.monitoring.spec import Check, Flapping, Probe
from controlplane.monitoring.spec_loader import load_monitoring
from tests.conftest import REPO

NOW = dt.datetime(2026, 12, 8, 3, 0, tzinfo=dt.UTC)
CHECK = Check(Probe("network-verify", "network_verify", 60, 5), "controlplane", "controlplane", "controlplane")


def document(*rules: str | None, broken: bool = False) -> dict[str, Any]:
    """A stored verify's JSON form: one violation per rule given (gd-school-1 to mn-db-1 on 5432), maybe a breakage."""
    paths = [
        {"source": "gd-school-1", "source_zone": "school-gd", "destination": "mn-db-1", "destination_zone": "internal",
         "address": "10.198.11.14", "protocol": "tcp", "port": 5432 + index, "expected": "deny", "flow": None,
         "observed": "open", "verdict": "violation", "rule": rule}
        for index, rule in enumerate(rules)
    ]  # fmt: skip
    paths.append({**paths[0], "port": 22, "verdict": "ok", "observed": "timeout"} if paths else {})
    if broken:
        paths.append({"source": "ext-probe-1", "source_zone": "outside", "destination": "mn-portal-1",
                      "destination_zone": "dmz", "address": "10.198.10.11", "protocol": "tcp", "port": 443,
                      "expected": "allow", "flow": "public-web", "observed": "refused", "verdict": "breakage",
                      "rule": "mn-gw-1 flow:public-web +1 packets"})  # fmt: skip
    return {"id": 9, "run_id": 90, "finished_at": (NOW - dt.timedelta(hours=1)).isoformat(),
            "counts": {"paths": len(paths), "violations": len(rules), "breakages": int(broken)},
            "paths": [p for p in paths if p]}  # fmt: skip


@pytest.fixture
def reports() -> Iterator[list[dict[str, Any] | None]]:
    """The newest verify the probe reads, as the composition root hands the reader over (the list's last item)."""
    newest: list[dict[str, Any] | None] = [None]
    providers.provide(network_report=lambda store: newest[-1])
    yield newest
    providers.provide()


def fire(results: list[Any], alerts: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = load_monitoring(REPO / "monitoring", ("oncall", "oncall-lead"))
    found, frozen = candidates(spec.rules, results)
    return evaluate(alerts or {}, found, frozen, NOW, Flapping())


def test_a_violation_in_the_newest_verify_fires_network_path_violation_with_the_path_and_the_rule(reports) -> None:
    reports.append(document("gd-gw-1 flow:school-gd-province +2 packets, mn-gw-1 dropped (policy)"))
    result = network_verify_probe(CHECK, store=None, now=NOW)  # type: ignore[arg-type]
    assert result.success and result.message.startswith("verify 9 (run 90) 1.0 h ago: 2 path(s), 1 violation(s)")
    [alert] = [a for a in fire([result]).values() if a.name == "NetworkPathViolation"]
    assert alert.state == FIRING and alert.labels["severity"] == "critical"
    assert alert.labels["path"] == "gd-school-1 -> mn-db-1 10.198.11.14:5432/tcp"
    assert alert.labels["rule"] == "gd-gw-1 flow:school-gd-province, mn-gw-1 dropped (policy)"
    summary = alert.annotations["summary"]
    assert "gd-school-1 -> mn-db-1 10.198.11.14:5432/tcp" in summary and "gd-gw-1 flow:school-gd-province" in summary
    assert alert.annotations["runbook_url"] == "monitoring/runbooks/network-path-violation.md"
    assert (REPO / alert.annotations["runbook_url"]).is_file()


def test_the_same_open_path_is_the_same_alert_from_one_verify_to_the_next_and_resolves_when_closed(reports) -> None:
    reports.append(document("gd-gw-1 flow:x +2 packets"))
    first = fire([network_verify_probe(CHECK, store=None, now=NOW)])  # type: ignore[arg-type]
    reports.append(document("gd-gw-1 flow:x +7 packets"))
    second = fire([network_verify_probe(CHECK, store=None, now=NOW)], first)  # type: ignore[arg-type]
    assert set(first) == set(second)
    reports.append(document())
    third = fire([network_verify_probe(CHECK, store=None, now=NOW)], second)  # type: ignore[arg-type]
    assert {a.state for a in third.values() if a.name == "NetworkPathViolation"} == {"resolved"}


def test_a_breakage_warns_and_no_verify_yet_is_quiet(reports) -> None:
    reports.append(document(broken=True))
    alerts = fire([network_verify_probe(CHECK, store=None, now=NOW)])  # type: ignore[arg-type]
    [broken] = [a for a in alerts.values() if a.name == "NetworkFlowBroken"]
    assert broken.labels["severity"] == "warning" and "public-web" in broken.annotations["summary"]
    reports.append(None)
    quiet = network_verify_probe(CHECK, store=None, now=NOW)  # type: ignore[arg-type]
    assert quiet.success and quiet.samples == [] and "no network verify yet" in quiet.message


def test_an_old_verify_is_stale_and_an_unwired_process_fails_the_probe(reports) -> None:
    reports.append(document())
    later = network_verify_probe(CHECK, store=None, now=NOW + dt.timedelta(days=3))  # type: ignore[arg-type]
    assert [a.name for a in fire([later]).values()] == ["NetworkVerifyStale"]
    providers.provide()
    unwired = network_verify_probe(CHECK, store=None, now=NOW)  # type: ignore[arg-type]
    assert not unwired.success and "no network verify reader" in unwired.message


def test_counter_values_never_reach_the_rule_label() -> None:
    assert stable_rule("mn-gw-1 flow:public-web +2 packets") == "mn-gw-1 flow:public-web"
    assert stable_rule("gd-gw-1 dropped (policy) +12 packets 720 bytes") == "gd-gw-1 dropped (policy)"
    assert stable_rule(None).startswith("unknown")
