"""Provision and harden in the console and the API: start within scope, per-host progress, drift, history.

The background launch (which would run ansible on the lab) is replaced by a
recorder here; the lab test tests/integration/automation/test_console_on_lab.py
runs the real thing. Everything else is real: the inventory, the checks of
the engine (pattern, group vars), locks, runs, the audit log.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.web.conftest import audit_actions, login_as, record_starts, token_for


@pytest.fixture(autouse=True)
def ssh_key(config) -> Any:
    """A management key file where the site's config expects it (its content is never used here)."""
    config.ssh_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.ssh_key_file.write_text("not a real key\n")
    config.ssh_key_file.chmod(0o600)
    return config.ssh_key_file


def test_without_an_ssh_key_nothing_starts_and_the_answer_says_why(client, app, people, ssh_key, launched) -> None:
    ssh_key.unlink()
    response = client.post(
        "/api/v1/automation/runs",
        json={"kind": "harden", "limit": "gd-school-1"},
        headers=api(client, app, people["root"]),
    )
    assert response.status_code == 409
    assert (
        response.get_json()["error"]["code"] == "no_ssh_key" and str(ssh_key) in response.get_json()["error"]["message"]
    )
    assert launched == []


@pytest.fixture
def launched(app) -> list[tuple[str, str | None, int, list[str]]]:
    """Record dispatched playbook runs instead of starting ansible: (kind, limit, run id, hosts)."""
    calls: list[tuple[str, str | None, int, list[str]]] = []
    record_starts(
        app, lambda run: calls.append((run.kind, run.params.get("limit"), run.id, list(run.params.get("hosts") or [])))
    )
    return calls


def api(client, app, person) -> dict[str, str]:
    """Bearer headers for ``person``."""
    return {"Authorization": f"Bearer {token_for(app, person)}"}


def get_run(store: Any, run_id: int) -> Any:
    from controlplane.store.models import Run

    with store.session() as session:
        return session.get(Run, run_id)


def seed_results(store: Any, run_id: int, rows: list[tuple[str, str, str, list[str]]]) -> None:
    """Store task results (host, task, status, controls) for a run, as the engine does while it goes."""
    from controlplane.automation.models import HostTaskResult

    with store.session() as session:
        for host, task, status, controls in rows:
            session.add(
                HostTaskResult(
                    run_id=run_id,
                    host=host,
                    task=task,
                    role="harden_ssh",
                    status=status,
                    changed=status == "changed",
                    controls=controls,
                    message="",
                )
            )


def finished_check(
    store: Any, host: str, site: str, changes: list[tuple[str, list[str]]], outcome: str | None = None
) -> int:
    """A finished harden --check run on ``host`` whose changed tasks are ``changes``; return its id."""
    from controlplane.automation.models import HostRunStats
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import RunStatus

    with store.session() as session:
        run = create_run(
            session, kind="harden", target=host, actor="t", site=site, params={"hosts": [host]}, dry_run=True
        )
        run_id = run.id
    seed_results(store, run_id, [(host, "sshd: baseline", "ok", [])] + [(host, t, "changed", c) for t, c in changes])
    with store.session() as session:
        session.add(
            HostRunStats(
                run_id=run_id,
                host=host,
                ok=1 + len(changes),
                changed=len(changes),
                outcome=outcome or ("changed" if changes else "ok"),
            )
        )
        finish_run(session, session.get(type(run), run_id), RunStatus.SUCCEEDED, exit_code=0)
    return run_id


