"""A short-lived cache for the console's busiest fragments (dashboard, hosts, run counts).

Why: with a thousand hosts and a hundred thousand runs, working out "the
latest run of every host in scope" and rendering a hundred sites costs tens of
milliseconds of Python, and waitress serves every request in one process (one
GIL): twenty people refreshing the dashboard would queue behind each other.
Most refreshes see the same answer, so each answer is kept for a few seconds.

Freshness: every key carries the store's *runs version* (the newest run id
and the number of queued and running runs, three index lookups). A new run,
a run starting or a run finishing changes the version, so the next request
recomputes at once; the time-to-live only bounds what the version cannot see
(an inventory edit, a run moving between two final states). Concurrent misses
of one key compute it once (single flight): the request that finds the
change computes the new answer, and requests arriving while it does get the
previous answer at once (older by at most that computation), which is what
keeps a busy network's stream of new runs from queueing every page behind
a recomputation.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import current_app, render_template
from flask_babel import get_locale
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.store.models import Run, RunStatus

T = TypeVar("T")
DEFAULT_TTL_SECONDS = 5.0
DEFAULT_MAX_ENTRIES = 512
EXTENSION = "egov_view_cache"


class ViewCache:
    """A thread-safe map of key → (version, value, expiry) with single-flight computation.

    Bounded by ``max_entries`` (the oldest are dropped first) so memory stays
    bounded however many users and filters ask; ``clock`` is for tests.

    A value is fresh while its version is the caller's and its time is not
    up. When it is not, one caller computes the new value; callers that
    arrive *while* that computation runs get the previous value at once
    (stale by at most the computation's duration) instead of queueing behind
    it, unless that value has outlived its time-to-live.
    """

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = self.misses = self.stale = 0

    def _lookup(self, key: Hashable, version: Hashable) -> tuple[str, Any]:
        """Return ("fresh", value), ("stale", value) for a live older version, or ("none", None)."""
        entry = self._entries.get(key)
        if entry is None or entry[2] <= self.clock():
            return "none", None
        self._entries.move_to_end(key)
        return ("fresh" if entry[0] == version else "stale"), entry[1]

    def get_or_compute(self, key: Hashable, compute: Callable[[], T], version: Hashable = None) -> T:
        """Return the value of ``key`` for ``version``, computing, keeping and returning it when needed.

        ``compute`` is called at most once at a time per key; an exception it
        raises reaches the caller and nothing is kept.
        """
        with self._lock:
            state, value = self._lookup(key, version)
            if state == "fresh":
                self.hits += 1
                return value  # type: ignore[no-any-return]
            if state == "stale" and key in self._computing:
                self.stale += 1
                return value  # type: ignore[no-any-return]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:  # another thread may have filled it while we waited
                state, value = self._lookup(key, version)
                if state == "fresh":
                    self.hits += 1
                    return value  # type: ignore[no-any-return]
                self._computing[key] = key_lock
                self.misses += 1
            try:
                value = compute()
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            with self._lock:
                self._entries[key] = (version, value, self.clock() + self.ttl)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every entry (tests; an inventory reload)."""
        with self._lock:
            self._entries.clear()


def runs_version(session: Session) -> tuple[int, int, int]:
    """Return (newest run id, queued runs, running runs): changes whenever a run is added, starts or ends.

    One statement of three index lookups (the primary key and the status index).
    """

    def active(status: str) -> Any:
        return select(func.count()).select_from(Run).where(Run.status == status).scalar_subquery()

    newest, queued, running = session.execute(
        select(select(func.max(Run.id)).scalar_subquery(), active(RunStatus.QUEUED), active(RunStatus.RUNNING))
    ).one()
    return int(newest or 0), int(queued or 0), int(running or 0)


def view_cache() -> ViewCache:
    """Return the application's ViewCache (made on first use, one per app)."""
    cache = current_app.extensions.get(EXTENSION)
    if cache is None:
        ttl = float(current_app.config.get("EGOV_VIEW_CACHE_SECONDS", DEFAULT_TTL_SECONDS))
        cache = current_app.extensions.setdefault(EXTENSION, ViewCache(ttl=ttl))
    return cache  # type: ignore[no-any-return]


def cached(session: Session, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Return ``compute()``, kept for the current runs version under ``key`` (scope, filters...)."""
    if current_app.config.get("EGOV_VIEW_CACHE_SECONDS", DEFAULT_TTL_SECONDS) <= 0:
        return compute()
    return view_cache().get_or_compute(key, compute, version=runs_version(session))


def cached_fragment(
    session: Session, key: tuple[Any, ...], template: str, context: Callable[[], dict[str, Any]]
) -> Markup:
    """Return ``template`` rendered with ``context()``, kept per key, language and runs version.

    The fragment must not depend on the user beyond what ``key`` names (the
    scope): no CSRF token, no user name — those stay in the page around it.
    """

    def render() -> Markup:
        # The output of an autoescaping template: already safe HTML.
        return Markup(render_template(template, **context()))  # noqa: S704

    return cached(session, ("fragment", template, str(get_locale()), *key), render)
