"""A second approver in the console: a critical runbook's real run waits for another person in scope to approve it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import REPO, write_config
from tests.unit.web.conftest import login_as, make_app, make_people, remote_client, wait_for_run

CRITICAL = """
from controlplane.runbook.definition import Param, Probe, Runbook, Step


def note(ctx):
    ctx.log(f"would isolate {ctx.params['host']}")


def fine(ctx):
    return True


RUNBOOK = Runbook(
    name="critical-check",
    title="Critical check",
    title_zh="关键检查",
    description="Logs a line; touches nothing; a real run needs a second approver.",
    severity="critical",
    rto_objective=30,
    params=[Param("host", "host", help="the host")],
    targets=lambda p: [p["host"]],
    steady_state=[Probe("always fine", fine)],
    steps=[Step("note", note, timeout=5)],
    verification=[Probe("still fine", fine)],
    approvals_required=2,
)
"""

RULE_NAMING_IT = """
  - alert: CriticalThing
    probe: ssh
    runbook: {name: critical-check, auto: drill, min_interval: 1h, host_vars: {portal_priority: primary}}
"""


@pytest.fixture
def site(tmp_path: Path, template_site: Path, lab_inventory: Any, password_hash: str) -> Iterator[dict[str, Any]]:
    """An app whose runbooks folder holds one harmless runbook that needs a second approver."""
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import open_vault
    from controlplane.web import shutdown

    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "critical-check.py").write_text(CRITICAL, encoding="utf-8")
    shutil.copytree(template_site / "var", tmp_path / "var")
    monitoring = tmp_path / "monitoring"
    shutil.copytree(REPO / "monitoring", monitoring)
    with (monitoring / "rules.yml").open("a", encoding="utf-8") as rules:
        rules.write(RULE_NAMING_IT)
    folders = {"inventory": str(REPO / "inventory" / "lab.yml"), "runbooks": str(folder),
               "monitoring": str(monitoring)}  # fmt: skip
    config = load_config(write_config(tmp_path, folders=folders))
    store = open_store(config)
    vault = open_vault(config, store)
    app = make_app(config, store, vault, lab_inventory)
    yield {"app": app, "store": store, "people": make_people(store, vault, password_hash)}
    shutdown(app)
    store.close()


def as_user(site: dict[str, Any], name: str) -> tuple[Any, str]:
    """A client logged in as the fixture user ``name`` and its CSRF token."""
    client = remote_client(site["app"])
    return client, login_as(client, site["people"][name])


def runbook_runs(store: Any) -> list[Any]:
    from controlplane.store.models import Run

    with store.session() as session:
        runs = session.scalars(select(Run).where(Run.kind == "runbook").order_by(Run.id)).all()
        session.expunge_all()
    return list(runs)


def audited(store: Any, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    from controlplane.store.models import AuditRecord

    with store.session() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq))
        return [(r.actor, r.outcome, json.loads(r.details)) for r in rows]


def ask(site: dict[str, Any], name: str = "operator-gd", host: str = "gd-school-1") -> str:
    """``name`` starts a real run of critical-check; return the id of the request it becomes."""
    from controlplane.runbook.approvals import list_requests

    client, csrf = as_user(site, name)
    response = client.post(
        "/runbooks/critical-check/start",
        data={"csrf_token": csrf, "mode": "run", "param_host": host, "confirm": "critical-check"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/runbooks/approvals")
    [pending] = [r for r in list_requests(site["store"]) if r["status"] == "pending"]
    return str(pending["id"])


def test_a_real_run_of_a_critical_runbook_waits_for_a_second_approver(site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = ask(site)
    assert runbook_runs(site["store"]) == []
    item = get_request(site["store"], request_id)
    assert item is not None and item["requester"] == "operator-gd" and item["targets"] == ["gd-school-1"]
    [(actor, outcome, details)] = audited(site["store"], "runbook.request")
    assert (actor, outcome, details["request"]) == ("operator-gd@console", "pending", request_id)
    client, _csrf = as_user(site, "operator-gd")
    page = client.get("/runbooks/approvals").get_data(as_text=True)
    assert request_id in page and "Waiting for another person" in page and "Approve and run" not in page


def test_another_operator_in_scope_approves_and_the_run_starts_as_the_requester(site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = ask(site)
    client, csrf = as_user(site, "admin-gd")
    assert "Approve and run" in client.get("/runbooks/approvals").get_data(as_text=True)
    response = client.post(f"/runbooks/approvals/{request_id}/approve", data={"csrf_token": csrf, "reason": "ok"})
    assert response.status_code == 302 and "/runbooks/runs/" in response.headers["Location"]
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run = wait_for_run(site["store"], run_id)
    assert run.status == "succeeded" and not run.dry_run
    assert run.actor == "operator-gd@console" and run.summary["approved_by"] == "admin-gd@console"
    item = get_request(site["store"], request_id)
    assert item is not None and (item["status"], item["decided_by"], item["run_id"]) == ("approved", "admin-gd", run_id)
    [(actor, outcome, details)] = audited(site["store"], "runbook.approve")
    assert (actor, outcome, details["requester"]) == ("admin-gd@console", "approved", "operator-gd")
    # Approving again starts nothing more.
    again = client.post(f"/runbooks/approvals/{request_id}/approve", data={"csrf_token": csrf})
    assert again.status_code == 302 and len(runbook_runs(site["store"])) == 1


def test_nobody_approves_their_own_request(site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = ask(site)
    client, csrf = as_user(site, "operator-gd")
    response = client.post(f"/runbooks/approvals/{request_id}/approve", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith("/runbooks/approvals")
    assert runbook_runs(site["store"]) == []
    assert get_request(site["store"], request_id)["status"] == "pending"  # type: ignore[index]
    [(_actor, outcome, details)] = audited(site["store"], "runbook.approve")
    assert outcome == "refused" and "another person" in details["reason"]


def test_out_of_scope_or_without_the_role_the_approval_is_forbidden(site) -> None:  # type: ignore[no-untyped-def]
    request_id = ask(site)
    for name in ("operator-dr", "oncall-gd", "auditor-gd"):
        client, csrf = as_user(site, name)
        response = client.post(f"/runbooks/approvals/{request_id}/approve", data={"csrf_token": csrf})
        assert response.status_code == 403, name
    outsider, _csrf = as_user(site, "operator-dr")
    assert request_id not in outsider.get("/runbooks/approvals").get_data(as_text=True)
    assert runbook_runs(site["store"]) == []


def test_without_the_csrf_token_nothing_is_decided(site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = ask(site)
    client, _csrf = as_user(site, "admin-gd")
    assert client.post(f"/runbooks/approvals/{request_id}/approve", data={}).status_code == 403
    assert get_request(site["store"], request_id)["status"] == "pending"  # type: ignore[index]


def test_a_rejected_request_never_runs(site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.approvals import get_request

    request_id = ask(site)
    client, csrf = as_user(site, "operator-gd")
    assert client.post(f"/runbooks/approvals/{request_id}/reject", data={"csrf_token": csrf}).status_code == 302
    assert get_request(site["store"], request_id)["status"] == "pending"  # type: ignore[index]  # not by oneself
    other, other_csrf = as_user(site, "root")
    assert other.post(f"/runbooks/approvals/{request_id}/reject", data={"csrf_token": other_csrf}).status_code == 302
    assert get_request(site["store"], request_id)["status"] == "rejected"  # type: ignore[index]
    admin, admin_csrf = as_user(site, "admin-gd")
    admin.post(f"/runbooks/approvals/{request_id}/approve", data={"csrf_token": admin_csrf})
    assert runbook_runs(site["store"]) == []
    assert [outcome for _a, outcome, _d in audited(site["store"], "runbook.reject")] == ["refused", "rejected"]


def test_a_dry_run_of_a_critical_runbook_needs_no_approver(site) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_user(site, "operator-gd")
    response = client.post(
        "/runbooks/critical-check/start", data={"csrf_token": csrf, "mode": "dry-run", "param_host": "gd-school-1"}
    )
    assert response.status_code == 302 and "/runbooks/runs/" in response.headers["Location"]


def test_two_deciders_at_once_cannot_both_win(site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook import approvals

    made = approvals.request_run(site["store"], runbook="critical-check", params={"host": "gd-school-1"},
                                 targets=["gd-school-1"], requester="a")  # fmt: skip
    approvals.decide(site["store"], made["id"], decider="b", approve=True)
    with pytest.raises(approvals.RequestConflict, match="already approved"):
        approvals.decide(site["store"], made["id"], decider="c", approve=False)


def test_the_runbook_page_names_the_alert_rules_that_call_for_it(site) -> None:  # type: ignore[no-untyped-def]
    client, _csrf = as_user(site, "auditor-gd")
    page = client.get("/runbooks/critical-check").get_data(as_text=True)
    table = page.split('id="alert-rules"', 1)[1].split("</table>", 1)[0]
    assert "CriticalThing" in table and "<strong>drill</strong>" in table and "3600 s" in table
    assert "portal_priority=primary" in table and "PortalHTTPDown" not in table
