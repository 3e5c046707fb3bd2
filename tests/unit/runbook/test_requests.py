"""Run requests waiting for a second approver: decisions, expiry and the ``egov runbook requests`` listing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from controlplane.errors import BadInputError
from controlplane.runbook import approvals


def ask(store: Any, requester: str = "li.wei", ttl: dt.timedelta = approvals.REQUEST_TTL) -> dict[str, Any]:
    """A request for a real run of isolate-host on gd-school-1 by ``requester``."""
    return approvals.request_run(
        store,
        runbook="isolate-host",
        params={"host": "gd-school-1"},
        targets=["gd-school-1"],
        requester=requester,
        reason="incident 42",
        ttl=ttl,
    )


def test_a_request_is_decided_once_and_never_by_its_requester(store: Any) -> None:
    made = ask(store)
    with pytest.raises(BadInputError, match="another person"):
        approvals.decide(store, made["id"], decider="li.wei", approve=True)
    decided = approvals.decide(store, made["id"], decider="wang.fang", approve=True, reason="checked")
    assert (decided["status"], decided["decided_by"], decided["decision_reason"]) == (
        "approved",
        "wang.fang",
        "checked",
    )
    with pytest.raises(approvals.RequestConflict):
        approvals.decide(store, made["id"], decider="zhao.min", approve=False)
    approvals.record_start(store, made["id"], run_id=7)
    assert approvals.get_request(store, made["id"])["run_id"] == 7  # type: ignore[index]


def test_an_expired_request_can_no_longer_be_approved(store: Any) -> None:
    made = ask(store, ttl=dt.timedelta(seconds=-1))
    assert approvals.get_request(store, made["id"])["status"] == "expired"  # type: ignore[index]
    with pytest.raises(approvals.RequestConflict, match="expired"):
        approvals.decide(store, made["id"], decider="wang.fang", approve=True)


def test_unknown_or_malformed_ids_are_not_found(store: Any) -> None:
    assert approvals.get_request(store, "../../etc") is None
    assert approvals.get_request(store, "0" * 12) is None
    with pytest.raises(BadInputError, match="no run request"):
        approvals.decide(store, "0" * 12, decider="x", approve=True)


def test_the_cli_lists_pending_requests_first(config: Any, store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from controlplane.cli import main

    first, second = ask(store), ask(store, requester="zhao.min")
    approvals.decide(store, first["id"], decider="wang.fang", approve=False)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config.source), "runbook", "requests", "--json"])
    assert exited.value.code == 0
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == [second["id"]]
    with pytest.raises(SystemExit):
        main(["--config", str(config.source), "runbook", "requests", "--all"])
    out = capsys.readouterr().out
    assert out.index(second["id"]) < out.index(first["id"]) and "rejected by wang.fang" in out
