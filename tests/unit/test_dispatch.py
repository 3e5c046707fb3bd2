"""The dispatcher: a created run goes in by id, one worker claims it, its kind's task carries it; none is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from controlplane import runs
from controlplane.dispatch import PoolDispatcher, Saturated
from controlplane.store.models import Run, RunStatus


def queued_run(store: Any, kind: str = "ping", target: str = "gd-school-1") -> int:
    with store.session() as session:
        return int(runs.create_run(session, kind=kind, target=target, actor="alice", start=False).id)


def final_run(store: Any, run_id: int, timeout: float = 10.0) -> Run:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as session:
            run = session.get(Run, run_id)
            if run.status in RunStatus.FINAL:
                session.expunge(run)
                return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not end")


def succeed(store: Any) -> Any:
    def task(run: Run) -> None:
        with store.session() as session:
            runs.finish_run(session, session.get(Run, run.id), RunStatus.SUCCEEDED, exit_code=0)

    return task


def test_a_submitted_run_is_claimed_by_this_process_and_carried_by_the_task_of_its_kind(store) -> None:
    seen: list[tuple[int, str, int | None]] = []

    def task(run: Run) -> None:
        seen.append((run.id, run.status, run.owner_pid))
        succeed(store)(run)

    dispatcher = PoolDispatcher(store, {"ping": task, "other": lambda run: None})
    run_id = queued_run(store)
    dispatcher.submit(run_id)
    assert final_run(store, run_id).status == RunStatus.SUCCEEDED
    import os

    assert seen == [(run_id, RunStatus.RUNNING, os.getpid())]
    dispatcher.close()


def test_a_task_that_raises_ends_its_run_failed_with_the_error(store, caplog) -> None:
    def task(run: Run) -> None:
        raise ValueError("the engine tripped")

    dispatcher = PoolDispatcher(store, {"ping": task})
    run_id = queued_run(store)
    dispatcher.submit(run_id)
    run = final_run(store, run_id)
    assert run.status == RunStatus.FAILED and run.exit_code == 1
    assert run.summary["error"] == "ValueError: the engine tripped"
    assert f"run {run_id} failed in its task" in caplog.text
    dispatcher.close()


def test_a_run_of_a_kind_no_task_executes_fails_naming_the_kind(store) -> None:
    dispatcher = PoolDispatcher(store, {"ping": succeed(store)})
    run_id = queued_run(store, kind="teleport")
    dispatcher.submit(run_id)
    run = final_run(store, run_id)
    assert run.status == RunStatus.FAILED and "'teleport'" in run.summary["error"]
    dispatcher.close()


def test_a_run_cancelled_while_it_waits_is_never_executed(store) -> None:
    gate, executed = threading.Event(), []

    def slow(run: Run) -> None:
        gate.wait(10)
        succeed(store)(run)

    def task(run: Run) -> None:
        executed.append(run.id)
        succeed(store)(run)

    dispatcher = PoolDispatcher(store, {"slow": slow, "ping": task}, workers=1)
    first, second = queued_run(store, kind="slow"), queued_run(store)
    dispatcher.submit(first)
    dispatcher.submit(second)
    with store.session() as session:
        runs.request_cancel(session, second)
    gate.set()
    assert final_run(store, first).status == RunStatus.SUCCEEDED
    assert final_run(store, second).status == RunStatus.CANCELLED
    dispatcher.close()
    assert executed == []


def test_a_full_dispatcher_refuses_the_run_and_records_it_failed(store) -> None:
    gate = threading.Event()
    dispatcher = PoolDispatcher(store, {"ping": lambda run: gate.wait(10)}, workers=1, backlog=1)
    held = [queued_run(store), queued_run(store)]
    for run_id in held:
        dispatcher.submit(run_id)
    refused = queued_run(store)
    with pytest.raises(Saturated, match="too many runs are waiting"):
        dispatcher.submit(refused)
    run = final_run(store, refused)
    assert run.status == RunStatus.FAILED and "too many runs" in run.summary["error"]
    gate.set()
    dispatcher.close()


def test_closing_marks_the_runs_that_never_started_interrupted_and_refuses_new_ones(store) -> None:
    gate = threading.Event()

    def slow(run: Run) -> None:
        gate.wait(10)
        succeed(store)(run)

    dispatcher = PoolDispatcher(store, {"ping": slow}, workers=1)
    running, waiting = queued_run(store), queued_run(store)
    dispatcher.submit(running)
    dispatcher.submit(waiting)
    threading.Timer(0.2, gate.set).start()
    assert dispatcher.close(timeout=10) == [waiting]
    assert final_run(store, waiting).status == RunStatus.INTERRUPTED
    assert final_run(store, running).status == RunStatus.SUCCEEDED
    late = queued_run(store)
    with pytest.raises(Saturated, match="stopping"):
        dispatcher.submit(late)
    assert final_run(store, late).status == RunStatus.FAILED


def test_a_queued_run_whose_dispatcher_died_is_marked_interrupted_and_an_unreserved_one_is_left(store, config) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from controlplane.config import load_config
        from controlplane.store import open_store
        from controlplane.runs import create_run, reserve
        store = open_store(load_config({str(config.source)!r}))
        with store.session() as session:
            run_id = create_run(session, kind="backup", target="db@h", actor="bob", start=False).id
            reserve(session, run_id)
        print(run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert child.returncode == -9, child.stderr
    lost = int(child.stdout.split()[0])
    unreserved = queued_run(store, kind="backup")
    with store.session() as session:
        assert runs.recover_interrupted(session) == [lost]
        assert session.get(Run, lost).status == RunStatus.INTERRUPTED
        assert session.get(Run, unreserved).status == RunStatus.QUEUED


def test_only_one_claim_of_a_run_wins(store) -> None:
    run_id = queued_run(store)
    with store.session() as session:
        first = runs.claim(session, run_id)
        second = runs.claim(session, run_id)
    assert first is not None and first.status == RunStatus.RUNNING
    assert second is None