# --------------------------------------------------------------------------- starting
def test_an_operator_starts_a_harden_check_in_scope_through_the_api(client, app, people, store, launched) -> None:
    from controlplane.automation.models import HostLock

    response = client.post(
        "/api/v1/automation/runs",
        json={"kind": "harden", "limit": "gd-school-1", "check": True},
        headers=api(client, app, people["operator-gd"]),
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["hosts"] == ["gd-school-1"] and body["check"] is True
    assert body["progress"] == f"/api/v1/automation/runs/{body['run_id']}/hosts"
    assert launched == [("harden", "gd-school-1", body["run_id"], ["gd-school-1"])]
    run = get_run(store, body["run_id"])
    assert (run.kind, run.site, run.dry_run, run.actor, run.trigger) == (
        "harden",
        "school-gd-1",
        True,
        "operator-gd@api",
        "api",
    )
    with store.session() as session:
        assert session.get(HostLock, "gd-school-1").run_id == run.id
    assert ("harden.start", f"run:{run.id}", "ok") in audit_actions(store)


def test_an_empty_pattern_means_every_host_of_the_users_sites(client, app, people, store, launched) -> None:
    response = client.post(
        "/api/v1/automation/runs", json={"kind": "provision"}, headers=api(client, app, people["operator-gd"])
    )
    assert response.status_code == 202
    body = response.get_json()
    assert sorted(body["hosts"]) == ["gd-edu-1", "gd-gw-1", "gd-school-1"]
    # The run spans the province and its school: it belongs to the province, so its operator sees it.
    assert get_run(store, body["run_id"]).site == "province-gd"
    assert get_run(store, body["run_id"]).dry_run is False


@pytest.mark.parametrize("pattern", ["mn-portal-1", "gd-school-1,mn-portal-1", "portal", "all", "*"])
def test_a_pattern_reaching_a_host_outside_the_users_sites_is_refused_403(
    client, app, people, store, launched, pattern
) -> None:
    from sqlalchemy import func, select

    from controlplane.store.models import Run

    with store.session() as session:
        before = session.scalar(select(func.count()).select_from(Run))
    response = client.post(
        "/api/v1/automation/runs",
        json={"kind": "harden", "limit": pattern, "check": True},
        headers=api(client, app, people["operator-gd"]),
    )
    assert response.status_code == 403
    assert launched == []
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == before


def test_a_ministry_admin_may_target_every_host(client, app, people, launched) -> None:
    response = client.post(
        "/api/v1/automation/runs", json={"kind": "harden", "check": True}, headers=api(client, app, people["root"])
    )
    assert response.status_code == 202
    assert len(response.get_json()["hosts"]) == 15
    assert launched[0][1] is None  # no pattern: ansible gets every host


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"kind": "harden", "limit": "no-such-host"}, "matches no host"),
        ({"kind": "harden", "limit": "gd-school-1;reboot"}, "limit"),
        ({"kind": "harden", "limit": "$(id)"}, "limit"),
        ({"kind": "deploy"}, "kind"),
        ({"kind": "harden", "extra": 1}, "unknown field"),
        ({"limit": "gd-school-1"}, "missing field"),
    ],
)
def test_bad_input_is_400_naming_the_cause(client, app, people, launched, body, needle) -> None:
    response = client.post("/api/v1/automation/runs", json=body, headers=api(client, app, people["root"]))
    assert response.status_code == 400, response.get_json()
    assert needle in response.get_json()["error"]["message"]
    assert launched == []


def test_a_host_missing_a_group_var_is_refused_naming_it(client, app, people, launched, monkeypatch) -> None:
    from controlplane.automation import engine

    monkeypatch.setitem(engine.REQUIRED_VARS, "school", ("school_backup_window",))
    response = client.post(
        "/api/v1/automation/runs",
        json={"kind": "harden", "limit": "gd-school-1"},
        headers=api(client, app, people["root"]),
    )
    assert response.status_code == 400
    assert "gd-school-1: missing group var school_backup_window" in response.get_json()["error"]["message"]


def test_a_host_already_in_a_run_is_409_naming_the_run(client, app, people, launched) -> None:
    headers = api(client, app, people["operator-gd"])
    first = client.post("/api/v1/automation/runs", json={"kind": "harden", "limit": "gd-school-1"}, headers=headers)
    assert first.status_code == 202
    second = client.post("/api/v1/automation/runs", json={"kind": "provision", "limit": "gd-*"}, headers=headers)
    assert second.status_code == 409
    message = second.get_json()["error"]["message"]
    assert f"gd-school-1 is in run {first.get_json()['run_id']}" in message
    assert len(launched) == 1


def test_roles_without_the_start_permission_cannot_start(client, app, people, launched) -> None:
    for name in ("oncall-gd", "security-officer-gd", "auditor-gd"):
        response = client.post(
            "/api/v1/automation/runs",
            json={"kind": "harden", "limit": "gd-school-1", "check": True},
            headers=api(client, app, people[name]),
        )
        assert response.status_code == 403, name
    assert launched == []


