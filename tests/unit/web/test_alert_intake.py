"""The Alertmanager intake with per-site tokens: scope, refusals counted, bad tokens rate-limited, bounded audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.web.conftest import audit_actions, remote_client, token_for

INTAKE = "/api/v1/alerts/alertmanager"
LEGACY = "legacy-site-wide-token-0123456789"


def alert(host: str | None, site: str | None, name: str = "DiskFull", status: str = "firing") -> dict[str, Any]:
    labels = {"alertname": name, "severity": "critical"}
    if host is not None:
        labels["host"] = host
    if site is not None:
        labels["site"] = site
    return {"status": status, "labels": labels, "annotations": {"summary": "disk full"}}


def batch(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "receiver": "egov", "alerts": list(alerts)}


def make_token(store: Any, site: str) -> tuple[int, str]:
    from controlplane.monitoring.intake_tokens import create_token

    with store.session() as session:
        row, clear = create_token(session, site, name=None, created_by="test", known_sites=None)
        return row.id, clear


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_alerts(store: Any) -> dict[str, dict[str, Any]]:
    from controlplane.monitoring.alert_actions import list_alerts

    return {row["labels"]["alertname"]: row for row in list_alerts(store)}


# --------------------------------------------------------------------------- scope
def test_a_site_token_raises_alerts_of_its_own_sites_only(client, store) -> None:
    _id, token = make_token(store, "province-gd")
    body = batch(
        alert("gd-school-1", "school-gd-1", "SchoolBelow"),  # a school below the province: in scope
        alert("gd-edu-1", None, "NoSiteLabel"),  # the host's site is stamped on
        alert(None, None, "NoHostNoSite"),  # the token's site is stamped on
        alert("mn-portal-1", "ministry", "MinistryHost"),
        alert("gd-edu-1", "dr-center", "ForeignSiteLabel"),
        alert("mn-db-1", None, "ForeignHost"),
        alert("; rm -rf /", None, "HostileHost"),
        alert(None, "../..", "HostileSite"),
    )
    response = client.post(INTAKE, json=body, headers=bearer(token))
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["received"] == 8 and answer["firing"] == 3 and answer["refused"] == 5
    assert {(r["alertname"], r["reason"]) for r in answer["refusals"]} == {
        ("MinistryHost", "host_out_of_scope"),
        ("ForeignSiteLabel", "site_out_of_scope"),
        ("ForeignHost", "host_out_of_scope"),
        ("HostileHost", "unknown_host"),
        ("HostileSite", "site_out_of_scope"),
    }
    alerts = stored_alerts(store)
    assert set(alerts) == {"SchoolBelow", "NoSiteLabel", "NoHostNoSite"}
    assert alerts["NoSiteLabel"]["labels"]["site"] == "province-gd"
    assert alerts["NoHostNoSite"]["labels"]["site"] == "province-gd"


def test_a_site_token_cannot_resolve_another_sites_alert(client, store, vault) -> None:
    vault.set("ALERTMANAGER_INTAKE_TOKEN", LEGACY)
    ministry = alert("mn-portal-1", "ministry", "PortalDown")
    assert client.post(INTAKE, json=batch(ministry), headers=bearer(LEGACY)).json["firing"] == 1
    _id, token = make_token(store, "province-gd")
    resolved = {**ministry, "status": "resolved"}
    answer = client.post(INTAKE, json=batch(resolved), headers=bearer(token)).json
    assert answer["refused"] == 1 and answer["resolved"] == 0
    assert stored_alerts(store)["PortalDown"]["state"] == "firing"


def test_the_legacy_site_wide_token_still_speaks_for_every_site(client, store, vault) -> None:
    vault.set("ALERTMANAGER_INTAKE_TOKEN", LEGACY)
    body = batch(alert("mn-portal-1", "ministry", "A"), alert("dr-app-1", "dr-center", "B"))
    answer = client.post(INTAKE, json=body, headers=bearer(LEGACY)).json
    assert answer["firing"] == 2 and answer["refused"] == 0


def test_refusals_are_counted_per_reason_in_the_store_on_the_token_and_in_metrics(app, client, store) -> None:
    from controlplane.monitoring.models import IntakeToken

    token_id, token = make_token(store, "school-gd-1")
    body = batch(alert("gd-school-1", None, "Mine"), alert("gd-edu-1", None, "Province"), alert("x", None, "Unknown"))
    client.post(INTAKE, json=body, headers=bearer(token))
    client.post(INTAKE, json=batch(alert("mn-db-1", None, "Ministry")), headers=bearer(token))
    with store.session() as session:
        row = session.get(IntakeToken, token_id)
        assert (row.alerts_accepted, row.alerts_refused) == (1, 3)
    metrics = remote_client(app, "127.0.0.1").get("/metrics").get_data(as_text=True)
    assert 'egov_alert_intake_refused_total{reason="host_out_of_scope"} 2.0' in metrics
    assert 'egov_alert_intake_refused_total{reason="unknown_host"} 1.0' in metrics
    assert 'egov_alert_intake_refused_total{reason="bad_token"} 0.0' in metrics
    records = [r for r in _intake_records(store) if r.outcome == "ok"]
    assert len(records) == 2
    # The record concerns the token's site (a column once the audit log has one, in the details until then).
    assert getattr(records[0], "site", None) == "school-gd-1" or '"site":"school-gd-1"' in records[0].details


def test_a_revoked_token_and_a_users_api_token_are_refused(app, client, store, people) -> None:
    from controlplane.monitoring.intake_tokens import revoke_token

    token_id, token = make_token(store, "province-gd")
    make_token(store, "dr-center")  # intake stays configured once the first token is gone
    body = batch(alert("gd-edu-1", None))
    assert client.post(INTAKE, json=body, headers=bearer(token)).status_code == 200
    with store.session() as session:
        revoke_token(session, token_id)
    refused = client.post(INTAKE, json=body, headers=bearer(token))
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_intake_token"
    user_token = token_for(app, people["root"])
    assert client.post(INTAKE, json=body, headers=bearer(user_token)).status_code == 401


def test_intake_tokens_are_stored_hashed_never_in_clear(config, store) -> None:
    from controlplane.monitoring.intake_tokens import token_hash

    _id, token = make_token(store, "province-gd")
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT * FROM alert_intake_tokens").fetchall()
    assert rows and all(token not in str(value) for row in rows for value in row)
    assert any(token_hash(token) in row for row in rows)
    database = Path(config.database_url.removeprefix("sqlite:///"))
    files = [path for path in (database, database.with_name(database.name + "-wal")) if path.exists()]
    assert files and all(token.encode() not in path.read_bytes() for path in files)


# --------------------------------------------------------------------------- bad tokens: rate limit, bounded audit
def _intake_records(store: Any) -> list[Any]:
    from controlplane import audit

    return [r for r in reversed(audit.list_records(store, limit=10000)) if r.action == "alerts.intake"]


def test_bad_tokens_are_rate_limited_per_client_address_with_retry_after(app, store) -> None:
    from controlplane.monitoring.intake_guard import BURST

    _id, token = make_token(store, "province-gd")
    body = batch(alert("gd-edu-1", None))
    attacker, neighbour = remote_client(app, "192.0.2.66"), remote_client(app, "192.0.2.67")
    statuses = [attacker.post(INTAKE, json=body, headers=bearer(f"guess-{n}")).status_code for n in range(BURST)]
    assert statuses == [401] * BURST
    limited = attacker.post(INTAKE, json=body, headers=bearer("guess-again"))
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    # Even the right token is held back while the bucket is empty: a 200 would say "that guess was right".
    assert attacker.post(INTAKE, json=body, headers=bearer(token)).status_code == 429
    # Another address is not affected.
    assert neighbour.post(INTAKE, json=body, headers=bearer("wrong")).status_code == 401
    assert neighbour.post(INTAKE, json=body, headers=bearer(token)).status_code == 200


def test_bad_token_audit_records_are_bounded_and_carry_the_count(app, store) -> None:
    import datetime as dt

    from controlplane.monitoring import intake_guard
    from controlplane.store.models import utcnow

    make_token(store, "province-gd")
    attacker = remote_client(app, "192.0.2.66")
    for n in range(40):
        attacker.post(INTAKE, json=batch(alert("gd-edu-1", None)), headers=bearer(f"guess-{n}"))
    records = _intake_records(store)
    # 40 attempts: 10 bad tokens, then 30 rate-limited. One record each opened its window.
    assert [(r.outcome, r.client) for r in records] == [("denied", "192.0.2.66"), ("rate_limited", "192.0.2.66")]
    with store.session() as session:
        notes = intake_guard.flush_windows(session, utcnow() + intake_guard.WINDOW + dt.timedelta(seconds=1))
    assert intake_guard.write_notes(store, notes) == 2
    repeats = {r.outcome: r.details for r in _intake_records(store)[2:]}
    assert '"count":9' in repeats["denied"].replace(" ", "")
    assert '"count":29' in repeats["rate_limited"].replace(" ", "")
    with store.session() as session:
        assert intake_guard.flush_windows(session, utcnow() + 2 * intake_guard.WINDOW) == []


def test_intake_is_refused_until_a_token_exists(client, store) -> None:
    response = client.post(INTAKE, json=batch(alert("gd-edu-1", None)), headers=bearer("anything"))
    assert response.status_code == 403 and response.json["error"]["code"] == "intake_not_configured"
    make_token(store, "province-gd")
    assert client.post(INTAKE, json=batch(alert("gd-edu-1", None)), headers=bearer("anything")).status_code == 401


# --------------------------------------------------------------------------- administration over the API
def test_admins_make_list_and_revoke_tokens_within_their_scope(app, client, store, people) -> None:
    root, admin_gd = bearer(token_for(app, people["root"])), bearer(token_for(app, people["admin-gd"]))
    made = client.post("/api/v1/alerts/intake-tokens", json={"site": "school-gd-1"}, headers=admin_gd)
    assert made.status_code == 201 and made.json["token"].startswith(made.json["prefix"])
    assert made.json["site"] == "school-gd-1"
    outside = client.post("/api/v1/alerts/intake-tokens", json={"site": "dr-center"}, headers=admin_gd)
    assert outside.status_code == 403
    ministry = client.post("/api/v1/alerts/intake-tokens", json={"site": "ministry", "name": "mn am"}, headers=root)
    assert ministry.status_code == 201
    bad = client.post("/api/v1/alerts/intake-tokens", json={"site": "atlantis"}, headers=root)
    assert bad.status_code == 400
    hostile = client.post("/api/v1/alerts/intake-tokens", json={"site": "province-gd", "name": "$(x)"}, headers=root)
    assert hostile.status_code == 400
    seen = client.get("/api/v1/alerts/intake-tokens", headers=admin_gd).json
    assert [row["site"] for row in seen["items"]] == ["school-gd-1"] and "token" not in seen["items"][0]
    assert {row["site"] for row in client.get("/api/v1/alerts/intake-tokens", headers=root).json["items"]} == {
        "school-gd-1",
        "ministry",
    }
    assert client.delete(f"/api/v1/alerts/intake-tokens/{ministry.json['id']}", headers=admin_gd).status_code == 403
    revoked = client.delete(f"/api/v1/alerts/intake-tokens/{made.json['id']}", headers=admin_gd)
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert client.post(INTAKE, json=batch(alert("gd-school-1", None)), headers=bearer(made.json["token"])).status_code
    assert ("alerts.intake_token.create", f"intake-token:{made.json['id']}", "ok") in audit_actions(store)
    assert all(made.json["token"] not in str(r.details) for r in _intake_records(store))


@pytest.mark.parametrize("role", ["operator", "oncall", "security_officer", "auditor"])
def test_only_admins_manage_intake_tokens(app, client, people, role) -> None:
    headers = bearer(token_for(app, people[f"{role.replace('_', '-')}-gd"]))
    assert client.get("/api/v1/alerts/intake-tokens", headers=headers).status_code == 403
    assert client.post("/api/v1/alerts/intake-tokens", json={"site": "school-gd-1"}, headers=headers).status_code == 403
