"""/metrics: Prometheus text from an injected registry, open on loopback, token elsewhere."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.web.conftest import token_for


def families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_are_open_on_loopback(app, store) -> None:
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import RunStatus

    with store.session() as session:
        finish_run(session, create_run(session, kind="ping", target="x", actor="t"), RunStatus.SUCCEEDED)
        create_run(session, kind="backup", target="y", actor="t")
    local = app.test_client()  # REMOTE_ADDR 127.0.0.1
    local.get("/login")
    response = local.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    parsed = families(response.get_data(as_text=True))
    runs = {tuple(sorted(s.labels.items())): s.value for s in parsed["egov_runs"].samples}
    assert runs[(("kind", "ping"), ("status", "succeeded"))] == 1
    assert runs[(("kind", "backup"), ("status", "running"))] == 1
    latency = parsed["egov_http_request_duration_seconds"]
    endpoints = {s.labels["endpoint"] for s in latency.samples}
    assert "auth.login" in endpoints


def test_metrics_need_a_token_from_elsewhere(client, app, people) -> None:
    denied = client.get("/metrics")
    assert denied.status_code == 401 and denied.json["error"]["code"] == "unauthorized"
    token = token_for(app, people["oncall-dr"])
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_latency_labels_stay_bounded(app) -> None:
    local = app.test_client()
    for index in range(20):
        local.get(f"/no/such/page/{index}")
        local.open("/login", method="BREW")
    text = local.get("/metrics").get_data(as_text=True)
    latency = families(text)["egov_http_request_duration_seconds"]
    labels = {(s.labels["endpoint"], s.labels["method"]) for s in latency.samples}
    assert all(endpoint in ("unmatched", "auth.login", "metrics.metrics") for endpoint, _ in labels)
    assert {method for _, method in labels} <= {"GET", "other"}
