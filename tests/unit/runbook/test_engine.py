"""The runbook engine with fake hosts: phases, rollback, modes, approvals, locks, journal exports."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from controlplane.errors import BadInputError
from controlplane.runbook import approvals, engine, locks
from controlplane.runbook.adapters import Adapters, AuditNotifier, HostResult, UnavailableBackup
from controlplane.runbook.definition import Param, Probe, Runbook, RunbookDefinitionError, Step
from controlplane.runbook.export import export
from controlplane.runbook.journal import read_journal
from controlplane.runbook.loader import get_runbook, load_runbooks

REPO = Path(__file__).resolve().parents[3]


class FakeHosts:
    """A HostRunner that records argv and answers exit 0."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def run(self, host: Any, argv: list[str], *, timeout: float, input_text: str | None = None) -> HostResult:
        self.calls.append((host.name, list(argv)))
        return HostResult(host.name, list(argv), 0, stdout="ok\n")

    def close(self) -> None:
        pass


class NoPlaybooks:
    def unavailable(self) -> str | None:
        return "not in unit tests"

    def run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("no playbooks here")


@pytest.fixture
def inventory(config: Any) -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(config.inventory)


@pytest.fixture
def hosts() -> FakeHosts:
    return FakeHosts()


@pytest.fixture
def adapters(store: Any, hosts: FakeHosts) -> Adapters:
    return Adapters(
        hosts=hosts, backup=UnavailableBackup("unit tests"), notifier=AuditNotifier(store, "t"), playbooks=NoPlaybooks()
    )


def book(*steps: Step, **overrides: Any) -> Runbook:
    """A small runbook on mn-db-1 with the given steps."""
    fields: dict[str, Any] = {
        "name": "test-book",
        "title": "Test",
        "title_zh": "测试",
        "description": "a runbook for tests",
        "severity": "low",
        "rto_objective": 10,
        "params": [Param("host", "host", default="mn-db-1")],
        "targets": lambda p: [p["host"]],
        "steps": list(steps),
    }
    fields.update(overrides)
    return Runbook(**fields)


def touch(name: str) -> Step:
    """A step running `touch NAME` with a rollback running `rm NAME`."""
    return Step(
        name,
        lambda ctx: ctx.run(ctx.params["host"], ["touch", name]),
        rollback=lambda ctx: ctx.run(ctx.params["host"], ["rm", name]),
    )


def run(
    config: Any, store: Any, inventory: Any, adapters: Adapters, runbook: Runbook, mode: str = "drill", **kwargs: Any
) -> engine.Result:
    return engine.execute(
        config, store, inventory, runbook, mode=mode, actor=kwargs.pop("actor", "alice"), adapters=adapters, **kwargs
    )


def test_a_failed_step_rolls_the_completed_steps_back_in_reverse_order(config, store, inventory, adapters, hosts):
    failing = Step("c", lambda ctx: ctx.fail("boom"), rollback=lambda ctx: ctx.run("mn-db-1", ["never"]))
    result = run(config, store, inventory, adapters, book(touch("a"), touch("b"), failing), mode="run", confirmed=True)
    assert result.status == "failed" and "boom" in (result.error or "")
    assert [argv for _host, argv in hosts.calls] == [["touch", "a"], ["touch", "b"], ["rm", "b"], ["rm", "a"]]
    journal = read_journal(store, result.run_id)
    assert journal["run"]["summary"]["rolled_back"] == ["b", "a"]


def test_a_drill_undoes_the_method_and_measures_the_rto(config, store, inventory, adapters, hosts):
    result = run(config, store, inventory, adapters, book(touch("a"), touch("b")))
    assert result.status == "succeeded"
    assert [argv for _host, argv in hosts.calls] == [["touch", "a"], ["touch", "b"], ["rm", "b"], ["rm", "a"]]
    assert 0 <= result.figures["rto_seconds"] < 10 and result.figures["rto_met"] is True
    journal = read_journal(store, result.run_id)
    assert journal["run"]["params"]["drill"] is True
    assert [e["phase"] for e in journal["entries"]].count("drill-restore") == 2


