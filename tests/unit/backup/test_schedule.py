"""Scheduled backup jobs while ``egov bootstrap`` builds the lab: skipped, never a failed run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from controlplane import scheduler
from controlplane.backup import schedule
from controlplane.runs import create_run, finish_run
from controlplane.store.models import Run


@pytest.fixture
def scheduled(config: Any, store: Any) -> Any:
    """This process's scheduler context (store and config), as ``egov serve`` sets it."""
    schedule.configure(config)
    with scheduler._context_lock:
        scheduler._context["store"] = store
    yield store
    with scheduler._context_lock:
        scheduler._context.pop("store", None)


def _runs(store: Any, kind: str) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Run).where(Run.kind == kind)))


@pytest.mark.parametrize("kind", ["backup", "check", "prune", "drill", "copy"])
def test_a_job_due_while_a_bootstrap_runs_is_skipped_and_leaves_no_failed_run(scheduled: Any, kind: str) -> None:
    with scheduled.session() as session:
        building = create_run(session, kind="bootstrap", target="lab", actor="root@cli").id
    result = schedule.run_job(kind, "portal-content", "mn-portal-1")
    assert result == {"run_id": None, "status": "skipped", "message": f"bootstrap run {building} is in progress"}
    assert _runs(scheduled, kind) == 0


def test_once_the_bootstrap_ended_the_job_runs_again(scheduled: Any) -> None:
    with scheduled.session() as session:
        run = create_run(session, kind="bootstrap", target="lab", actor="root@cli")
        finish_run(session, run, "succeeded")
    # No lab here: the backup runs and fails on the unreachable host, as any scheduled backup would.
    result = schedule.run_job("backup", "controlplane-keys", "controlplane")
    assert result["run_id"] is not None and _runs(scheduled, "backup") == 1


class Noting:
    """A dispatcher that notes the run ids it is given (nothing executes)."""

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, run_id: int) -> None:
        self.submitted.append(run_id)

    def close(self, timeout: float = 30.0) -> list[int]:
        return []


@pytest.fixture
def dispatched(scheduled: Any) -> Any:
    """The scheduler context of ``egov serve``: a dispatcher the jobs hand their runs to."""
    noting = Noting()
    with scheduler._context_lock:
        scheduler._context["dispatcher"] = noting
    yield noting
    with scheduler._context_lock:
        scheduler._context.pop("dispatcher", None)


def test_under_egov_serve_a_scheduled_backup_is_a_queued_run_given_to_the_dispatcher(scheduled, dispatched) -> None:
    result = schedule.run_job("backup", "portal-content", "mn-portal-1")
    assert result["status"] == "queued" and dispatched.submitted == [result["run_id"]]
    with scheduled.session() as session:
        run = session.get(Run, result["run_id"])
        assert (run.status, run.kind, run.target, run.trigger) == (
            "queued",
            "backup",
            "portal-content@mn-portal-1",
            "schedule",
        )


def test_a_scheduled_operation_still_active_on_its_unit_is_not_queued_twice(scheduled, dispatched) -> None:
    first = schedule.run_job("backup", "portal-content", "mn-portal-1")
    second = schedule.run_job("backup", "portal-content", "mn-portal-1")
    assert second == {
        "run_id": None,
        "status": "skipped",
        "message": f"run {first['run_id']} of portal-content@mn-portal-1 is still active",
    }
    assert dispatched.submitted == [first["run_id"]] and _runs(scheduled, "backup") == 1
