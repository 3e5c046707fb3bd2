"""Audit log and metrics are site-scoped: a provincial auditor sees their sites only, the ministry sees all.

``auditor-gd`` covers province-gd and school-gd-1; ``auditor-dr`` covers
dr-center; ``root`` is ministry level. Records and samples of school-gd-1
(in scope for gd), of dr-center and of the ministry level (site None) are
seeded; every check is made both ways.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controlplane import audit
from controlplane.store.models import AuditRecord
from tests.unit.web.conftest import login_as, token_for


@pytest.fixture
def records(store) -> dict[str, int]:
    made = {
        "school": audit.append(store, actor="ops-gd", action="run.create", target="gd-school-1", site="school-gd-1"),
        "dr": audit.append(store, actor="ops-dr", action="run.create", target="dr-app-1", site="dr-center"),
        "national": audit.append(store, actor="root", action="secret.set", target="ministry-secret-name"),
    }
    return {name: row.seq for name, row in made.items()}


def test_a_provincial_auditor_sees_only_records_of_their_sites(client, people, records) -> None:
    login_as(client, people["auditor-gd"])
    page = client.get("/audit").get_data(as_text=True)
    assert "gd-school-1" in page
    assert "dr-app-1" not in page and "ministry-secret-name" not in page
    listed = client.get("/api/v1/audit").json["items"]
    assert [item["seq"] for item in listed] == [records["school"]]
    assert listed[0]["site"] == "school-gd-1"


def test_another_sites_auditor_sees_the_other_records(client, people, records) -> None:
    login_as(client, people["auditor-dr"])
    assert [item["target"] for item in client.get("/api/v1/audit").json["items"]] == ["dr-app-1"]


def test_a_ministry_level_user_sees_every_record(client, people, records) -> None:
    login_as(client, people["root"])
    listed = client.get("/api/v1/audit").json["items"]
    assert sorted(item["seq"] for item in listed) == sorted(records.values())
    assert "ministry-secret-name" in client.get("/audit").get_data(as_text=True)


def test_a_scoped_user_sees_the_verdict_but_nothing_of_a_national_record_that_broke(client, people, store, records):
    client.application.config["EGOV_AUDIT_VERIFY_SECONDS"] = 0
    with store.session() as session:
        session.get(AuditRecord, records["national"]).target = "tampered-national-target"
    login_as(client, people["auditor-gd"])
    verdict = client.get("/api/v1/audit/verify").json
    assert verdict["ok"] is False and verdict["bad_seq"] is None and verdict["head"] == ""
    assert verdict["count"] == 1 and "outside your sites" in verdict["reason"]
    page = client.get("/audit").get_data(as_text=True)
    assert "BROKEN" in page and "tampered-national-target" not in page and f"record {records['national']}" not in page
    login_as(client, people["root"])
    full = client.get("/api/v1/audit/verify").json
    assert full["ok"] is False and full["bad_seq"] == records["national"]


def test_a_scoped_user_is_told_a_broken_record_of_their_own_site(client, people, store, records) -> None:
    with store.session() as session:
        session.get(AuditRecord, records["school"]).actor = "someone else"
    login_as(client, people["auditor-gd"])
    verdict = client.get("/api/v1/audit/verify").json
    assert verdict["ok"] is False and verdict["bad_seq"] == records["school"] and "modified" in verdict["reason"]


# --------------------------------------------------------------------------- metrics


@pytest.fixture
def probes(store) -> None:
    """Probe results of an in-scope host (gd-school-1), a dr-center host and a ministry host."""
    from controlplane.monitoring.models import ProbeLatest
    from controlplane.store.models import utcnow

    with store.session() as session:
        for site, host in (("school-gd-1", "gd-school-1"), ("dr-center", "dr-app-1"), ("ministry", "mn-portal-1")):
            row = ProbeLatest(site=site, host=host, role="x", check="ping", type="ping", success=True, duration=0.1)
            session.add(row)
            row.at, row.samples = utcnow(), []


def _hosts(text: str) -> set[str]:
    return {s.labels.get("host", "") for f in text_string_to_metric_families(text) for s in f.samples} - {""}


def _names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def test_a_scoped_token_gets_only_samples_of_its_sites_and_no_national_series(client, app, people, probes) -> None:
    token = token_for(app, people["auditor-gd"])
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    assert _hosts(text) == {"gd-school-1"}
    assert "egov_runs" not in _names(text) and "egov_http_request_duration_seconds" not in _names(text)
    assert "egov_probe_success" in _names(text)


def test_a_ministry_token_and_loopback_get_every_sample(client, app, people, probes) -> None:
    token = token_for(app, people["root"])
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    assert _hosts(text) == {"gd-school-1", "dr-app-1", "mn-portal-1"} and "egov_runs" in _names(text)
    local = app.test_client()  # 127.0.0.1, not logged in: open as before
    assert _hosts(local.get("/metrics").get_data(as_text=True)) == {"gd-school-1", "dr-app-1", "mn-portal-1"}


def test_a_sample_naming_only_a_host_is_scoped_by_the_hosts_site(client, app, people, store) -> None:
    from controlplane.backup.models import BackupStatus

    with store.session() as session:
        for host, site in (("gd-school-1", ""), ("mn-db-1", "")):
            session.add(BackupStatus(dataset="x", host=host, site=site, last_status="succeeded"))
    token = token_for(app, people["oncall-gd"])
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    assert _hosts(text) == {"gd-school-1"}
