"""The console's provision/harden API on the real lab: a drift check of one host, seen per host.

A provincial operator (scoped to province-gd) starts ``harden --check`` of
gd-school-1 through ``POST /api/v1/automation/runs``; the request answers at
once (202) while ansible runs in the background of this process; the per-host
progress endpoint then shows the host's real task results, the drift page
what the check would change, and the host's history the run. The same
operator is refused (403) a host of the ministry.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]


@pytest.fixture
def console(lab: Lab) -> Iterator[tuple[Any, dict[str, str]]]:
    """The console app on the lab's config and store, and bearer headers of a province-gd operator."""
    from prometheus_client import CollectorRegistry

    from controlplane import users
    from controlplane.web import create_app, shutdown

    app = create_app(lab.config, {"TESTING": True, "EGOV_REGISTRY": CollectorRegistry()})
    store = app.extensions["egov"].store
    name = f"lab-op-{os.getpid()}-{time.monotonic_ns() % 100000}"
    with store.session() as session:
        user = users.create_user(
            session, name=name, role="operator", password="a long enough password 1", sites=["province-gd"]
        )
        _row, token = users.create_token(session, user, "lab")
    try:
        yield app, {"Authorization": f"Bearer {token}"}
    finally:
        shutdown(app)


def test_a_drift_check_started_from_the_console_api_reports_each_hosts_results(console) -> None:
    app, headers = console
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    started = time.monotonic()
    response = client.post(
        "/api/v1/automation/runs", json={"kind": "harden", "limit": "gd-school-1", "check": True}, headers=headers
    )
    assert response.status_code == 202, response.get_json()
    assert time.monotonic() - started < 15  # the request does not wait for ansible
    run_id = response.get_json()["run_id"]
    assert response.get_json()["hosts"] == ["gd-school-1"]

    seen_running = False
    deadline = time.monotonic() + 600
    while True:
        progress = client.get(f"/api/v1/automation/runs/{run_id}/hosts", headers=headers).get_json()
        row = progress["hosts"][0]
        seen_running |= not progress["final"] and row["ok"] > 0
        if progress["final"]:
            break
        assert time.monotonic() < deadline, "the check run did not finish in 10 minutes"
        time.sleep(0.5)
    assert progress["run"]["status"] == "succeeded", progress
    assert row["host"] == "gd-school-1" and row["ok"] > 10 and row["failed"] == row["unreachable"] == 0
    assert row["state"] in ("ok", "changed")
    assert seen_running, "the per-host counters never moved while the run was going"

    drift = client.get("/api/v1/automation/drift", headers=headers).get_json()["items"]
    mine = [item for item in drift if item["run_id"] == run_id]
    assert [item["host"] for item in mine] == ["gd-school-1"]
    # The drift is exactly the tasks the check reported as changed, each naming its controls.
    assert len(mine[0]["would_change"]) == row["changed"]
    if mine[0]["would_change"]:
        assert any(change["controls"] for change in mine[0]["would_change"])

    history = client.get("/api/v1/automation/hosts/gd-school-1/history", headers=headers).get_json()["items"]
    assert history[0]["id"] == run_id and history[0]["check"] is True

    refused = client.post(
        "/api/v1/automation/runs", json={"kind": "harden", "limit": "mn-portal-1", "check": True}, headers=headers
    )
    assert refused.status_code == 403
