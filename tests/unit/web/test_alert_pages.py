"""Alerts, silences, host health and the Alertmanager intake in the console and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.web.conftest import audit_actions, login_as, token_for

INTAKE = "/api/v1/alerts/alertmanager"
TOKEN = "intake-secret-0123456789"


def payload(site: str, host: str, status: str = "firing", name: str = "DiskFull") -> dict[str, Any]:
    labels = {"alertname": name, "site": site, "host": host, "severity": "critical"}
    return {
        "version": "4",
        "status": status,
        "receiver": "egov",
        "alerts": [{"status": status, "labels": labels, "annotations": {"summary": f"{host} disk full"}}],
    }


def fire(store: Any, site: str, host: str, name: str = "DiskFull") -> str:
    from controlplane.monitoring.intake import intake_alertmanager
    from controlplane.monitoring.labels import fingerprint

    intake_alertmanager(payload(site, host, name=name), store)
    return fingerprint({"alertname": name, "site": site, "host": host, "severity": "critical"})


# --------------------------------------------------------------------------- intake
def test_intake_is_refused_until_a_token_is_configured(client) -> None:
    response = client.post(INTAKE, json=payload("school-gd-1", "gd-school-1"), headers={"Authorization": "Bearer x"})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "intake_not_configured"


def test_intake_refuses_missing_wrong_and_user_tokens(app, client, vault, people, store) -> None:
    vault.set("ALERTMANAGER_INTAKE_TOKEN", TOKEN)
    body = payload("school-gd-1", "gd-school-1")
    assert client.post(INTAKE, json=body).status_code == 401
    assert client.post(INTAKE, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post(INTAKE, json=body, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    user_token = token_for(app, people["root"])
    assert client.post(INTAKE, json=body, headers={"Authorization": f"Bearer {user_token}"}).status_code == 401
    # A logged-in session is no substitute for the intake token either.
    login_as(client, people["root"])
    assert client.post(INTAKE, json=body).status_code == 401
    assert ("alerts.intake", "alertmanager", "denied") in audit_actions(store)
    from controlplane.monitoring.alert_actions import list_alerts

    assert list_alerts(store) == []


def test_intake_merges_the_payload_and_audits(client, vault, store, people) -> None:
    vault.set("ALERTMANAGER_INTAKE_TOKEN", TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.post(INTAKE, json=payload("school-gd-1", "gd-school-1"), headers=auth)
    assert response.status_code == 200, response.data
    assert response.json == {"received": 1, "firing": 1, "resolved": 0, "ignored": 0, "refused": 0, "refusals": []}
    assert ("alerts.intake", "alertmanager", "ok") in audit_actions(store)
    # No CSRF token needed: the intake is token-authenticated, not cookie-authenticated.
    login_as(client, people["oncall-gd"])
    page = client.get("/alerts").get_data(as_text=True)
    assert "DiskFull" in page and "gd-school-1 disk full" in page
    resolved = client.post(INTAKE, json=payload("school-gd-1", "gd-school-1", "resolved"), headers=auth)
    assert resolved.json["resolved"] == 1


@pytest.mark.parametrize(
    ("body", "kwargs", "status"),
    [
        ({"version": "3", "alerts": []}, {}, 400),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}, {}, 400),
        (None, {"data": "{not json", "content_type": "application/json"}, 400),
        (None, {"data": "a=b", "content_type": "application/x-www-form-urlencoded"}, 415),
    ],
)
def test_intake_refuses_malformed_payloads(client, vault, body, kwargs, status) -> None:
    vault.set("ALERTMANAGER_INTAKE_TOKEN", TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = (
        client.post(INTAKE, json=body, headers=headers) if body else client.post(INTAKE, headers=headers, **kwargs)
    )
    assert response.status_code == status
    assert "error" in response.json


def test_intake_is_documented_in_openapi(client) -> None:
    doc = client.get("/api/v1/openapi.json").json
    intake = doc["paths"]["/api/v1/alerts/alertmanager"]["post"]
    assert {"200", "400", "401", "403"} <= set(intake["responses"])
    assert doc["components"]["schemas"]["AlertmanagerWebhook"]["additionalProperties"] is False
    assert "ALERTMANAGER_INTAKE_TOKEN" in intake["description"]


# --------------------------------------------------------------------------- alerts list, ack, silence
def test_alert_list_is_site_scoped(client, store, people) -> None:
    fire(store, "school-gd-1", "gd-school-1", "InScope")
    fire(store, "ministry", "mn-portal-1", "OutOfScope")
    login_as(client, people["auditor-gd"])
    page = client.get("/alerts").get_data(as_text=True)
    assert "InScope" in page and "OutOfScope" not in page
    assert 'action="/alerts/silences"' not in page  # auditors see, never silence
    login_as(client, people["root"])
    page = client.get("/alerts?state=firing").get_data(as_text=True)
    assert "InScope" in page and "OutOfScope" in page
    assert client.get("/alerts?state=bogus").status_code == 400


def test_oncall_acknowledges_in_scope_only(client, store, people) -> None:
    inside = fire(store, "school-gd-1", "gd-school-1")
    outside = fire(store, "ministry", "mn-portal-1")
    csrf = login_as(client, people["oncall-gd"])
    response = client.post(f"/alerts/{inside}/ack", data={"csrf_token": csrf, "comment": "on it"})
    assert response.status_code == 302
    from controlplane.monitoring.alert_actions import list_alerts

    acked = {a["fingerprint"]: a for a in list_alerts(store)}
    assert acked[inside]["acked_by"] == "oncall-gd" and acked[inside]["ack_comment"] == "on it"
    assert client.post(f"/alerts/{outside}/ack", data={"csrf_token": csrf}).status_code == 403
    assert acked[outside]["acked_by"] is None
    assert client.post("/alerts/0123/ack", data={"csrf_token": csrf}).status_code == 404
    assert ("alert.ack", inside, "ok") in audit_actions(store)
    csrf = login_as(client, people["auditor-gd"])
    assert client.post(f"/alerts/{inside}/ack", data={"csrf_token": csrf}).status_code == 403


def test_silences_must_be_pinned_to_the_users_scope(client, store, people) -> None:
    from controlplane.monitoring.alert_actions import list_silences

    csrf = login_as(client, people["oncall-gd"])
    form = {"csrf_token": csrf, "comment": "maintenance", "hours": "1"}
    assert client.post("/alerts/silences", data={**form, "matchers": "alertname=X"}).status_code == 403
    assert client.post("/alerts/silences", data={**form, "matchers": "host=mn-portal-1"}).status_code == 403
    assert client.post("/alerts/silences", data={**form, "matchers": "site=ministry"}).status_code == 403
    ok = client.post("/alerts/silences", data={**form, "matchers": "alertname=X\nsite=school-gd-1"})
    assert ok.status_code == 302
    stored = [s for s in list_silences(store) if s["author"] == "oncall-gd"]
    assert len(stored) == 1 and stored[0]["matchers"] == ["alertname=X", "site=school-gd-1"]
    # A bad duration or missing comment is a message, not a silence.
    client.post("/alerts/silences", data={**form, "hours": "x", "matchers": "site=school-gd-1"})
    assert len([s for s in list_silences(store) if s["author"] == "oncall-gd"]) == 1
    # The ministry-level admin may silence anything that is not everything.
    csrf = login_as(client, people["root"])
    assert (
        client.post("/alerts/silences", data={**form, "csrf_token": csrf, "matchers": "alertname=X"}).status_code == 302
    )


def test_silence_expiry_respects_scope(client, store, people) -> None:
    from controlplane.monitoring.alert_actions import create_silence, list_silences

    inside = create_silence(store, ["host=gd-school-1"], author="t", comment="c", duration=3600)["id"]
    outside = create_silence(store, ["host=mn-portal-1"], author="t", comment="c", duration=3600)["id"]
    csrf = login_as(client, people["operator-gd"])
    page = client.get("/alerts").get_data(as_text=True)
    assert inside in page and outside not in page
    assert client.post(f"/alerts/silences/{outside}/expire", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/alerts/silences/{inside}/expire", data={"csrf_token": csrf}).status_code == 302
    active = {s["id"] for s in list_silences(store)}
    assert inside not in active and outside in active
    assert client.post("/alerts/silences/nope/expire", data={"csrf_token": csrf}).status_code == 404


def test_alerts_api_list_ack_and_silence(app, client, store, people) -> None:
    inside = fire(store, "school-gd-1", "gd-school-1")
    outside = fire(store, "ministry", "mn-portal-1")
    auth = {"Authorization": f"Bearer {token_for(app, people['oncall-gd'])}"}
    items = client.get("/api/v1/alerts", headers=auth).json["items"]
    assert [a["fingerprint"] for a in items] == [inside]
    acked = client.post(f"/api/v1/alerts/{inside}/ack", json={"comment": "api"}, headers=auth)
    assert acked.status_code == 200 and acked.json["acked_by"] == "oncall-gd"
    assert client.post(f"/api/v1/alerts/{outside}/ack", headers=auth).status_code == 403
    assert client.post(f"/api/v1/alerts/{inside}/ack", json={"other": 1}, headers=auth).status_code == 400
    made = client.post(
        "/api/v1/alerts/silences",
        json={"matchers": ["host=gd-school-1"], "comment": "api", "duration_hours": 2},
        headers=auth,
    )
    assert made.status_code == 201
    silence_id = made.json["id"]
    assert silence_id in {s["id"] for s in client.get("/api/v1/alerts/silences", headers=auth).json["items"]}
    assert client.delete(f"/api/v1/alerts/silences/{silence_id}", headers=auth).json == {"expired": silence_id}
    refused = client.post(
        "/api/v1/alerts/silences",
        json={"matchers": ["alertname=X"], "comment": "api", "duration_hours": 2},
        headers=auth,
    )
    assert refused.status_code == 403
    viewer = {"Authorization": f"Bearer {token_for(app, people['auditor-gd'])}"}
    assert client.get("/api/v1/alerts", headers=viewer).status_code == 200
    assert client.post(f"/api/v1/alerts/{inside}/ack", headers=viewer).status_code == 403


# --------------------------------------------------------------------------- host health
def test_health_grid_with_sparklines_is_site_scoped(client, store, people) -> None:
    from controlplane.monitoring.results import ProbeResult, save_results

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for index in range(5):
        at = start + dt.timedelta(minutes=index)
        results = [
            ProbeResult("ssh", "ssh", "gd-school-1", "school-gd-1", "school", index != 3, 0.01 * (index + 1), at=at),
            ProbeResult("ssh", "ssh", "mn-portal-1", "ministry", "portal", True, 0.02, at=at),
        ]
        with store.session() as session:
            save_results(session, results)
    login_as(client, people["oncall-gd"])
    page = client.get("/monitoring").get_data(as_text=True)
    assert 'data-host="gd-school-1"' in page and "mn-portal-1" not in page
    assert "<svg" in page and "<polyline" in page and "<script>" not in page
    login_as(client, people["root"])
    assert "mn-portal-1" in client.get("/monitoring").get_data(as_text=True)


def test_sparkline_geometry() -> None:
    from controlplane.web.views.monitoring import chart_check, sparkline

    spark = sparkline([{"duration_seconds": 0.1, "success": True}, {"duration_seconds": 0.2, "success": False}])
    assert spark["count"] == 2 and spark["failed"] == 1 and spark["line"].startswith("0.0,")
    assert sparkline([])["line"] == ""
    assert chart_check(["disk", "ssh-reach"]) == "ssh-reach" and chart_check([]) is None


def test_pages_in_chinese(client, store, people) -> None:
    from controlplane.store.models import User

    fire(store, "school-gd-1", "gd-school-1")
    with store.session() as session:
        session.get(User, people["oncall-gd"].id).language = "zh_CN"
    login_as(client, people["oncall-gd"])
    page = client.get("/alerts").get_data(as_text=True)
    assert "值班告警" in page and "静默" in page and "确认" in page
    assert "主机健康" in client.get("/monitoring").get_data(as_text=True)