def test_a_dry_run_calls_no_host_and_records_the_plan(config, store, inventory, adapters, hosts):
    result = run(config, store, inventory, adapters, book(touch("a")), mode="dry-run")
    assert result.status == "succeeded" and hosts.calls == []
    journal = read_journal(store, result.run_id)
    method = next(e for e in journal["entries"] if e["phase"] == "method")
    assert method["status"] == "planned" and method["output"] == ["would run on mn-db-1: touch a"]
    assert locks.holders(store) == []


def test_the_steady_state_must_hold_before_anything_changes(config, store, inventory, adapters, hosts):
    broken = book(touch("a"), steady_state=[Probe("never holds", lambda ctx: False)])
    result = run(config, store, inventory, adapters, broken)
    assert result.status == "failed" and "nothing was changed" in (result.error or "")
    assert hosts.calls == []


def test_retries_are_journalled_as_attempts(config, store, inventory, adapters):
    tries: list[int] = []

    def flaky(ctx: Any) -> None:
        tries.append(1)
        if len(tries) < 3:
            ctx.fail("not yet")

    result = run(config, store, inventory, adapters, book(Step("flaky", flaky, retries=2, retry_delay=0)))
    assert result.status == "succeeded"
    entries = [e for e in read_journal(store, result.run_id)["entries"] if e["phase"] == "method"]
    assert [(e["attempt"], e["status"]) for e in entries] == [(1, "failed"), (2, "failed"), (3, "succeeded")]


def test_a_step_past_its_timeout_fails_and_is_rolled_back(config, store, inventory, adapters):
    slow = Step("slow", lambda ctx: time.sleep(3), timeout=0.2)
    started = time.monotonic()
    result = run(config, store, inventory, adapters, book(touch("a"), slow))
    assert result.status == "failed" and "timed out after 0.2 s" in (result.error or "")
    assert time.monotonic() - started < 2.5


def test_a_real_run_needs_confirmation_and_a_drill_needs_drill_targets(config, store, inventory, adapters):
    with pytest.raises(BadInputError, match="--yes"):
        run(config, store, inventory, adapters, book(touch("a")), mode="run")
    production = dataclasses.replace(inventory, variables={})
    with pytest.raises(BadInputError, match="not drill targets"):
        run(config, store, production, adapters, book(touch("a")), mode="drill")


def test_a_critical_runbook_needs_a_second_person_to_approve_the_same_parameters(config, store, inventory, adapters):
    critical = book(touch("a"), severity="critical", approvals_required=2)
    with pytest.raises(BadInputError, match="second approver"):
        run(config, store, inventory, adapters, critical, mode="run", confirmed=True)
    approvals.approve(store, runbook="test-book", params={"host": "mn-db-1"}, approver="alice")
    with pytest.raises(BadInputError, match="second approver"):  # one's own approval does not count
        run(config, store, inventory, adapters, critical, mode="run", confirmed=True)
    approvals.approve(store, runbook="test-book", params={"host": "mn-oa-1"}, approver="bob")
    with pytest.raises(BadInputError, match="second approver"):  # other parameters
        run(config, store, inventory, adapters, critical, mode="run", confirmed=True)
    approvals.approve(store, runbook="test-book", params={"host": "mn-db-1"}, approver="bob")
    result = run(config, store, inventory, adapters, critical, mode="run", confirmed=True)
    assert result.status == "succeeded"
    assert read_journal(store, result.run_id)["run"]["summary"]["approved_by"] == "bob"
    with pytest.raises(BadInputError, match="second approver"):  # an approval is used once
        run(config, store, inventory, adapters, critical, mode="run", confirmed=True)


def test_a_second_runbook_on_a_held_target_is_refused_naming_the_holder(config, store, inventory, adapters):
    inside = threading.Event()
    release = threading.Event()

    def hold(ctx: Any) -> None:
        inside.set()
        release.wait(10)

    outcome: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: outcome.setdefault("r", run(config, store, inventory, adapters, book(Step("hold", hold))))
    )
    first.start()
    assert inside.wait(10)
    try:
        with pytest.raises(
            locks.TargetBusy, match=r"mn-db-1 is held by runbook test-book \(run 1, running\) started by alice"
        ):
            run(config, store, inventory, adapters, book(touch("a"), name="other-book"), actor="bob")
    finally:
        release.set()
        first.join(10)
    assert outcome["r"].status == "succeeded"
    assert locks.holders(store) == []


