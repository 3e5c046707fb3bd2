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
