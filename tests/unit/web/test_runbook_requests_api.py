"""The JSON API of runbook run requests: a critical runbook's real run waits for a second approver, as in the console.

The runbook (critical-check, from test_runbook_approvals) only logs a line, so
an approved run really runs through the engine without touching any host.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.web.conftest import login_as, remote_client, token_for, wait_for_run
from tests.unit.web.test_runbook_approvals import ask, audited, runbook_runs
from tests.unit.web.test_runbook_approvals import site as site

START = "/api/v1/runbooks/critical-check/start"
REAL_RUN = {"mode": "run", "params": {"host": "gd-school-1"}, "confirm": "critical-check", "reason": "drill week"}


@pytest.fixture
def api(site) -> Any:  # type: ignore[no-untyped-def]
    """``api(name)``: a test client and the bearer headers of the fixture user ``name``."""

    def make(name: str) -> tuple[Any, dict[str, str]]:
        client = remote_client(site["app"])
        return client, {"Authorization": f"Bearer {token_for(site['app'], site['people'][name], name=name)}"}

    return make


def check_schema(client: Any, path: str, method: str, status: int, body: Any) -> None:
    """Assert that ``body`` matches the OpenAPI response schema of that operation and status."""
    from jsonschema import Draft202012Validator

    doc = client.get("/api/v1/openapi.json").get_json()
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(body)]
    assert not errors, (path, errors)


def request_over_api(api: Any, name: str = "operator-gd") -> str:
    """``name`` asks for a real run of critical-check over the API; return the request id."""
    client, headers = api(name)
    response = client.post(START, json=REAL_RUN, headers=headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending" and body["runbook"] == "critical-check" and body["run_id"] is None
    check_schema(client, "/api/v1/runbooks/{name}/start", "post", 202, body)
    return str(body["request_id"])


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body


def test_a_real_run_over_the_api_becomes_a_pending_request(site, api) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = request_over_api(api)
    assert runbook_runs(site["store"]) == []
    item = get_request(site["store"], request_id)
    assert item is not None and (item["requester"], item["reason"], item["targets"]) == (
        "operator-gd",
        "drill week",
        ["gd-school-1"],
    )
    [(actor, outcome, details)] = audited(site["store"], "runbook.request")
    assert (actor, outcome, details["request"]) == ("operator-gd@api", "pending", request_id)
    # Listed for people in scope (with the OpenAPI shape), not for another province.
    client, headers = api("admin-gd")
    listed = client.get("/api/v1/runbooks/requests", headers=headers)
    assert [row["request_id"] for row in listed.get_json()["items"]] == [request_id]
    check_schema(client, "/api/v1/runbooks/requests", "get", 200, listed.get_json())
    outsider, outsider_headers = api("operator-dr")
    assert outsider.get("/api/v1/runbooks/requests", headers=outsider_headers).get_json()["items"] == []
    # The console shows the request made over the API.
    console = remote_client(site["app"])
    login_as(console, site["people"]["admin-gd"])
    assert request_id in console.get("/runbooks/approvals").get_data(as_text=True)


def test_another_operator_in_scope_approves_and_the_run_starts_as_the_requester(site, api) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = request_over_api(api)
    client, headers = api("admin-gd")
    url = f"/api/v1/runbooks/requests/{request_id}/approve"
    response = client.post(url, json={"reason": "looked at it"}, headers=headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    check_schema(client, "/api/v1/runbooks/requests/{request_id}/approve", "post", 202, body)
    run = wait_for_run(site["store"], body["run_id"])
    assert run.status == "succeeded" and not run.dry_run
    assert run.actor == "operator-gd@api" and run.summary["approved_by"] == "admin-gd@api"
    journal = client.get(body["journal"], headers=headers)
    assert journal.status_code == 200 and journal.get_json()["runbook"] == "critical-check"
    item = get_request(site["store"], request_id)
    assert item is not None
    assert (item["status"], item["decided_by"], item["decision_reason"], item["run_id"]) == (
        "approved",
        "admin-gd",
        "looked at it",
        run.id,
    )
    [(actor, outcome, details)] = audited(site["store"], "runbook.approve")
    assert (actor, outcome, details["requester"], details["reason"]) == (
        "admin-gd@api",
        "approved",
        "operator-gd",
        "looked at it",
    )
    # A second decision, by anyone, is a conflict and starts nothing more.
    assert_error(client.post(url, headers=headers), 409, "already_decided")
    root, root_headers = api("root")
    assert_error(
        root.post(f"/api/v1/runbooks/requests/{request_id}/reject", headers=root_headers), 409, "already_decided"
    )
    assert len(runbook_runs(site["store"])) == 1


def test_nobody_approves_their_own_request(site, api) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = request_over_api(api)
    client, headers = api("operator-gd")
    assert_error(client.post(f"/api/v1/runbooks/requests/{request_id}/approve", headers=headers), 403, "own_request")
    assert_error(client.post(f"/api/v1/runbooks/requests/{request_id}/reject", headers=headers), 403, "own_request")
    assert get_request(site["store"], request_id)["status"] == "pending"  # type: ignore[index]
    assert runbook_runs(site["store"]) == []
    [(actor, outcome, details)] = audited(site["store"], "runbook.approve")
    assert (actor, outcome) == ("operator-gd@api", "refused") and "another person" in details["reason"]


def test_out_of_scope_or_without_the_role_the_decision_is_forbidden(site, api) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = request_over_api(api)
    for name in ("operator-dr", "admin-dr", "oncall-gd", "auditor-gd", "security-officer-gd"):
        client, headers = api(name)
        for verb in ("approve", "reject"):
            response = client.post(f"/api/v1/runbooks/requests/{request_id}/{verb}", headers=headers)
            assert_error(response, 403, "forbidden")
    assert get_request(site["store"], request_id)["status"] == "pending"  # type: ignore[index]
    assert runbook_runs(site["store"]) == [] and audited(site["store"], "runbook.approve") == []


def test_a_rejected_request_never_runs(site, api) -> None:  # type: ignore[no-untyped-def]
    request_id = request_over_api(api)
    client, headers = api("admin-gd")
    response = client.post(
        f"/api/v1/runbooks/requests/{request_id}/reject", json={"reason": "not now"}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["decided_by"], body["decision_reason"]) == ("rejected", "admin-gd", "not now")
    check_schema(client, "/api/v1/runbooks/requests/{request_id}/reject", "post", 200, body)
    assert_error(
        client.post(f"/api/v1/runbooks/requests/{request_id}/approve", headers=headers), 409, "already_decided"
    )
    assert runbook_runs(site["store"]) == []
    assert [(a, o) for a, o, _d in audited(site["store"], "runbook.reject")] == [("admin-gd@api", "rejected")]


def test_a_console_request_is_approved_over_the_api_with_a_session_and_its_csrf_header(site) -> None:  # type: ignore[no-untyped-def]
    request_id = ask(site)  # asked in the console by operator-gd
    client = remote_client(site["app"])
    csrf = login_as(client, site["people"]["admin-gd"])
    url = f"/api/v1/runbooks/requests/{request_id}/approve"
    assert_error(client.post(url, json={}), 403, "csrf_failed")
    response = client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 202, response.get_json()
    run = wait_for_run(site["store"], response.get_json()["run_id"])
    assert run.status == "succeeded" and run.summary["approved_by"] == "admin-gd@api"


def test_bad_input_is_refused_with_the_one_error_shape(site, api) -> None:  # type: ignore[no-untyped-def]
    request_id = request_over_api(api)
    client, headers = api("admin-gd")
    url = f"/api/v1/runbooks/requests/{request_id}/approve"
    assert_error(client.post(url, json={"reason": "x", "extra": 1}, headers=headers), 400, "invalid")
    assert_error(client.post(url, json={"reason": "line\nbreak"}, headers=headers), 400, "invalid")
    assert_error(client.post(url, json={"reason": "x" * 501}, headers=headers), 400, "invalid")
    response = client.post(url, data="reason=x", headers={**headers, "Content-Type": "text/plain"})
    assert response.status_code == 415
    for missing in ("000000000000", "not-an-id", "a" * 200):
        assert_error(client.post(f"/api/v1/runbooks/requests/{missing}/approve", headers=headers), 404, "not_found")
    requester, requester_headers = api("operator-gd")
    assert_error(
        requester.post(START, json={**REAL_RUN, "reason": "a\x00b"}, headers=requester_headers), 400, "invalid"
    )
    assert runbook_runs(site["store"]) == []


def test_a_dry_run_of_a_critical_runbook_over_the_api_starts_at_once(site, api) -> None:  # type: ignore[no-untyped-def]
    client, headers = api("operator-gd")
    response = client.post(START, json={"mode": "dry-run", "params": {"host": "gd-school-1"}}, headers=headers)
    assert response.status_code == 202 and "request_id" not in response.get_json()
    check_schema(client, "/api/v1/runbooks/{name}/start", "post", 202, response.get_json())
    assert wait_for_run(site["store"], response.get_json()["run_id"]).dry_run
    assert client.get("/api/v1/runbooks/requests", headers=headers).get_json()["items"] == []
