"""Per-host locks: one run per host, stale locks released, a clear refusal."""

from __future__ import annotations

import pytest

from controlplane.automation import locks
from controlplane.automation.models import HostLock
from controlplane.runs import create_run, finish_run
from controlplane.store.models import RunStatus


def test_a_second_run_on_a_busy_host_is_refused_naming_the_run(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        first = create_run(session, kind="harden", target="all", actor="alice@cli")
        locks.acquire(session, first, ["mn-portal-1", "mn-oa-1"])
        first_id = first.id
    with store.session() as session:
        second = create_run(session, kind="provision", target="mn-oa-1", actor="bob@cli")
        with pytest.raises(locks.HostBusyError) as caught:
            locks.acquire(session, second, ["mn-oa-1", "gd-school-1"])
    assert f"run {first_id}" in caught.value.message
    assert "mn-oa-1" in caught.value.message and "harden by alice@cli" in caught.value.message
    assert "gd-school-1" not in caught.value.message


def test_runs_on_different_hosts_do_not_block_each_other(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        locks.acquire(session, create_run(session, kind="harden", target="a", actor="a"), ["mn-portal-1"])
        locks.acquire(session, create_run(session, kind="harden", target="b", actor="b"), ["mn-portal-2"])
        assert session.query(HostLock).count() == 2


def test_locks_of_finished_or_interrupted_runs_are_released(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        old = create_run(session, kind="harden", target="all", actor="a")
        locks.acquire(session, old, ["mn-portal-1"])
        finish_run(session, old, RunStatus.INTERRUPTED)
    with store.session() as session:
        new = create_run(session, kind="harden", target="all", actor="b")
        locks.acquire(session, new, ["mn-portal-1"])
        assert session.get(HostLock, "mn-portal-1").run_id == new.id  # type: ignore[union-attr]


def test_release_frees_every_host_of_a_run(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        run = create_run(session, kind="harden", target="all", actor="a")
        locks.acquire(session, run, ["h1", "h2", "h3"])
        assert locks.release(session, run.id) == 3
        assert session.query(HostLock).count() == 0
