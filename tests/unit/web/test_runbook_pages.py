"""Runbooks in the console and the API: list with load errors, start (scope, role, confirmation), journal, history."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import REPO, write_config
from tests.unit.web.conftest import login_as, make_app, make_people, remote_client, token_for, wait_for_run

HARMLESS = """
from controlplane.runbook.definition import Param, Probe, Runbook, Step


def note(ctx):
    ctx.log(f"would look at {ctx.params['host']}")


def fine(ctx):
    return True


RUNBOOK = Runbook(
    name="harmless-check",
    title="Harmless check",
    title_zh="无害检查",
    description="Logs a line; touches nothing.",
    severity="low",
    rto_objective=30,
    params=[Param("host", "host", help="the host to look at")],
    targets=lambda p: [p["host"]],
    steady_state=[Probe("always fine", fine)],
    steps=[Step("note", note, timeout=5)],
    verification=[Probe("still fine", fine)],
)
"""


@pytest.fixture
def rb_app(tmp_path: Path, template_site: Path, lab_inventory: Any, password_hash: str) -> Iterator[dict[str, Any]]:
    """An app whose runbooks folder holds one harmless runbook and one that does not load."""
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import open_vault
    from controlplane.web import shutdown

    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "harmless-check.py").write_text(HARMLESS, encoding="utf-8")
    (folder / "broken.py").write_text("RUNBOOK = undefined_name\n", encoding="utf-8")
    shutil.copytree(template_site / "var", tmp_path / "var")
    folders = {
        "inventory": str(REPO / "inventory" / "lab.yml"),
        "playbooks": str(REPO / "playbooks"),
        "backup": str(REPO / "backup"),
        "monitoring": str(REPO / "monitoring"),
        "runbooks": str(folder),
    }
    config = load_config(write_config(tmp_path, folders=folders))
    store = open_store(config)
    vault = open_vault(config, store)
    app = make_app(config, store, vault, lab_inventory)
    yield {"app": app, "store": store, "people": make_people(store, vault, password_hash)}
    shutdown(app)
    store.close()


def _client(app: Flask) -> Any:
    return remote_client(app)


def _runbook_runs(store: Any) -> list[Any]:
    from sqlalchemy import select

    from controlplane.store.models import Run

    with store.session() as session:
        runs = session.scalars(select(Run).where(Run.kind == "runbook").order_by(Run.id)).all()
        session.expunge_all()
    return list(runs)


def test_list_shows_load_errors(rb_app) -> None:
    client = _client(rb_app["app"])
    login_as(client, rb_app["people"]["auditor-gd"])
    page = client.get("/runbooks").get_data(as_text=True)
    assert "harmless-check" in page and "broken" in page and "NameError" in page
    assert client.get("/runbooks/broken").status_code == 404
    detail = client.get("/runbooks/harmless-check").get_data(as_text=True)
    assert "Harmless check" in detail and "runbook-start" not in detail  # auditors cannot start


def test_operator_starts_a_dry_run_in_scope_and_sees_the_journal(rb_app) -> None:
    client, store = _client(rb_app["app"]), rb_app["store"]
    csrf = login_as(client, rb_app["people"]["operator-gd"])
    response = client.post(
        "/runbooks/harmless-check/start",
        data={"csrf_token": csrf, "mode": "dry-run", "param_host": "gd-school-1"},
    )
    assert response.status_code == 302 and "/runbooks/runs/" in response.headers["Location"]
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run = wait_for_run(store, run_id)
    assert run.status == "succeeded" and run.dry_run and run.actor == "operator-gd@console"
    page = client.get(f"/runbooks/runs/{run_id}").get_data(as_text=True)
    assert "harmless-check" in page and "note" in page and 'id="output"' in page
    exported = client.get(f"/runbooks/runs/{run_id}/journal.md")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert client.get(f"/runbooks/runs/{run_id}/journal.exe").status_code == 404
    assert client.get(f"/runbooks/runs/{run_id}/stream").status_code == 200
    history = client.get("/runbooks").get_data(as_text=True)
    assert f'href="/runbooks/runs/{run_id}"' in history
    # A user of another site neither sees the run nor its journal.
    login_as(client, rb_app["people"]["operator-dr"])
    assert client.get(f"/runbooks/runs/{run_id}").status_code == 403
    assert f'href="/runbooks/runs/{run_id}"' not in client.get("/runbooks").get_data(as_text=True)


def test_start_is_refused_out_of_scope_for_viewers_and_without_confirmation(rb_app) -> None:
    client, store = _client(rb_app["app"]), rb_app["store"]
    csrf = login_as(client, rb_app["people"]["operator-gd"])
    url = "/runbooks/harmless-check/start"
    assert (
        client.post(url, data={"csrf_token": csrf, "mode": "dry-run", "param_host": "mn-portal-1"}).status_code == 403
    )
    # A real run needs the name typed: without it, nothing starts.
    refused = client.post(url, data={"csrf_token": csrf, "mode": "run", "param_host": "gd-school-1", "confirm": "x"})
    assert refused.status_code == 302 and "/runbooks/harmless-check" in refused.headers["Location"]
    client.post(url, data={"csrf_token": csrf, "mode": "bogus", "param_host": "gd-school-1"})
    client.post(url, data={"csrf_token": csrf, "mode": "dry-run", "param_host": "no-such-host"})
    assert _runbook_runs(store) == []
    confirmed = client.post(
        url, data={"csrf_token": csrf, "mode": "run", "param_host": "gd-school-1", "confirm": "harmless-check"}
    )
    assert "/runbooks/runs/" in confirmed.headers["Location"]
    run = wait_for_run(store, int(confirmed.headers["Location"].rsplit("/", 1)[1]))
    assert run.status == "succeeded" and not run.dry_run
    for role in ("oncall-gd", "auditor-gd", "security-officer-gd"):
        csrf = login_as(client, rb_app["people"][role])
        assert (
            client.post(url, data={"csrf_token": csrf, "mode": "dry-run", "param_host": "gd-school-1"}).status_code
            == 403
        )
    assert len(_runbook_runs(store)) == 1


def test_api_list_start_history_and_journal(rb_app) -> None:
    app, store = rb_app["app"], rb_app["store"]
    client = _client(app)
    auth = {"Authorization": f"Bearer {token_for(app, rb_app['people']['operator-gd'])}"}
    listed = {item["name"]: item for item in client.get("/api/v1/runbooks", headers=auth).json["items"]}
    assert listed["harmless-check"]["ok"] and not listed["broken"]["ok"] and "NameError" in listed["broken"]["error"]
    url = "/api/v1/runbooks/harmless-check/start"
    started = client.post(url, json={"mode": "dry-run", "params": {"host": "gd-school-1"}}, headers=auth)
    assert started.status_code == 202, started.json
    run_id = started.json["run_id"]
    wait_for_run(store, run_id)
    journal = client.get(started.json["journal"], headers=auth).json
    assert journal["runbook"] == "harmless-check" and journal["entries"]
    history = client.get("/api/v1/runbooks/history", headers=auth).json["items"]
    assert [row["run_id"] for row in history] == [run_id]
    assert client.post(url, json={"mode": "run", "params": {"host": "gd-school-1"}}, headers=auth).status_code == 400
    assert (
        client.post(url, json={"mode": "dry-run", "params": {"host": "mn-portal-1"}}, headers=auth).status_code == 403
    )
    assert client.post(url, json={"mode": "dry-run", "extra": 1}, headers=auth).status_code == 400
    assert client.post("/api/v1/runbooks/nope/start", json={"mode": "dry-run"}, headers=auth).status_code == 404
    other = {"Authorization": f"Bearer {token_for(app, rb_app['people']['operator-dr'])}"}
    assert client.get(f"/api/v1/runbooks/runs/{run_id}/journal", headers=other).status_code == 403
    assert client.get("/api/v1/runbooks/history", headers=other).json["items"] == []
    viewer = {"Authorization": f"Bearer {token_for(app, rb_app['people']['oncall-gd'])}"}
    assert client.get("/api/v1/runbooks", headers=viewer).status_code == 200
    assert (
        client.post(url, json={"mode": "dry-run", "params": {"host": "gd-school-1"}}, headers=viewer).status_code == 403
    )


def test_rto_chart_geometry() -> None:
    from controlplane.web.views.runbooks import rto_chart

    rows = [
        {
            "run_id": 2,
            "runbook": "a",
            "drill": True,
            "rto_seconds": 40.0,
            "rto_objective_seconds": 30,
            "rto_met": False,
        },
        {"run_id": 1, "runbook": "a", "drill": True, "rto_seconds": 10.0, "rto_objective_seconds": 30, "rto_met": True},
        {"run_id": 3, "runbook": "a", "drill": False, "rto_seconds": 5.0, "rto_objective_seconds": 30},
    ]
    chart = rto_chart(rows)
    assert [bar["run_id"] for bar in chart["bars"]] == [2, 1]
    assert [bar["met"] for bar in chart["bars"]] == [False, True]
    assert chart["bars"][0]["width"] > chart["bars"][1]["width"]
    assert rto_chart([])["bars"] == []


def test_drill_chart_is_rendered_as_inline_svg(rb_app) -> None:
    from controlplane.runs import create_run, finish_run

    store = rb_app["store"]
    with store.session() as session:
        run = create_run(
            session,
            kind="runbook",
            target="gd-school-1",
            actor="t",
            params={"runbook": "harmless-check", "mode": "drill", "drill": True, "targets": ["gd-school-1"]},
        )
        figures = {"rto_seconds": 12.5, "rto_objective_seconds": 30, "rto_met": True}
        finish_run(session, run, "succeeded", summary={"figures": figures}, exit_code=0)
    client = _client(rb_app["app"])
    login_as(client, rb_app["people"]["auditor-gd"])
    page = client.get("/runbooks/harmless-check").get_data(as_text=True)
    assert '<svg class="rto-chart"' in page and "12.5 s" in page


def test_runbook_pages_in_chinese(rb_app) -> None:
    from controlplane.store.models import User

    store = rb_app["store"]
    with store.session() as session:
        session.get(User, rb_app["people"]["operator-gd"].id).language = "zh_CN"
    client = _client(rb_app["app"])
    login_as(client, rb_app["people"]["operator-gd"])
    page = client.get("/runbooks").get_data(as_text=True)
    assert "应急预案" in page and "恢复时间目标 RTO" in page and "无害检查" in page
    assert "演练" in client.get("/runbooks/harmless-check").get_data(as_text=True)
