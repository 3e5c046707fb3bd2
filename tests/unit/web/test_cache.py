"""The view cache: time-to-live, single flight, eviction, and a runs version that changes with every run."""

from __future__ import annotations

import threading
import time

import pytest

from controlplane.web.cache import ViewCache, runs_version


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_kept_for_its_time_to_live_then_computed_again() -> None:
    clock, calls = Clock(), []
    cache = ViewCache(ttl=5, clock=clock)
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get_or_compute("k", compute) == 1
    clock.now += 4.9
    assert cache.get_or_compute("k", compute) == 1
    clock.now += 0.2
    assert cache.get_or_compute("k", compute) == 2
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_oldest_entries_are_dropped_beyond_the_maximum() -> None:
    cache = ViewCache(ttl=60, max_entries=2)
    for key in ("a", "b", "c"):
        cache.get_or_compute(key, lambda key=key: key.upper())
    recomputed = []
    cache.get_or_compute("a", lambda: recomputed.append("a") or "A")
    cache.get_or_compute("c", lambda: recomputed.append("c") or "C")
    assert recomputed == ["a"]


def test_an_exception_reaches_the_caller_and_nothing_is_kept() -> None:
    cache = ViewCache(ttl=60)

    def broken() -> str:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError, match="database gone"):
        cache.get_or_compute("k", broken)
    assert cache.get_or_compute("k", lambda: "fine") == "fine"


def test_concurrent_misses_of_one_key_compute_it_once() -> None:
    cache = ViewCache(ttl=60)
    calls, results = [], []
    start = threading.Barrier(8)

    def slow() -> str:
        calls.append(1)
        time.sleep(0.2)
        return "answer"

    def client() -> None:
        start.wait()
        results.append(cache.get_or_compute("k", slow))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["answer"] * 8
    assert len(calls) == 1


def test_the_runs_version_changes_when_a_run_is_added_starts_and_ends(store) -> None:
    from controlplane.runs import claim_next, create_run, finish_run

    with store.session() as session:
        empty = runs_version(session)
        create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1", start=False)
    with store.session() as session:
        queued = runs_version(session)
        run = claim_next(session)
    with store.session() as session:
        running = runs_version(session)
    with store.session() as session:
        finish_run(session, session.merge(run), "succeeded")
    with store.session() as session:
        ended = runs_version(session)
    assert empty == (0, 0, 0)
    assert len({empty, queued, running, ended}) == 4


def test_while_one_caller_computes_a_new_version_the_others_get_the_previous_one_at_once() -> None:
    cache = ViewCache(ttl=60)
    assert cache.get_or_compute("k", lambda: "old", version=1) == "old"
    started, release = threading.Event(), threading.Event()

    def slow_new() -> str:
        started.set()
        release.wait(5)
        return "new"

    results: list[str] = []
    computing = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow_new, version=2)))
    computing.start()
    assert started.wait(5)
    waited = time.perf_counter()
    assert cache.get_or_compute("k", lambda: "never", version=2) == "old"  # not queued behind the computation
    assert time.perf_counter() - waited < 1
    release.set()
    computing.join()
    assert results == ["new"]
    assert cache.get_or_compute("k", lambda: "never", version=2) == "new"
    assert cache.stale == 1


def test_a_value_past_its_time_to_live_is_never_served_stale() -> None:
    clock = Clock()
    cache = ViewCache(ttl=5, clock=clock)
    cache.get_or_compute("k", lambda: "old", version=1)
    clock.now += 6
    assert cache.get_or_compute("k", lambda: "new", version=2) == "new"
