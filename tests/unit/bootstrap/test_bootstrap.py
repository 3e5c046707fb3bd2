"""The bootstrap's order of work on a real store: one run, steps in order, stop at a failure, record what succeeded.

The steps themselves are the engines' (proven on the lab by
tests/integration/test_shipped_site.py); here they are replaced by steps that
only say how they went, to pin the orchestration: what is recorded, what the
run shows, what a second bootstrap does.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import controlplane.bootstrap as bootstrap_module
from controlplane.bootstrap import ledger
from controlplane.bootstrap.steps import Reporter, StepResult
from controlplane.errors import EgovError
from controlplane.runs import create_run, read_output
from controlplane.store.models import Run

LAB = ledger.LabIdentity(disks="d1", boot="b1")


class Lines(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


class Done(list[str]):
    """The steps run, in order; a step named in ``failing`` fails."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Done:
    """Every step succeeds (and is listed as it runs) unless its name is in ``failing``."""
    done = Done()
    failing = done.failing

    def runner(name: str) -> Any:
        def run(work: Any) -> StepResult:
            done.append(name)
            return StepResult(name not in failing, f"{name} said so", [len(done)])

        return run

    monkeypatch.setattr(ledger, "lab_identity", lambda config: LAB)
    monkeypatch.setattr(bootstrap_module, "RUNNERS", {name: runner(name) for name in ledger.STEPS})
    return done


def test_a_fresh_lab_gets_every_step_in_order_as_one_run_with_its_progress(config: Any, store: Any, steps) -> None:
    watcher = Lines()
    outcome = bootstrap_module.bootstrap(config, store, actor="t@cli", reporter=watcher)
    assert outcome.ok and steps == list(ledger.STEPS) and outcome.skipped == []
    with store.session() as session:
        run = session.get(Run, outcome.run_id)
        assert (run.kind, run.status, run.exit_code) == ("bootstrap", "succeeded", 0)
        stored = [line.text for line in read_output(session, run.id)]
    assert stored == watcher.lines
    assert stored[1] == "maintenance window 1 while it runs: alerts silenced, budgets spared"
    assert stored[2].startswith("[1/7] provision (egov provision)")
    assert re.fullmatch(r"\[7/7\] scan: ok in \d+ s: scan said so", stored[-1]), stored[-1]


def test_a_second_bootstrap_does_nothing_and_starts_no_run(config: Any, store: Any, steps) -> None:
    bootstrap_module.bootstrap(config, store, actor="t@cli", reporter=Lines())
    steps.clear()
    again = bootstrap_module.bootstrap(config, store, actor="t@cli", reporter=Lines())
    assert again.run_id is None and steps == [] and again.skipped == list(ledger.STEPS)


def test_a_failing_step_stops_the_bootstrap_and_only_the_steps_before_it_are_recorded(
    config: Any, store: Any, steps
) -> None:
    steps.failing.add("backup")
    outcome = bootstrap_module.bootstrap(config, store, actor="t@cli", reporter=Lines())
    assert not outcome.ok and steps == ["provision", "backup-setup", "harden", "backup"]
    with store.session() as session:
        assert session.get(Run, outcome.run_id).status == "failed"
    assert ledger.pending(ledger.load_record(store), LAB) == ["backup", "copy", "drill", "scan"]
    steps.failing.clear()
    steps.clear()
    resumed = bootstrap_module.bootstrap(config, store, actor="t@cli", reporter=Lines())
    assert resumed.ok and steps == ["backup", "copy", "drill", "scan"]


def test_a_bootstrap_refuses_while_another_one_runs(config: Any, store: Any, steps) -> None:
    with store.session() as session:
        other = create_run(session, kind="bootstrap", target="lab", actor="someone@cli").id
    with pytest.raises(EgovError, match=f"bootstrap run {other} is in progress"):
        bootstrap_module.bootstrap(config, store, actor="t@cli", reporter=Lines())
    assert steps == []


def test_the_steps_run_inside_a_maintenance_window_over_the_top_site_ended_when_the_bootstrap_ends(
    config: Any, store: Any, steps
) -> None:
    from controlplane.slo.models import MaintenanceWindow

    seen: list[tuple[str, Any]] = []

    def open_windows() -> list[tuple[str, Any]]:
        with store.session() as session:
            return [(row.site, row.ended_at) for row in session.query(MaintenanceWindow).all()]

    outcome = bootstrap_module.bootstrap(
        config, store, actor="t@cli", reporter=Lines(), on_start=lambda: seen.extend(open_windows())
    )
    assert outcome.ok
    assert seen == [("ministry", None)]  # in force when the first step starts (the administrator is offered then)
    ((site, ended),) = open_windows()
    assert site == "ministry" and ended is not None
