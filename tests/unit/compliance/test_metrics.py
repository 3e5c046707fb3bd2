"""The per-site compliance metrics, read from the store by a custom collector on a private registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from controlplane.compliance.metrics import ComplianceCollector
from tests.unit.compliance.test_service import inventory, scan_once  # noqa: F401 - fixture


def test_a_store_without_scans_exports_no_score(store) -> None:
    registry = CollectorRegistry()
    registry.register(ComplianceCollector(store))
    assert registry.get_sample_value("egov_compliance_score_ratio", {"site": "ministry"}) is None


def test_scores_results_and_scan_time_per_site_come_from_each_hosts_newest_scan(config, store, inventory) -> None:  # noqa: F811
    outcome = scan_once(config, store, inventory, limit=None, site="province-gd")
    registry = CollectorRegistry()
    registry.register(ComplianceCollector(store))
    ratio = registry.get_sample_value("egov_compliance_score_ratio", {"site": "school-gd-1"})
    before = registry.get_sample_value("egov_compliance_score_before_waivers_ratio", {"site": "school-gd-1"})
    assert ratio is not None and 0 < ratio < 1 and before == ratio
    school = [r for r in outcome.scan.results if r.site == "school-gd-1"]
    fails = sum(1 for r in school if r.status == "fail" and r.severity == "high")
    labels = {"site": "school-gd-1", "severity": "high", "status": "fail"}
    assert registry.get_sample_value("egov_compliance_results", labels) == fails
    # province-gd holds gd-edu-1 and its gateway gd-gw-1 since issue 16 (gd-school-1 is its own site)
    assert registry.get_sample_value("egov_compliance_hosts", {"site": "province-gd", "assessed": "true"}) == 2
    stamp = registry.get_sample_value("egov_compliance_last_scan_timestamp_seconds", {"site": "province-gd"})
    assert stamp == outcome.scan.finished.timestamp()
    assert b"egov_compliance_score_ratio" in generate_latest(registry)
