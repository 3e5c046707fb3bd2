"""The leader lease: conditional UPDATEs on SQLite and PostgreSQL, electors that never lead together."""

from __future__ import annotations

import itertools
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.leader import Elector, Identity, read_lease, release, renew, take
from controlplane.store import Store, create_store_engine

_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated store on each backend, and a lease name no other test uses (the PostgreSQL server is shared)."""
    url = f"sqlite:///{tmp_path}/egov.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = Store(create_store_engine(url))
    store.upgrade()
    yield store, f"test-{request.node.name[:16]}-{next(_names)}"
    store.close()


def _identity(label: str) -> Identity:
    return Identity(host="test-host", pid=1, started=label, token=f"token-{label}")


def test_the_first_taker_inserts_the_lease_and_a_second_insert_fails(backend) -> None:
    store, name = backend
    assert read_lease(store, name) is None
    assert take(store, _identity("a"), 15, None, name)
    assert not take(store, _identity("b"), 15, None, name)
    state = read_lease(store, name)
    assert state is not None and (state.token, state.term, state.version) == ("token-a", 1, 1)


def test_only_the_holder_renews_and_a_renewal_defeats_a_takeover_of_what_was_seen(backend) -> None:
    store, name = backend
    a, b = _identity("a"), _identity("b")
    take(store, a, 15, None, name)
    seen = read_lease(store, name)
    assert not renew(store, b, 15, name)
    assert renew(store, a, 15, name)
    assert not take(store, b, 15, seen, name)  # the holder renewed after b looked: b's stale view loses
    assert take(store, b, 15, read_lease(store, name), name)
    assert not renew(store, a, 15, name)  # a learns it lost the lease
    state = read_lease(store, name)
    assert state is not None and state.token == "token-b" and state.term == 2


def test_a_released_lease_says_so_and_only_its_holder_can_release_it(backend) -> None:
    store, name = backend
    a, b = _identity("a"), _identity("b")
    take(store, a, 15, None, name)
    assert not release(store, b, name)
    assert release(store, a, name)
    state = read_lease(store, name)
    assert state is not None and state.released and state.as_dict()["state"] == "released"
    assert "token" not in state.as_dict()


class Duties:
    """Records when each elector leads (monotonic start, end) and checks nobody ever leads next to another."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: str | None = None
        self.spans: list[tuple[str, float, float | None]] = []
        self.overlaps: list[str] = []

    def callbacks(self, who: str) -> dict[str, object]:
        def elected(_term: int) -> None:
            with self.lock:
                if self.current is not None:
                    self.overlaps.append(f"{who} elected while {self.current} leads")
                self.current = who
                self.spans.append((who, time.monotonic(), None))

        def deposed(_reason: str) -> None:
            with self.lock:
                if self.current == who:
                    self.current = None
                index = max(i for i, span in enumerate(self.spans) if span[0] == who)
                self.spans[index] = (who, self.spans[index][1], time.monotonic())

        return {"on_elected": elected, "on_deposed": deposed}

    def leader(self) -> str | None:
        with self.lock:
            return self.current


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def _elector(store: Store, name: str, duties: Duties, who: str, lease: float = 0.9, renew_every: float = 0.3):
    return Elector(
        store, name=name, lease_seconds=lease, renew_seconds=renew_every, identity=_identity(who),
        **duties.callbacks(who),  # type: ignore[arg-type]
    )  # fmt: skip


def test_two_electors_never_lead_together_and_a_clean_stop_hands_over_at_once(backend) -> None:
    store, name = backend
    duties = Duties()
    first = _elector(store, name, duties, "first").start()
    assert _wait_for(lambda: duties.leader() == "first", 5)
    second = _elector(store, name, duties, "second").start()
    time.sleep(2.0)  # several lease periods: the holder keeps renewing, the other keeps waiting
    assert duties.leader() == "first" and not second.is_leader()
    stopped_at = time.monotonic()
    first.stop()
    assert _wait_for(lambda: duties.leader() == "second", 5)
    taken = next(start for who, start, _end in duties.spans if who == "second")
    assert taken - stopped_at < 0.9  # released: no need to wait out the lease (0.9 s)
    second.stop()
    assert duties.overlaps == []
    state = read_lease(store, name)
    assert state is not None and state.released and state.term == 2


def test_a_holder_that_cannot_renew_stops_before_anyone_may_take_over(tmp_path: Path) -> None:
    """The store is write-locked by someone else: the holder's renewals hang; it must step down on its own."""
    url = f"sqlite:///{tmp_path}/egov.db"
    holder_store, taker_store = Store(create_store_engine(url)), Store(create_store_engine(url))
    holder_store.upgrade()
    duties = Duties()
    lease, every = 0.9, 0.3
    holder = _elector(holder_store, "leader", duties, "holder", lease, every).start()
    assert _wait_for(lambda: duties.leader() == "holder", 5)
    taker = _elector(taker_store, "leader", duties, "taker", lease, every).start()
    blocker = sqlite3.connect(tmp_path / "egov.db", timeout=10)
    blocker.execute("BEGIN IMMEDIATE")  # every writer now waits: renewals and takeovers hang
    blocked_at = time.monotonic()
    try:
        assert _wait_for(lambda: duties.leader() is None, 3)
        deposed_at = duties.spans[0][2]
        assert deposed_at is not None and deposed_at - blocked_at < lease  # fenced before its lease could end
        time.sleep(2 * lease)
    finally:
        blocker.rollback()
        blocker.close()
    assert _wait_for(lambda: duties.leader() is not None, 5)  # someone leads again once the store is free
    taker.stop()
    holder.stop()
    holder_store.close()
    taker_store.close()
    assert duties.overlaps == []
    ends = [(start, end) for _who, start, end in duties.spans]
    assert all(end is not None for _start, end in ends)
    assert all(a_end <= b_start for (_s, a_end), (b_start, _e) in itertools.pairwise(ends))  # type: ignore[operator]


def test_a_dead_holder_on_this_machine_is_replaced_without_waiting_out_its_lease(backend) -> None:
    store, name = backend
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = Identity(host=socket.gethostname(), pid=gone.pid, started="0", token="token-dead")
    take(store, dead, 3600, None, name)  # a lease that would last an hour
    duties = Duties()
    began = time.monotonic()
    elector = _elector(store, name, duties, "heir").start()
    assert _wait_for(lambda: duties.leader() == "heir", 5)
    assert duties.spans[0][1] - began < 0.9
    elector.stop()


def test_a_lease_must_last_at_least_three_renewals(backend) -> None:
    store, name = backend
    with pytest.raises(ValueError, match="three renewals"):
        Elector(store, name=name, lease_seconds=2, renew_seconds=1, on_elected=print, on_deposed=print)
