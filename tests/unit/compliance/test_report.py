"""The JSON report: valid against its published schema, with scores, evidence, waivers and the diff."""

from __future__ import annotations

import json
from datetime import date

from jsonschema import Draft202012Validator

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.evaluate import HostContext
from controlplane.compliance.report import REPORT_SCHEMA, by_mlps, json_report
from controlplane.compliance.scanner import ScanTarget, scan
from controlplane.compliance.waivers import Waiver
from controlplane.ssh import Target
from tests.unit.compliance.conftest import SCAN_TIME
from tests.unit.compliance.test_scanner import RecordedPool

WAIVERS = [
    Waiver("ssh.banner", "Banner text awaits legal review.", "Li Na", date(2026, 12, 31), sites=("school-gd-1",)),
    Waiver(
        "ssh.macs", "Old client in the exam room needs hmac-sha1.", "Li Na", date(2026, 1, 31), hosts=("gd-school-1",)
    ),
]


def a_scan(catalog: Catalog):  # type: ignore[no-untyped-def]
    targets = [
        ScanTarget(Target("gd-school-1", "10.198.0.51"), HostContext("gd-school-1", "school-gd-1", ("school",), {}))
    ]
    return scan(catalog, targets, RecordedPool(), waivers=WAIVERS, now=SCAN_TIME)


def test_the_json_report_is_valid_against_its_published_schema(catalog: Catalog) -> None:
    current = a_scan(catalog)
    report = json.loads(
        json.dumps(json_report(current, catalog, WAIVERS, previous=current.results, scope="site school-gd-1"))
    )
    validator = Draft202012Validator(REPORT_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert [error.message for error in validator.iter_errors(report)] == []
    first = json_report(current, catalog, WAIVERS)
    assert first["diff"] is None and not list(validator.iter_errors(json.loads(json.dumps(first))))


def test_the_report_states_version_time_scope_and_scores_before_and_after_waivers(catalog: Catalog) -> None:
    report = json_report(a_scan(catalog), catalog, WAIVERS, scope="site school-gd-1")
    assert report["catalog_version"] == catalog.version and report["scope"] == "site school-gd-1"
    assert report["scan"]["started"] == SCAN_TIME.isoformat()
    overall = report["scores"]["overall"]
    assert overall["waived"] == 1 and overall["after_waivers"] > overall["before_waivers"]
    assert list(report["scores"]["by_severity"]) == ["critical", "high", "medium", "low"]
    assert [w["control"] for w in report["waivers"]["expired"]] == ["ssh.macs"]


def test_scores_by_mlps_category_count_a_control_in_each_category_it_maps_to(catalog: Catalog) -> None:
    results = a_scan(catalog).results
    groups = by_mlps(results, catalog)
    assert "安全计算环境—身份鉴别" in groups and "安全通信网络—通信传输" in groups
    ciphers = catalog.get("ssh.ciphers")
    assert len(set(ciphers.mlps_titles)) == 2
    total = sum(len(set(catalog.get(r.control_id).mlps_titles)) for r in results)
    assert sum(s.applicable + s.not_applicable for s in groups.values()) == total


def test_the_report_keeps_evidence_and_fix_for_each_result(catalog: Catalog) -> None:
    report = json_report(a_scan(catalog), catalog)
    macs = next(r for r in report["results"] if r["control_id"] == "ssh.macs")
    assert macs["status"] == "fail" and macs["found"].startswith("macs umac-64-etm")
    assert macs["remediation"] == {"playbook": "harden", "role": "harden_ssh", "tag": "ssh"}
    assert report["controls"]["ssh.macs"]["references"]["cis"]["id"] == "5.1.15"