def test_the_console_form_starts_a_run_and_redirects_to_its_page(client, people, store, launched) -> None:
    csrf = login_as(client, people["operator-gd"])
    response = client.post(
        "/automation/start", data={"kind": "harden", "limit": "gd-school-1", "check": "1", "csrf_token": csrf}
    )
    assert response.status_code == 302
    run_id = launched[0][2]
    assert response.headers["Location"] == f"/automation/runs/{run_id}"
    run = get_run(store, run_id)
    assert (run.trigger, run.actor, run.dry_run) == ("console", "operator-gd@console", True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="host-progress"' in page and f'data-progress="/automation/runs/{run_id}/progress"' in page
    assert f'data-stream="/runs/{run_id}/stream"' in page and "automation.js" in page
    assert 'data-host="gd-school-1"' in page and 'data-state="waiting"' in page


def test_the_console_form_out_of_scope_is_403_and_bad_pattern_a_message(client, people, launched) -> None:
    csrf = login_as(client, people["operator-gd"])
    assert (
        client.post("/automation/start", data={"kind": "harden", "limit": "mn-*", "csrf_token": csrf}).status_code
        == 403
    )
    response = client.post(
        "/automation/start", data={"kind": "harden", "limit": "nothing-here", "csrf_token": csrf}, follow_redirects=True
    )
    assert "matches no host" in response.get_data(as_text=True)
    assert launched == []


# --------------------------------------------------------------------------- progress, drift, history
def test_progress_counts_each_hosts_results_while_the_run_goes_then_uses_the_recap(
    client, app, people, store, launched
) -> None:
    from controlplane.automation.models import HostRunStats
    from controlplane.runs import finish_run
    from controlplane.store.models import Run, RunStatus

    headers = api(client, app, people["operator-gd"])
    run_id = client.post("/api/v1/automation/runs", json={"kind": "harden"}, headers=headers).get_json()["run_id"]
    seed_results(
        store,
        run_id,
        [
            ("gd-school-1", "sshd: a [ssh.x]", "ok", ["ssh.x"]),
            ("gd-school-1", "sshd: b", "changed", []),
            ("gd-school-1", "sshd: c", "skipped", []),
        ],
    )
    data = client.get(f"/api/v1/automation/runs/{run_id}/hosts", headers=headers).get_json()
    assert data["final"] is False
    rows = {row["host"]: row for row in data["hosts"]}
    assert rows["gd-school-1"] == {
        "host": "gd-school-1",
        "state": "running",
        "ok": 2,
        "changed": 1,
        "failed": 0,
        "unreachable": 0,
        "skipped": 1,
        "last_task": "sshd: c",
    }
    assert rows["gd-edu-1"]["state"] == "waiting" and rows["gd-edu-1"]["ok"] == 0
    seed_results(store, run_id, [("gd-edu-1", "Gathering Facts", "unreachable", [])])
    rows = {
        row["host"]: row
        for row in client.get(f"/automation/runs/{run_id}/progress", headers=headers).get_json()["hosts"]
    }
    assert rows["gd-edu-1"]["state"] == "unreachable" and rows["gd-edu-1"]["unreachable"] == 1
    with store.session() as session:
        session.add(HostRunStats(run_id=run_id, host="gd-school-1", ok=2, changed=1, skipped=1, outcome="changed"))
        session.add(HostRunStats(run_id=run_id, host="gd-edu-1", unreachable=1, outcome="unreachable"))
        finish_run(session, session.get(Run, run_id), RunStatus.PARTIAL, exit_code=4)
    data = client.get(f"/api/v1/automation/runs/{run_id}/hosts", headers=headers).get_json()
    assert data["final"] is True and data["run"]["status"] == "partial"
    assert {row["host"]: row["state"] for row in data["hosts"]} == {
        "gd-edu-1": "unreachable", "gd-gw-1": "not run", "gd-school-1": "changed"
    }  # fmt: skip


def test_progress_of_another_kind_of_run_is_404(client, app, people, store) -> None:
    from controlplane.runs import create_run

    with store.session() as session:
        run_id = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1").id
    assert (
        client.get(f"/api/v1/automation/runs/{run_id}/hosts", headers=api(client, app, people["root"])).status_code
        == 404
    )


def test_drift_shows_the_newest_check_per_host_and_stays_in_scope(client, app, people, store) -> None:
    old = finished_check(store, "gd-school-1", "school-gd-1", [("sshd: old change", ["ssh.old"])])
    new = finished_check(
        store, "gd-school-1", "school-gd-1", [("sysctl: no forwarding [kernel.ip-forward]", ["kernel.ip-forward"])]
    )
    finished_check(store, "mn-portal-1", "ministry", [("sshd: ministry drift", ["ssh.x"])])
    data = client.get("/api/v1/automation/drift", headers=api(client, app, people["auditor-gd"])).get_json()
    assert [(row["host"], row["run_id"]) for row in data["items"]] == [("gd-school-1", new)]
    assert data["items"][0]["drifted"] is True
    assert data["items"][0]["would_change"] == [
        {"task": "sysctl: no forwarding [kernel.ip-forward]", "role": "harden_ssh", "controls": ["kernel.ip-forward"]}
    ]
    everything = client.get("/api/v1/automation/drift", headers=api(client, app, people["root"])).get_json()
    assert {row["host"] for row in everything["items"]} == {"gd-school-1", "mn-portal-1"}
    assert old not in [row["run_id"] for row in everything["items"]]
    login_as(client, people["security-officer-gd"])
    page = client.get("/automation").get_data(as_text=True)
    assert "kernel.ip-forward" in page and "ministry drift" not in page
    assert 'id="automation-start"' not in page  # a security officer sees drift but starts nothing


def test_a_clean_check_reports_no_drift_and_a_failed_host_unknown_drift(client, app, people, store) -> None:
    finished_check(store, "gd-school-1", "school-gd-1", [])
    finished_check(store, "gd-edu-1", "province-gd", [], outcome="unreachable")
    items = {
        row["host"]: row
        for row in client.get("/api/v1/automation/drift", headers=api(client, app, people["root"])).get_json()["items"]
    }
    assert items["gd-school-1"]["drifted"] is False and items["gd-school-1"]["outcome"] == "ok"
    assert items["gd-edu-1"]["outcome"] == "unreachable"
    login_as(client, people["root"])
    page = client.get("/automation").get_data(as_text=True)
    assert "no drift" in page and "unknown: the check did not complete on this host" in page


def test_host_history_lists_the_hosts_playbook_runs_with_its_tally(client, app, people, store, launched) -> None:
    checked = finished_check(store, "gd-school-1", "school-gd-1", [("sshd: x", ["ssh.x"])])
    finished_check(store, "gd-edu-1", "province-gd", [])
    headers = api(client, app, people["operator-gd"])
    running = client.post("/api/v1/automation/runs", json={"kind": "harden", "limit": "gd-school-1"}, headers=headers)
    data = client.get("/api/v1/automation/hosts/gd-school-1/history", headers=headers).get_json()
    assert [item["id"] for item in data["items"]] == [running.get_json()["run_id"], checked]
    assert data["items"][0]["host_outcome"] == "running"
    assert (data["items"][1]["host_outcome"], data["items"][1]["changed"], data["items"][1]["check"]) == (
        "changed",
        1,
        True,
    )
    assert data["drift"][0]["would_change"][0]["controls"] == ["ssh.x"]
    assert client.get("/api/v1/automation/hosts/mn-portal-1/history", headers=headers).status_code == 403
    assert client.get("/api/v1/automation/hosts/nope/history", headers=headers).status_code == 404
    login_as(client, people["operator-gd"])
    page = client.get("/automation/hosts/gd-school-1").get_data(as_text=True)
    assert f'data-run="{checked}"' in page and "ssh.x" in page
    assert "/automation/hosts/gd-school-1" in client.get("/hosts/gd-school-1").get_data(as_text=True)


def test_the_pages_are_translated(client, people, store) -> None:
    from controlplane.store.models import User

    with store.session() as session:
        session.get(User, people["operator-gd"].id).language = "zh_CN"
    login_as(client, people["operator-gd"])
    page = client.get("/automation").get_data(as_text=True)
    assert "部署与加固" in page and "仅检查（报告偏离，不做变更）" in page


def test_every_automation_answer_matches_its_openapi_schema(client, app, people, store, launched) -> None:
    from jsonschema import Draft202012Validator

    doc = client.get("/api/v1/openapi.json").get_json()

    def check(path: str, method: str, status: int, body: Any) -> None:
        schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
        errors = list(Draft202012Validator(schema).iter_errors(body))
        assert not errors, (path, [e.message for e in errors])

    finished_check(store, "gd-school-1", "school-gd-1", [("sshd: x [ssh.x]", ["ssh.x"])])
    headers = api(client, app, people["operator-gd"])
    started = client.post("/api/v1/automation/runs", json={"kind": "harden", "check": True}, headers=headers)
    check("/api/v1/automation/runs", "post", 202, started.get_json())
    run_id = started.get_json()["run_id"]
    answers = {
        "/api/v1/automation/runs": client.get("/api/v1/automation/runs", headers=headers),
        "/api/v1/automation/runs/{run_id}/hosts": client.get(
            f"/api/v1/automation/runs/{run_id}/hosts", headers=headers
        ),
        "/api/v1/automation/drift": client.get("/api/v1/automation/drift", headers=headers),
        "/api/v1/automation/hosts/{name}/history": client.get(
            "/api/v1/automation/hosts/gd-school-1/history", headers=headers
        ),
    }
    for path, response in answers.items():
        assert response.status_code == 200
        assert response.get_json().get("items", response.get_json().get("hosts")), path  # not vacuous
        check(path, "get", 200, response.get_json())
