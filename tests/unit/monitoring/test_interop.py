"""Interoperability: Alertmanager intake, /metrics collectors, export checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from controlplane.errors import BadInputError
from controlplane.monitoring import alert_actions
from controlplane.monitoring.export import export_prometheus, rule_expr
from controlplane.monitoring.intake import intake_alertmanager, verify_token
from controlplane.monitoring.labels import fingerprint
from controlplane.monitoring.results import save_results
from controlplane.monitoring.spec_loader import load_monitoring
from tests.conftest import REPO
from tests.unit.monitoring.helpers import T0, health_result, seconds, ssh_result


def am_payload(status: str = "firing", ends: str = "0001-01-01T00:00:00Z") -> dict:  # type: ignore[type-arg]
    return {
        "version": "4", "status": status, "receiver": "egov", "groupKey": "{}:{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example",
        "alerts": [{"status": status, "labels": {"alertname": "NodeDown", "instance": "gd-edu-9:9100"},
                    "annotations": {"summary": "node exporter down"}, "startsAt": "2026-03-02T07:59:00Z",
                    "endsAt": ends, "generatorURL": "http://prom.example/graph", "fingerprint": "ignored"}],
    }  # fmt: skip


def test_alertmanager_alerts_join_ours_with_alertmanagers_fingerprint(site_store) -> None:  # type: ignore[no-untyped-def]
    counts = intake_alertmanager(am_payload(), site_store, now=T0)
    assert counts == {"received": 1, "firing": 1, "resolved": 0, "ignored": 0, "refused": 0, "refusals": []}
    [row] = alert_actions.list_alerts(site_store, state="firing", now=T0)
    assert row["source"] == "intake"
    assert row["fingerprint"] == fingerprint({"alertname": "NodeDown", "instance": "gd-edu-9:9100"})
    intake_alertmanager(am_payload("resolved", "2026-03-02T08:05:00Z"), site_store, now=T0 + seconds(300))
    [row] = alert_actions.list_alerts(site_store, now=T0 + seconds(300))
    assert row["state"] == "resolved" and row["resolved_at"].startswith("2026-03-02T08:05:00")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([], "JSON object"),
        ({"version": "3", "alerts": []}, "version 4"),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}, "alertname"),
        ({"version": "4", "alerts": [{"status": "odd", "labels": {"alertname": "A"}}]}, "firing or resolved"),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": 1}}]}, "valid name"),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "startsAt": "now"}]}, "RFC"),
    ],
)
def test_a_malformed_intake_payload_is_refused_with_the_reason(site_store, payload, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInputError, match=problem):
        intake_alertmanager(payload, site_store)


def test_the_intake_token_is_compared_in_constant_time_and_never_empty() -> None:
    assert verify_token("abc", "abc")
    assert not verify_token("abd", "abc")
    assert not verify_token(None, "abc") and not verify_token("", "abc")


def test_collectors_expose_probe_samples_and_alerts_with_prometheus_names(site_store) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import CollectorRegistry, generate_latest

    from controlplane.monitoring.metrics import AlertCollector, ProbeCollector

    with site_store.session() as session:
        save_results(session, [ssh_result("mn-db-1", False), health_result("mn-db-1", {"postgresql": True})])
    intake_alertmanager(am_payload(), site_store)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(site_store))
    registry.register(AlertCollector(site_store))
    text = generate_latest(registry).decode()
    assert 'egov_probe_success{check="ssh",host="mn-db-1",role="portal",site="ministry"} 0.0' in text
    assert (
        'egov_service_active{check="health",host="mn-db-1",role="portal",service="postgresql",site="ministry"} 1.0'
        in text
    )
    assert "# TYPE egov_probe_duration_seconds gauge" in text
    assert 'egov_alerts{severity="",state="firing"}' not in text  # bounded severities only
    assert "egov_probe_last_run_timestamp_seconds{" in text
    assert "egov_alert_notifications_total" in text or "# TYPE egov_alert_notifications counter" in text


def test_rules_export_as_equivalent_promql() -> None:
    spec = load_monitoring(REPO / "monitoring")
    by_name = {r.alert: r for r in spec.rules}
    assert rule_expr(by_name["HostDown"]) == 'egov_probe_success{check="ssh"} == 0'
    assert rule_expr(by_name["DiskAlmostFull"]) == 'egov_host_disk_used_ratio{check="health"} > 0.9'


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_accepts_the_exported_scrape_config_and_rules(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = load_monitoring(REPO / "monitoring")
    config_file, rules_file = export_prometheus(site, spec, tmp_path / "prom")
    rules = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(spec.rules)} rules found" in rules.stdout
    config = subprocess.run(["promtool", "check", "config", str(config_file)], capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr
    document = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
    host_down = next(r for g in document["groups"] for r in g["rules"] if r["alert"] == "HostDown")
    assert host_down["for"] == "10s" and host_down["labels"] == {"severity": "critical"}
    assert "{{ $labels.host }}" in host_down["annotations"]["summary"]
