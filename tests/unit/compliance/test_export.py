"""Reports of a stored scan: every format states catalog version, scan time and scope; JSON and OSCAL validate."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from controlplane.compliance.export import filename, load_report, render, render_csv
from controlplane.compliance.report import REPORT_SCHEMA
from controlplane.errors import BadInputError, EgovError
from tests.unit.compliance.test_oscal import oscal_validator
from tests.unit.compliance.test_service import inventory, scan_once  # noqa: F401 - fixture


@pytest.fixture
def scanned(config, store, inventory) -> Any:  # noqa: F811
    first = scan_once(config, store, inventory, limit=None, site="province-gd")
    second = scan_once(config, store, inventory, limit=None, site="province-gd")
    return first, second


def test_the_json_report_of_the_newest_scan_is_valid_and_states_version_time_and_scope(config, store, scanned) -> None:
    data = load_report(config, store)
    document = json.loads(render(data, "json"))
    Draft202012Validator(REPORT_SCHEMA, format_checker=FormatChecker()).validate(document)
    assert document["scope"] == f"site province-gd (scan {scanned[1].scan_id})"
    assert document["catalog_version"] and document["scan"]["started"] and document["diff"] is not None


def test_a_site_report_holds_only_that_sites_hosts(config, store, scanned, inventory) -> None:  # noqa: F811
    data = load_report(config, store, site="school-gd-1", inventory=inventory)
    assert {h.host.name for h in data.stored.scan.hosts} == {"gd-school-1"}
    assert data.scope.startswith("site school-gd-1 (from scan")
    with pytest.raises(BadInputError, match="no stored scan covers site"):
        load_report(config, store, site="dr-center", inventory=inventory)


def test_the_oscal_export_is_valid_against_the_official_1_0_6_schema(config, store, scanned) -> None:
    document = json.loads(render(load_report(config, store), "oscal"))
    errors = list(oscal_validator().iter_errors(document))
    assert not errors, errors[:3]
    props = {p["name"]: p["value"] for p in document["assessment-results"]["results"][0]["props"]}
    assert props["scope"].startswith("site province-gd")


def test_the_html_report_is_self_contained_with_svg_charts_and_the_mlps_view(config, store, scanned) -> None:
    data = load_report(config, store)
    html = render(data, "html").decode()
    assert "<svg" in html and "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "等级保护 2.0" in html and "安全计算环境—身份鉴别" in html
    assert data.catalog.version in html and data.stored.scan.started.isoformat() in html and data.scope in html
    assert filename(data, "oscal").endswith(".oscal.json")


def test_the_csv_report_has_one_row_per_result_and_never_starts_a_cell_with_a_formula(config, store, scanned) -> None:
    data = load_report(config, store)
    document = data.document
    document["results"][0]["found"] = '=HYPERLINK("http://198.51.100.1")'
    rows = list(csv.DictReader(io.StringIO(render_csv(document))))
    assert len(rows) == len(document["results"])
    assert rows[0]["found"].startswith("'=") and rows[0]["catalog_version"] == document["catalog_version"]
    assert rows[0]["scope"] == document["scope"]


def test_a_report_before_any_scan_says_to_scan_first(config, store) -> None:
    with pytest.raises(EgovError, match="run `egov scan` first"):
        load_report(config, store)


def test_an_unknown_format_is_bad_input(config, store, scanned) -> None:
    with pytest.raises(BadInputError):
        render(load_report(config, store), "pdf")


def test_a_report_restricted_to_a_users_hosts_shows_only_those(config, store, scanned) -> None:
    data = load_report(config, store, allowed=["gd-edu-1"], scope_label="sites province-gd")
    assert [h.host.name for h in data.stored.scan.hosts] == ["gd-edu-1"]
    assert data.scope.startswith("sites province-gd (from scan")


def test_a_report_restricted_to_a_scope_holds_only_the_waivers_of_its_hosts_in_every_format(
    config,
    store,
    inventory,  # noqa: F811
) -> None:
    from controlplane.compliance.service import waiver_path

    baseline = scan_once(config, store, inventory, limit="gd-edu-1,mn-db-1")
    control = next(r.control_id for r in baseline.scan.results if r.status == "fail" and r.host == "gd-edu-1")
    entries = [("hosts", "[gd-edu-1, mn-db-1]"), ("hosts", "[mn-db-1]"), ("sites", "[dr-center]")]
    waiver_path(config).parent.mkdir(parents=True, exist_ok=True)
    waiver_path(config).write_text(
        "waivers:\n"
        + "".join(
            f"  - control: {control}\n    {key}: {value}\n"
            "    justification: Agreed with the provincial security officer\n"
            "    approver: Officer\n    expires: 2099-12-31\n"
            for key, value in entries
        ),
        encoding="utf-8",
    )
    scan_once(config, store, inventory, limit="gd-edu-1,mn-db-1")
    whole = load_report(config, store).document
    assert len(whole["waivers"]["active"]) == 3  # a ministry-level reader sees every waiver
    data = load_report(config, store, allowed=["gd-edu-1"], scope_label="sites province-gd")
    document = data.document
    assert document["waivers"] == {"active": [{**whole["waivers"]["active"][0], "hosts": ["gd-edu-1"]}], "expired": []}
    waived = [r for r in document["results"] if r["status"] == "waived"]
    assert document["scores"]["overall"]["waived"] == len(waived) == 1
    assert all(r["waiver"] in document["waivers"]["active"] for r in waived)  # the counts and the list agree
    for fmt in ("json", "csv", "html", "oscal"):
        text = render(data, fmt).decode("utf-8-sig")
        assert "mn-db-1" not in text and "dr-center" not in text, fmt
