"""Compliance console: matrix, drill-down with evidence and fix, waivers (security officer), audited downloads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from controlplane.compliance.catalog import load_catalog
from controlplane.compliance.evaluate import HostContext, evaluate_host
from controlplane.compliance.history import save_scan
from controlplane.compliance.scanner import HostScan, Scan
from controlplane.compliance.service import waiver_path
from tests.unit.compliance.conftest import recorded
from tests.unit.web.conftest import audit_actions, login_as, token_for

HOSTS = (("gd-school-1", "school-gd-1", "school"), ("mn-portal-1", "ministry", "portal"))


@pytest.fixture
def scanned(store: Any) -> int:
    """One stored scan of an in-scope host (gd-school-1) and an out-of-scope one (mn-portal-1)."""
    catalog = load_catalog()
    now = datetime.now(UTC)
    hosts = []
    for name, site, role in HOSTS:
        context = HostContext(name, site, (role,), {})
        hosts.append(HostScan(context, evaluate_host(catalog, recorded("fresh_host"), context, now), {}, 0.1))
    scan = Scan(started=now, finished=now + timedelta(seconds=1), catalog_version=catalog.version, hosts=hosts)
    with store.session() as session:
        return save_scan(session, scan, run_id=None, scope="all sites", site=None, trigger="cli", actor="t").id


def failing_control(store: Any) -> str:
    from sqlalchemy import select

    from controlplane.compliance.models import ComplianceResult

    with store.session() as session:
        return session.scalar(
            select(ComplianceResult.control_id).where(ComplianceResult.status == "fail").order_by(ComplianceResult.id)
        )


def test_the_matrix_shows_the_scores_of_the_hosts_in_scope_only(client, people, scanned) -> None:
    login_as(client, people["security-officer-gd"])
    page = client.get("/compliance").get_data(as_text=True)
    assert "gd-school-1" in page and "mn-portal-1" not in page and "%" in page
    zh = client.get("/compliance", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "合规" in zh and "得分" in zh


def test_oncall_staff_do_not_see_compliance(client, people, scanned) -> None:
    login_as(client, people["oncall-gd"])
    assert client.get("/compliance").status_code == 403
    assert "/compliance" not in client.get("/").get_data(as_text=True)


def test_a_control_drill_down_shows_the_found_value_the_expected_one_and_the_fix(
    client, people, store, scanned
) -> None:
    control = failing_control(store)
    login_as(client, people["operator-gd"])
    host_page = client.get("/compliance/hosts/gd-school-1").get_data(as_text=True)
    assert control in host_page
    page = client.get(f"/compliance/hosts/gd-school-1/{control}").get_data(as_text=True)
    assert "egov harden --limit gd-school-1 --tags" in page or "egov provision --limit gd-school-1" in page
    assert "CIS Debian Linux 12" in page or "GB/T 22239-2019" in page
    assert client.get(f"/compliance/hosts/mn-portal-1/{control}").status_code == 403
    assert client.get("/compliance/hosts/gd-school-1/no.such-control").status_code == 404


def test_a_security_officer_adds_a_waiver_where_the_scan_reads_it_and_it_is_audited(
    client, people, store, config, scanned
) -> None:
    control = failing_control(store)
    csrf = login_as(client, people["security-officer-gd"])
    form = {"csrf_token": csrf, "control": control, "hosts": "gd-school-1", "justification": "Replacement due 2027-Q1",
            "approver": "Wang Fang", "expires": (date.today() + timedelta(days=30)).isoformat()}  # fmt: skip
    response = client.post("/compliance/waivers", data=form)
    assert response.status_code == 302
    from controlplane.compliance.waivers import load_waivers

    waivers = load_waivers(waiver_path(config))
    assert [(w.control, w.hosts, w.approver) for w in waivers] == [(control, ("gd-school-1",), "Wang Fang")]
    assert ("compliance.waiver.add", control, "ok") in audit_actions(store)
    assert control in client.get("/compliance/waivers").get_data(as_text=True)
    out_of_scope = {**form, "hosts": "mn-portal-1"}
    assert client.post("/compliance/waivers", data=out_of_scope).status_code == 403
    login_as(client, people["admin-gd"])
    assert client.post("/compliance/waivers", data=form).status_code == 403


def test_a_waiver_outside_the_officers_scope_cannot_be_expired(client, people, config, scanned) -> None:
    path = waiver_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "waivers:\n"
        "  - {control: ssh.permit-root-login, hosts: [mn-portal-1], justification: Ministry vendor access,"
        " approver: Ministry CISO, expires: 2099-01-01}\n"
        "  - {control: ssh.permit-root-login, sites: [school-gd-1], justification: School exam week access,"
        " approver: School officer, expires: 2099-01-01}\n",
        encoding="utf-8",
    )
    csrf = login_as(client, people["security-officer-gd"])
    listing = client.get("/compliance/waivers").get_data(as_text=True)
    assert "School exam week" in listing and "Ministry vendor" not in listing
    data = {"csrf_token": csrf, "control": "ssh.permit-root-login"}
    assert client.post("/compliance/waivers/0/expire", data=data).status_code == 403
    assert client.post("/compliance/waivers/1/expire", data=data).status_code == 302
    from controlplane.compliance.waivers import load_waivers

    first, second = load_waivers(path)
    assert first.active(date.today()) and not second.active(date.today())


def test_report_downloads_are_restricted_to_the_scope_and_audited(client, people, store, scanned) -> None:
    login_as(client, people["auditor-gd"])
    response = client.get("/compliance/report.json")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.get_data(as_text=True))
    assert {r["host"] for r in document["results"]} == {"gd-school-1"}
    assert document["scope"].startswith("sites province-gd")
    for fmt in ("html", "csv", "oscal"):
        assert client.get(f"/compliance/report.{fmt}").status_code == 200
    assert client.get("/compliance/report.json?site=ministry").status_code == 403
    downloads = [a for a in audit_actions(store) if a[0] == "compliance.report"]
    assert len(downloads) == 4 and {outcome for _action, _target, outcome in downloads} == {"ok"}


def test_the_api_scores_cover_only_the_callers_scope(app, people, scanned) -> None:
    token = token_for(app, people["auditor-gd"])
    client = app.test_client()
    scores = client.get("/api/v1/compliance/scores", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert set(scores["hosts"]) == {"gd-school-1"} and set(scores["sites"]) == {"school-gd-1"}
    host = client.get("/api/v1/compliance/hosts/gd-school-1", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert host["scan_id"] == scanned and any(r["status"] == "fail" for r in host["results"])