def test_cancel_stops_the_run_and_rolls_back(config, store, inventory, adapters, hosts):
    from controlplane.runs import request_cancel

    def wait_forever(ctx: Any) -> None:
        ctx.wait_until("never", lambda: False, timeout=20, interval=0.05)

    def cancel(run_id: int) -> None:
        def later() -> None:
            time.sleep(0.5)
            with store.session() as session:
                request_cancel(session, run_id)

        threading.Thread(target=later, daemon=True).start()

    result = run(
        config, store, inventory, adapters, book(touch("a"), Step("wait", wait_forever, timeout=30)), on_run=cancel
    )
    assert result.status == "cancelled"
    assert hosts.calls[-1] == ("mn-db-1", ["rm", "a"])


def test_parameters_are_typed_and_every_problem_is_reported_at_once(config, store, inventory, adapters):
    typed = book(
        touch("a"),
        params=[Param("host", "host", default="mn-db-1"), Param("count", "int", default=1), Param("need", "str")],
    )
    with pytest.raises(BadInputError) as caught:
        run(config, store, inventory, adapters, typed, params={"host": "nope", "count": "x", "extra": "1"})
    message = caught.value.message
    assert "unknown parameter(s) extra" in message and "count='x'" in message
    assert "need: required" in message and "unknown host 'nope'" in message


def test_a_runbook_definition_with_mistakes_is_refused_when_it_loads() -> None:
    with pytest.raises(RunbookDefinitionError, match="severity"):
        book(touch("a"), severity="urgent")
    with pytest.raises(RunbookDefinitionError, match="duplicate step"):
        book(touch("a"), touch("a"))
    with pytest.raises(RunbookDefinitionError, match="at least one step"):
        book()


def test_a_runbook_file_that_fails_to_load_is_listed_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("RUNBOOK = None\nraise RuntimeError('oops')\n", encoding="utf-8")
    (tmp_path / "syntax.py").write_text("def (:\n", encoding="utf-8")
    (tmp_path / "empty.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "_helper.py").write_text("raise SystemExit\n", encoding="utf-8")
    loaded = {item.name: item for item in load_runbooks(tmp_path)}
    assert sorted(loaded) == ["broken", "empty", "syntax"]
    assert loaded["broken"].error == "RuntimeError (line 2): oops"
    assert loaded["syntax"].error.startswith("syntax error (line 1)")
    assert "does not define RUNBOOK" in loaded["empty"].error
    with pytest.raises(BadInputError, match="does not load: RuntimeError"):
        get_runbook(tmp_path, "broken")


def test_every_shipped_runbook_loads() -> None:
    loaded = load_runbooks(REPO / "runbooks")
    assert {item.name: item.error for item in loaded} == {
        "backup-center-failover": None,
        "failback-portal": None,
        "failover-portal": None,
        "isolate-host": None,
        "recover-controlplane": None,
        "restore-to-dr": None,
    }
    for item in loaded:
        assert item.runbook is not None and item.runbook.title_zh


def test_a_missing_backup_engine_fails_the_step_with_what_is_missing(config, store, inventory, adapters):
    restore = Step(
        "restore",
        lambda ctx: ctx.restore("d", source_host="mn-db-1", target_host="dr-app-1", restore_dir="/srv/restore/d"),
    )
    result = run(config, store, inventory, adapters, book(restore))
    assert result.status == "failed"
    assert result.error == "restore: backup engine unavailable: unit tests"


def test_the_journal_exports_as_json_markdown_and_escaped_html(config, store, inventory, adapters):
    step = Step("<script>alert(1)</script>", lambda ctx: ctx.log("a | b <b>"))
    result = run(config, store, inventory, adapters, book(step))
    journal = read_journal(store, result.run_id)
    assert '"runbook": "test-book"' in export(journal, "json")
    markdown = export(journal, "md")
    assert "| runbook | test-book |" in markdown and "RTO" in markdown
    page = export(journal, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page and "a | b &lt;b&gt;" in page
    with pytest.raises(ValueError, match="unknown journal format"):
        export(journal, "pdf")
