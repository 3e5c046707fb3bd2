"""Runs: lifecycle, output, claiming by conditional UPDATE, crash recovery."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from controlplane import runs
from controlplane.errors import BadInputError
from controlplane.store.models import Run, RunStatus


def test_a_run_goes_from_running_to_a_final_state_with_output(store) -> None:
    with store.session() as session:
        run = runs.create_run(session, kind="ping", target="mn-portal-1", actor="alice", site="ministry")
        assert run.status == RunStatus.RUNNING and run.owner_pid
        runs.append_output(session, run, ["one", "two\x00three"])
        runs.append_output(session, run, ["four"])
        runs.finish_run(session, run, RunStatus.SUCCEEDED, summary={"hosts": 1}, exit_code=0)
        run_id = run.id
    with store.session() as session:
        lines = runs.read_output(session, run_id, after=1)
        assert [line.seq for line in lines] == [2, 3]
        assert lines[0].text == "two\\0three"
        assert session.get(Run, run_id).summary == {"hosts": 1}


def test_a_final_status_is_required_to_finish(store) -> None:
    with store.session() as session:
        run = runs.create_run(session, kind="x", target="t", actor="a")
        with pytest.raises(BadInputError):
            runs.finish_run(session, run, RunStatus.RUNNING)


def test_only_one_claim_wins_a_queued_run(store) -> None:
    with store.session() as session:
        queued = runs.create_run(session, kind="backup", target="db", actor="scheduler", start=False)
        queued_id = queued.id
    with store.session() as first, store.session() as second:
        claimed = runs.claim_next(first)
        assert claimed is not None and claimed.id == queued_id
        first.commit()
        assert runs.claim_next(second) is None


def test_a_queued_run_cancels_at_once_and_a_running_one_is_asked(store) -> None:
    with store.session() as session:
        queued = runs.create_run(session, kind="x", target="t", actor="a", start=False)
        running = runs.create_run(session, kind="x", target="t", actor="a")
        assert runs.request_cancel(session, queued.id).status == RunStatus.CANCELLED
        assert runs.request_cancel(session, running.id).cancel_requested
        with pytest.raises(BadInputError):
            runs.request_cancel(session, queued.id)


def test_a_run_whose_process_was_killed_becomes_interrupted(config, store) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from controlplane.config import load_config
        from controlplane.store import open_store
        from controlplane.runs import create_run
        store = open_store(load_config({str(config.source)!r}))
        with store.session() as session:
            run = create_run(session, kind="provision", target="all", actor="bob")
        print(run.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert child.returncode == -9, child.stderr
    run_id = int(child.stdout.split()[0])
    with store.session() as session:
        assert session.get(Run, run_id).status == RunStatus.RUNNING
        assert runs.recover_interrupted(session) == [run_id]
        assert session.get(Run, run_id).status == RunStatus.INTERRUPTED


def test_a_run_of_a_live_process_is_left_running(store) -> None:
    with store.session() as session:
        run = runs.create_run(session, kind="x", target="t", actor="a")
        assert runs.recover_interrupted(session) == []
        assert run.status == RunStatus.RUNNING
