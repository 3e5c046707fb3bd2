"""Starting a runbook in the console and the API: every host a parameter names, and the runbook's permissions.

restore-to-dr restores ``source_host``'s dataset onto ``target_host``: a
province operator (operator-gd) may name only hosts of province-gd and its
school, the DR center's operator (operator-dr) only dr-center's; a drill or
a real run of it needs ``backup.restore`` (admins). Refusals are 403 and
leave no run row.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.unit.web.conftest import login_as, token_for, wait_for_run


def runbook_runs(store: Any) -> list[Any]:
    from controlplane.store.models import Run

    with store.session() as session:
        rows = session.scalars(select(Run).where(Run.kind == "runbook")).all()
        session.expunge_all()
    return list(rows)


def bearer(app: Any, person: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, person)}"}


def start(client: Any, app: Any, person: Any, mode: str, **params: str) -> Any:
    return client.post("/api/v1/runbooks/restore-to-dr/start", json={"mode": mode, "params": params},
                       headers=bearer(app, person))  # fmt: skip


@pytest.mark.parametrize(
    ("who", "params"),
    [
        ("operator-gd", {"source_host": "mn-portal-1", "target_host": "gd-edu-1"}),
        ("operator-gd", {"target_host": "gd-edu-1"}),  # the default source is the ministry's portal
        ("operator-dr", {"source_host": "gd-edu-1"}),  # onto the DR host, from a province
        ("operator-gd", {"source_host": "no-such-host", "target_host": "gd-edu-1"}),  # same answer as another site's
    ],
)
def test_a_source_host_outside_the_callers_scope_is_403_in_the_api_and_nothing_runs(
    client, app, people, store, who, params
) -> None:
    refused = start(client, app, people[who], "dry-run", **params)
    assert refused.status_code == 403, refused.get_json()
    assert (
        refused.get_json()["error"]["code"] == "forbidden" and "source_host" in refused.get_json()["error"]["message"]
    )
    assert runbook_runs(store) == []


def test_the_console_form_refuses_another_provinces_source_host_with_403(client, people, store) -> None:
    csrf = login_as(client, people["operator-gd"])
    refused = client.post(
        "/runbooks/restore-to-dr/start",
        data={
            "csrf_token": csrf,
            "mode": "dry-run",
            "param_source_host": "mn-portal-1",
            "param_target_host": "gd-edu-1",
        },
    )
    assert refused.status_code == 403
    assert runbook_runs(store) == []


def test_in_scope_a_dry_run_starts_and_its_run_belongs_to_the_province(client, app, people, store) -> None:
    started = start(client, app, people["operator-gd"], "dry-run", source_host="gd-school-1", target_host="gd-edu-1")
    assert started.status_code == 202, started.get_json()
    run = wait_for_run(store, started.get_json()["run_id"])
    assert run.site == "province-gd" and run.params["hosts"] == ["gd-edu-1", "gd-school-1"]
    # The province sees it on the runs list; the DR center does not.
    mine = client.get("/api/v1/runs?kind=runbook", headers=bearer(app, people["operator-gd"])).get_json()["items"]
    assert [item["id"] for item in mine] == [run.id]
    theirs = client.get("/api/v1/runs?kind=runbook", headers=bearer(app, people["operator-dr"])).get_json()["items"]
    assert theirs == []


@pytest.mark.parametrize("mode", ["drill", "run"])
def test_a_drill_or_run_of_a_restoring_runbook_needs_backup_restore(client, app, people, store, mode) -> None:
    refused = client.post(
        "/api/v1/runbooks/restore-to-dr/start",
        json={"mode": mode, "params": {"source_host": "dr-backup-1"}, "confirm": "restore-to-dr"},
        headers=bearer(app, people["operator-dr"]),
    )
    assert refused.status_code == 403 and "backup.restore" in refused.get_json()["error"]["message"]
    assert runbook_runs(store) == []


def test_a_run_request_naming_another_sites_host_is_neither_shown_nor_decided_by_the_province(
    client, app, people, store
) -> None:
    from controlplane.runbook import approvals

    made = approvals.request_run(
        store,
        runbook="isolate-host",
        params={"host": "gd-edu-1", "management_source": "10.198.0.1", "ssh_port": 22, "peer": "mn-db-1"},
        targets=["gd-edu-1"],
        requester="root",
    )
    province = bearer(app, people["operator-gd"])
    assert client.get("/api/v1/runbooks/requests", headers=province).get_json()["items"] == []
    decided = client.post(f"/api/v1/runbooks/requests/{made['id']}/approve", headers=province)
    assert decided.status_code == 403
    ministry = client.get("/api/v1/runbooks/requests", headers=bearer(app, people["root"]))
    assert [item["request_id"] for item in ministry.get_json()["items"]] == [made["id"]]
    assert approvals.get_request(store, made["id"])["status"] == "pending"
