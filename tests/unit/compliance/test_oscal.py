"""The OSCAL assessment-results document validates against the official 1.0.6 schema."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.evaluate import HostContext, evaluate_host
from controlplane.compliance.oscal import assessment_results
from controlplane.compliance.waivers import Waiver, apply_waivers
from tests.unit.compliance.conftest import SCAN_TIME, recorded

SCHEMA = Path(__file__).resolve().parents[4] / "shared" / "oscal" / "oscal_assessment-results_schema_1.0.6.json"


def oscal_validator() -> Draft7Validator:
    """The official schema, with its Unicode property classes spelled for Python's re.

    The schema's Token pattern uses \\p{L} and \\p{N}, which Python's re module
    does not support; [^\\W\\d_] (a Unicode letter) and \\d (a Unicode digit)
    are the same classes for the identifiers we write.
    """
    text = SCHEMA.read_text(encoding="utf-8").replace("\\\\p{L}", "[^\\\\W\\\\d_]").replace("\\\\p{N}", "\\\\d")
    schema = json.loads(text)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def document(catalog: Catalog) -> dict[str, Any]:
    hosts = [
        HostContext(
            "mn-portal-1",
            "ministry",
            ("portal",),
            {"backup.has_policy": True, "backup.last_success": SCAN_TIME.timestamp()},
        ),
        HostContext("gd-school-1", "school-gd-1", ("school",), {"backup.has_policy": False}),
        HostContext("mn-db-1", "ministry", ("database",), None),
    ]
    results = evaluate_host(catalog, recorded("hardened_host"), hosts[0], SCAN_TIME)
    results += evaluate_host(catalog, recorded("lab_host"), hosts[1], SCAN_TIME)
    results += evaluate_host(
        catalog, {"collector_version": None, "unreachable": "connection refused"}, hosts[2], SCAN_TIME
    )
    fresh = evaluate_host(
        catalog, recorded("fresh_host"), HostContext("gd-school-2", "school-gd-1", ("school",), {}), SCAN_TIME
    )
    waiver = Waiver(
        "ssh.banner", "Banner text awaits legal review.", "Li Na", date(2026, 12, 31), sites=("school-gd-1",)
    )
    results += apply_waivers(fresh, [waiver], today=SCAN_TIME.date())
    hosts.append(HostContext("gd-school-2", "school-gd-1", ("school",), {}))
    return assessment_results(
        results,
        catalog,
        hosts,
        scan_id="scan-42",
        started=SCAN_TIME - timedelta(seconds=2),
        finished=SCAN_TIME,
        scope="all sites",
    )


@pytest.mark.skipif(not SCHEMA.exists(), reason="the shared OSCAL schema is not present")
def test_the_assessment_results_document_is_valid_oscal_1_0_6(document: dict[str, Any]) -> None:
    errors = sorted(oscal_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]] == []


def test_every_result_is_an_observation_and_not_applicable_ones_are_not_findings(
    document: dict[str, Any], catalog: Catalog
) -> None:
    (result,) = document["assessment-results"]["results"]
    assert len(result["observations"]) == 4 * len(catalog)
    states = {(f["target"]["target-id"], f["props"][2]["value"]): f["target"]["status"] for f in result["findings"]}
    assert ("kernel.aslr", "gd-school-1") not in states
    assert states[("kernel.aslr", "mn-portal-1")] == {"state": "satisfied", "reason": "pass"}
    assert states[("ssh.macs", "gd-school-2")] == {"state": "not-satisfied", "reason": "fail"}
    assert states[("ssh.banner", "gd-school-2")]["remarks"].startswith(
        "failed (banner none); waived until 2026-12-31 by Li Na"
    )
    assert states[("ssh.ciphers", "mn-db-1")] == {
        "state": "not-satisfied",
        "reason": "other",
        "remarks": "error: connection refused",
    }


def test_the_document_states_catalog_version_scope_and_time(document: dict[str, Any], catalog: Catalog) -> None:
    ar = document["assessment-results"]
    assert ar["metadata"]["version"] == catalog.version
    assert {"name": "scope", "value": "all sites", "ns": "urn:egov:compliance"} in ar["results"][0]["props"]
    assert ar["results"][0]["end"] == SCAN_TIME.isoformat(timespec="seconds")


def test_building_the_document_twice_gives_the_same_uuids(document: dict[str, Any], catalog: Catalog) -> None:
    again = assessment_results(
        [], catalog, [], scan_id="scan-42", started=SCAN_TIME, finished=SCAN_TIME, scope="all sites"
    )
    assert again["assessment-results"]["uuid"] == document["assessment-results"]["uuid"]


@pytest.mark.skipif(not SCHEMA.exists(), reason="the shared OSCAL schema is not present")
def test_the_validation_really_rejects_a_broken_document(document: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(document))
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "maybe"
    del broken["assessment-results"]["metadata"]["title"]
    messages = [error.message for error in oscal_validator().iter_errors(broken)]
    assert "'title' is a required property" in messages
    assert any("'maybe' is not one of" in message for message in messages)
