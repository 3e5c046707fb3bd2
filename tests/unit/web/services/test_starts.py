"""Every start, from the console or the API, is a queued run handed to the dispatcher: one way to start work."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from controlplane.store.models import Run, RunStatus
from tests.unit.web.conftest import login_as, record_starts, token_for, wait_for_run


def bearer(app: Any, person: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, person)}"}


@pytest.fixture
def recorded(app) -> Any:
    """The app's dispatcher replaced by one that notes each run and leaves it running (nothing executes)."""
    return record_starts(app, lambda run: None)


def the_run(store: Any, run_id: int) -> Run:
    with store.session() as session:
        run = session.get(Run, run_id)
        session.expunge(run)
        return run


def test_a_runbook_started_over_the_api_is_a_queued_run_given_to_the_dispatcher(app, people, store, recorded) -> None:
    response = app.test_client().post(
        "/api/v1/runbooks/isolate-host/start",
        json={"mode": "dry-run", "params": {"host": "gd-school-1"}},
        headers=bearer(app, people["operator-gd"]),
    )
    assert response.status_code == 202, response.json
    run_id = response.json["run_id"]
    assert recorded.submitted == [run_id] and recorded.status_when_submitted[run_id] == RunStatus.QUEUED
    run = the_run(store, run_id)
    assert run.kind == "runbook" and run.actor == "operator-gd@api" and run.params["mode"] == "dry-run"


def test_a_runbook_started_from_the_console_is_given_to_the_dispatcher(app, people, store, client, recorded) -> None:
    csrf = login_as(client, people["operator-gd"])
    response = client.post(
        "/runbooks/isolate-host/start", data={"csrf_token": csrf, "mode": "dry-run", "param_host": "gd-school-1"}
    )
    assert response.status_code == 302 and "/runbooks/runs/" in response.headers["Location"]
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert recorded.submitted == [run_id] and recorded.status_when_submitted[run_id] == RunStatus.QUEUED


def test_a_backup_started_over_the_api_answers_with_its_queued_run(app, people, store, recorded) -> None:
    response = app.test_client().post(
        "/api/v1/backup/school-data/gd-school-1/run",
        json={"action": "backup"},
        headers=bearer(app, people["operator-gd"]),
    )
    assert response.status_code == 202, response.json
    run_id = response.json["run_id"]
    assert recorded.submitted == [run_id] and recorded.status_when_submitted[run_id] == RunStatus.QUEUED
    run = the_run(store, run_id)
    assert (run.kind, run.target, run.trigger) == ("backup", "school-data@gd-school-1", "console")


def test_a_harmless_run_is_given_to_the_dispatcher(app, people, store, recorded) -> None:
    response = app.test_client().post(
        "/api/v1/runs", json={"kind": "ping", "host": "gd-school-1"}, headers=bearer(app, people["operator-gd"])
    )
    assert response.status_code == 201
    assert recorded.submitted == [response.json["id"]]


def test_a_playbook_run_is_queued_with_its_hosts_locked_before_the_dispatcher_has_it(
    app, people, store, config, recorded
) -> None:
    from controlplane.automation.models import HostLock

    config.ssh_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.ssh_key_file.write_text("unused\n")
    response = app.test_client().post(
        "/api/v1/automation/runs",
        json={"kind": "harden", "limit": "gd-school-1", "check": True},
        headers=bearer(app, people["operator-gd"]),
    )
    assert response.status_code == 202, response.json
    run_id = response.json["run_id"]
    assert recorded.status_when_submitted[run_id] == RunStatus.QUEUED
    with store.session() as session:
        assert session.get(HostLock, "gd-school-1").run_id == run_id


def test_a_full_dispatcher_answers_503_and_the_refused_run_is_recorded_failed(app, people, store) -> None:
    from controlplane.dispatch import PoolDispatcher

    release = threading.Event()
    app.extensions["egov.dispatcher"] = PoolDispatcher(store, {"runbook": lambda run: release.wait(10)}, workers=1,
                                                       backlog=0)  # fmt: skip
    headers = bearer(app, people["operator-gd"])
    start = {"mode": "dry-run", "params": {"host": "gd-school-1"}}
    client = app.test_client()
    first = client.post("/api/v1/runbooks/isolate-host/start", json=start, headers=headers)
    second = client.post("/api/v1/runbooks/isolate-host/start", json=start, headers=headers)
    release.set()
    assert first.status_code == 202
    assert second.status_code == 503 and second.json["error"]["code"] == "not_started"
    with store.session() as session:
        refused = session.query(Run).filter(Run.kind == "runbook").order_by(Run.id.desc()).first()
        assert refused.status == RunStatus.FAILED and "too many runs" in refused.summary["error"]


def test_a_runbook_run_is_carried_to_its_end_by_the_console_dispatcher(app, people, store) -> None:
    response = app.test_client().post(
        "/api/v1/runbooks/isolate-host/start",
        json={"mode": "dry-run", "params": {"host": "gd-school-1"}},
        headers=bearer(app, people["operator-gd"]),
    )
    run = wait_for_run(store, response.json["run_id"], timeout=60)
    assert run.status == RunStatus.SUCCEEDED and run.trigger == "console"
