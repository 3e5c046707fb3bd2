"""An alert's runbook in ``egov serve``: queued as the alerting host's site, then handed to the dispatcher."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.monitoring.autorun import AutoStart
from controlplane.monitoring.spec import Rule, RuleRunbook
from controlplane.runbook.scope import ScopeRefused
from controlplane.store.models import Run, RunStatus
from controlplane.web.services.runbooks import alert_runner
from tests.unit.web.conftest import RecordingDispatcher


def auto_start(host: str, mode: str = "dry-run") -> AutoStart:
    rule = Rule(
        alert="HostCompromised",
        probe="ssh",
        metric="up",
        op="==",
        value=0,
        for_seconds=0,
        severity="critical",
        labels={},
        annotations={},
        runbook=RuleRunbook(name="isolate-host", auto=mode, params={"host": "{host}"}),
    )
    return AutoStart(rule, "fp-1", {"host": host}, mode, {"host": host}, dt.datetime.now(dt.UTC))


def test_an_alert_runbook_is_queued_linked_then_dispatched(app, store) -> None:
    linked: list[int] = []
    recording = RecordingDispatcher(store, lambda run: None)
    start = alert_runner(app.extensions["egov"], recording)
    run_id = start(auto_start("gd-school-1"), linked.append)
    assert linked == [run_id] and recording.submitted == [run_id]
    assert recording.status_when_submitted[run_id] == RunStatus.QUEUED
    with store.session() as session:
        run = session.get(Run, run_id)
        assert (run.trigger, run.actor, run.params["runbook"]) == ("alert", "alert:HostCompromised", "isolate-host")


def test_an_alert_runbook_naming_a_host_the_inventory_does_not_know_is_refused_before_any_run(app, store) -> None:
    recording = RecordingDispatcher(store, lambda run: None)
    start = alert_runner(app.extensions["egov"], recording)
    with pytest.raises(ScopeRefused, match="'no-such-host' is no host in your scope"):
        start(auto_start("no-such-host"), lambda run_id: None)
    assert recording.submitted == []
    with store.session() as session:
        assert session.query(Run).filter(Run.kind == "runbook").count() == 0
