"""GET /api/v1/network and POST /api/v1/network/verify: the page's scope cut, and verify runs like the console's.

Also the verify run's task: a run a provincial operator started writes in its
output only what that operator may see on the page.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.web.conftest import record_starts, token_for
from tests.unit.web.network_fixtures import GD_OK, GD_VIOLATION, HN_INTO_GD, HN_VIOLATION, MINISTRY_OK, path, save

OTHER_PROVINCE = ("hn-edu-1", "hn-school-1", "hn-gw-1", "10.198.60.", "10.198.70.", "province-hn")


def get(app: Any, person: Any) -> Any:
    response = app.test_client().get("/api/v1/network", headers={"Authorization": f"Bearer {token_for(app, person)}"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def post(app: Any, person: Any, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token_for(app, person)}"}
    return app.test_client().post("/api/v1/network/verify", headers=headers, json=body)


def test_the_ministry_reads_every_zone_flow_and_path_of_the_latest_verify(app, people, store) -> None:
    save(store, GD_OK, HN_VIOLATION, MINISTRY_OK)
    body = get(app, people["root"])
    assert body["modelled"] is True and body["scoped"] is False
    assert {zone["name"] for zone in body["zones"]} >= {"dmz", "internal", "province-hn", "school-hn", "management"}
    assert {gateway["name"] for gateway in body["gateways"]} == {"mn-gw-1", "gd-gw-1", "hn-gw-1"}
    assert body["verify"]["violations"] == 1 and body["verify"]["paths"] == 3 and body["verify"]["ok"] is False
    assert {p["destination"] for p in body["paths"]} == {"gd-edu-1", "hn-edu-1", "mn-portal-1"}
    assert [point["violations"] for point in body["history"]] == [1]


def test_a_province_operator_reads_nothing_of_another_province(app, people, store) -> None:
    save(store, GD_OK, GD_VIOLATION, HN_VIOLATION, HN_INTO_GD)
    body = get(app, people["operator-gd"])
    text = json.dumps(body, ensure_ascii=False)
    for secret in (*OTHER_PROVINCE, "mn-db-1", "mn-gw-1", "10.198.11.14", "10.198.11.0/24"):
        assert secret not in text, secret
    assert body["scoped"] is True and body["verify"]["violations"] == 2 and body["verify"]["paths"] == 3
    assert [gateway["name"] for gateway in body["gateways"]] == ["gd-gw-1"]
    into = next(p for p in body["paths"] if p["source_zone"] == "school-hn")
    assert into["source"] is None and into["destination"] == "gd-edu-1" and into["address"] == "10.198.40.41"
    stubs = {zone["name"]: zone for zone in body["zones"] if zone["stub"]}
    assert stubs["internal"]["hosts"] == [] and stubs["internal"]["subnet"] is None


@pytest.fixture
def started(app, config) -> list[Any]:
    """Verify runs recorded instead of executed; the site gets an SSH key file."""
    runs: list[Any] = []
    config.ssh_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.ssh_key_file.write_text("unused\n")
    record_starts(app, runs.append)
    return runs


def test_verify_starts_a_queued_run_for_the_ministry_and_a_zone_run_for_a_province(app, people, started) -> None:
    whole = post(app, people["root"])
    assert whole.status_code == 202 and whole.get_json()["zone"] is None
    zoned = post(app, people["operator-gd"], {"zone": "province-gd"})
    assert zoned.status_code == 202 and zoned.get_json()["run_id"] == started[1].id
    assert [(run.kind, run.site, run.target) for run in started] == [
        ("network-verify", None, "all"),
        ("network-verify", "province-gd", "zone:province-gd"),
    ]
    assert "province-gd" in started[1].params["sources"] or started[1].params["zone"] == "province-gd"


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("operator-gd", {"zone": "province-hn"}, 403, "forbidden"),
        ("operator-gd", None, 400, "invalid"),
        ("operator-gd", {"zone": "no-such-zone"}, 400, "invalid"),
        ("root", {"zone": "DMZ!"}, 400, "invalid"),
        ("root", {"zone": "dmz", "extra": 1}, 400, "invalid"),
        ("oncall-gd", {"zone": "province-gd"}, 403, "forbidden"),
        ("auditor-gd", {"zone": "province-gd"}, 403, "forbidden"),
    ],
)
def test_verify_refuses_what_the_caller_may_not_start(app, people, started, who, body, status, code) -> None:
    response = post(app, people[who], body)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert started == []


def test_verify_without_the_ssh_key_is_a_conflict_and_starts_nothing(app, people) -> None:
    runs: list[Any] = []
    record_starts(app, runs.append)
    response = post(app, people["root"])
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "no_ssh_key") and runs == []


def test_a_provincial_verify_run_writes_only_what_the_province_may_see(app, people, store, monkeypatch) -> None:
    from controlplane.network import verify
    from controlplane.network.results import VerifyReport
    from controlplane.runs import create_run, read_output
    from controlplane.store.models import Run
    from controlplane.web.services.network import execute_task
    from tests.unit.web.network_fixtures import T0

    def fake_execute(plan, pool, *, ssh_user, on_source, local_prober=None, actor=""):
        for name, rows in (("gd-school-1", (GD_OK, GD_VIOLATION)), ("hn-school-1", (HN_INTO_GD, HN_VIOLATION))):
            on_source(verify.SourceDone(name, tuple(path(r) for r in rows), None, 0.1))
        paths = tuple(path(r) for r in (GD_OK, GD_VIOLATION, HN_INTO_GD, HN_VIOLATION))
        return VerifyReport(None, None, T0, T0, paths, (), zone="province-gd", actor=actor)

    class Pool:
        def close(self) -> None:
            pass

    monkeypatch.setattr(verify, "execute_verify", fake_execute)
    monkeypatch.setattr("controlplane.ssh.SSHPool.from_config", staticmethod(lambda config: Pool()))
    with store.session() as session:
        run = create_run(session, kind="network-verify", target="zone:province-gd", actor="operator-gd@console",
                         site="province-gd", params={"zone": "province-gd"})  # fmt: skip
        session.expunge(run)
    execute_task(app.extensions["egov"], run)
    with store.session() as session:
        status = session.get(Run, run.id).status
        output = "\n".join(line.text for line in read_output(session, run.id))
    assert status == "failed"
    assert "gd-school-1: 2 paths" in output and "hn-school-1" not in output
    for secret in ("hn-edu-1", "10.198.60.61", "mn-db-1", "10.198.11.14", "hn-gw-1", "mn-gw-1"):
        assert secret not in output, secret
    assert "VIOLATION gd-school-1 -> (internal):5432/tcp observed open" in output
    assert "VIOLATION (school-hn) -> gd-edu-1 10.198.40.41:22/tcp" in output
    assert "3 paths, 2 violation(s), 0 breakage(s)" in output
