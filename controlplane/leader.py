"""One leader among processes on one store: a lease row, taken and renewed with conditional UPDATEs.

Two ``egov serve`` processes on one store (a second console, a restart that
overlaps the old process) must not both run the scheduled jobs and probe.
Exactly one holds the lease ``leader`` (a row of ``leader_leases``) and runs
the scheduler and the monitor; the others serve the console and watch.

The protocol (the same SQL on SQLite and PostgreSQL):

- **Renew.** The holder, every ``renew_seconds``:
  ``UPDATE ... SET version = version + 1 WHERE name = :n AND token = :mine``.
  One row: still ours. None: someone took it; step down at once.
- **Watch and take over.** Any other process reads the row every
  ``renew_seconds``. When the row's ``version`` stays the same for
  ``lease_seconds`` of *its own* monotonic clock, counted from the first read
  that saw it, the holder has not renewed for that long:
  ``UPDATE ... SET token = :mine, term = term + 1 ... WHERE name = :n AND
  version = :seen`` takes it, and fails if the holder renewed meanwhile. A
  released lease (token "") or one whose holder is a dead process on this
  machine (pid and pid start time, as runs are judged) is taken at once; a
  missing row is inserted (a second insert fails on the primary key).
- **Fencing.** The holder counts its lease from the moment it *began* its
  last successful renewal and acts as leader only until ``lease_seconds -
  renew_seconds`` after it: past that deadline, even while a renewal hangs
  in the database, it stops its scheduler and monitor (:meth:`Elector.is_leader`
  turns false at once and gates every job and every monitor step). A taker
  moves no earlier than ``lease_seconds`` after a read that followed that
  renewal's commit, so the old holder has stopped ``renew_seconds`` before.

Clock assumption: only each process's own monotonic clock is used, never a
comparison of two machines' wall clocks (``expires_at`` is shown, not
trusted). What must hold is that clocks *run* at the same rate within a
small fraction over one lease (NTP-disciplined or not, true of any sane
machine) and that a stopped process (SIGSTOP, a VM pause) checks its
deadline before acting again, which every job and monitor step does.

Takeover time after the holder dies (kill -9, power cut): at most
``lease_seconds + renew_seconds`` (20 s by default), plus one read; at once
after a clean stop (the lease is released) or for a dead holder on the same
machine. A job already running when its process loses the lease runs to its
end (a backup keeps its repository lock): losing the lease only keeps new
jobs and monitor steps from starting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from controlplane.lease import LEADER, Identity, LeaseState, describe, read_lease, release, renew, take

if TYPE_CHECKING:
    from controlplane.store import Store

__all__ = [
    "LEADER",
    "STOPPING",
    "Elector",
    "Identity",
    "LeaseState",
    "describe",
    "read_lease",
    "release",
    "renew",
    "take",
]
log = logging.getLogger(__name__)
STOPPING = "this process is stopping"  # the reason on_deposed gets from Elector.stop
FENCE_POLL_SECONDS = 0.1
_T = TypeVar("_T")


class Elector:
    """Keeps contending for one lease in a thread; runs ``on_elected`` / ``on_deposed`` as it wins and loses it.

    The lease must last at least three renewals. The two callbacks run in a
    thread of their own (a scheduler that takes seconds to start must not
    delay a renewal), one at a time: ``on_elected`` gets the term, ``on_deposed`` the reason.
    ``clock`` is the monotonic clock (tests inject one). Costs one small read
    or UPDATE per ``renew_seconds`` and a clock check per ``FENCE_POLL_SECONDS``.

    Two flags: *holding* (the row carries our token as far as we know: keep
    renewing it) and *leading* (within the deadline: the gate is open). The
    fence clears *leading* at the deadline while a renewal hangs; a renewal
    that then succeeds (the row still ours, so nobody took over) leads again.
    """

    def __init__(
        self,
        store: Store,
        *,
        lease_seconds: float,
        renew_seconds: float,
        on_elected: Callable[[int], None],
        on_deposed: Callable[[str], None],
        name: str = LEADER,
        identity: Identity | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_seconds < 3 * renew_seconds:
            raise ValueError("a lease must last at least three renewals")
        self.store, self.name = store, name
        self.lease_seconds, self.renew_seconds = lease_seconds, renew_seconds
        self.on_elected, self.on_deposed = on_elected, on_deposed
        self.me = identity or Identity.current()
        self.clock = clock
        self.term = 0
        self._holding = False
        self._leading = False
        self._stopping = False
        self._deadline = 0.0
        self._seen: tuple[int, float] | None = None  # (version, clock when first seen) of another's lease
        self._lock = threading.Lock()
        # What the duty thread is asked to be (generation of the election, or None: deposed) and what it is.
        self._duty = threading.Condition(self._lock)
        self._wanted: int | None = None
        self._serving: int | None = None
        self._generation = 0
        self._reason = ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- what callers ask -------------------------------------------------
    def is_leader(self) -> bool:
        """True while this process holds the lease and is inside its fencing deadline."""
        return self._leading and self.clock() < self._deadline

    def start(self) -> Elector:
        """Start contending, fencing and the duty thread; return self."""
        for target, label in (
            (self._run, "egov-leader"),
            (self._fence, "egov-leader-fence"),
            (self._duties, "egov-leader-duties"),
        ):
            thread = threading.Thread(target=target, name=label, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the duties while the lease is still renewed, then stop contending and release the lease.

        Waits as long as the duties take to stop (a scheduler waits for its
        running job), then up to ``max(30 s, lease)`` for the threads.
        """
        with self._lock:
            self._stopping = True  # no election from now on
            self._depose_locked(STOPPING)
            while self._serving is not None and any(t.is_alive() for t in self._threads):
                self._duty.wait(1.0)
        self._stop.set()
        with self._lock:
            self._duty.notify_all()
        for thread in self._threads:
            thread.join(timeout=max(30.0, self.lease_seconds))
        try:
            if self._holding and release(self.store, self.me, self.name):
                log.info(
                    "leader: released the lease %s (term %d) at monotonic %.3f", self.name, self.term, time.monotonic()
                )
        except SQLAlchemyError as error:
            log.warning("leader: could not release the lease %s: %s", self.name, error)
        self._holding = False

    # -- the elector thread -------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            began = self.clock()
            try:
                retry_soon = self._renew(began) if self._holding else self._contend(began)
            except SQLAlchemyError as error:  # store busy or unreachable: try again; the fence keeps us safe
                log.warning("leader: lease %s not reachable: %s", self.name, error)
                retry_soon = True
            self._stop.wait(max(0.0, self._next_wake(began, retry_soon) - self.clock()))

    def _next_wake(self, began: float, retry_soon: bool) -> float:
        wake = began + (self.renew_seconds / 4 if retry_soon else self.renew_seconds)
        if not self._holding and self._seen is not None:
            wake = min(wake, self._seen[1] + self.lease_seconds)  # take over the moment it is due
        return wake

    def _renew(self, began: float) -> bool:
        if not renew(self.store, self.me, self.lease_seconds, self.name):
            with self._lock:
                self._holding = False
                self._depose_locked("another process took the lease")
            return False
        with self._lock:
            self._deadline = began + self.lease_seconds - self.renew_seconds
            if not self._leading and not self._stopping:  # the fence stopped us, yet nobody took over
                self._elect_locked()
        return False

    def _contend(self, began: float) -> bool:
        if self._stopping:
            return False
        state = read_lease(self.store, self.name)
        seen_at = self.clock()  # after the read: the version we saw was written before this moment
        if state is not None and not (state.released or state.token == self.me.token or state.holder_dead_here()):
            if self._seen is None or self._seen[0] != state.version:
                self._seen = (state.version, seen_at)  # the holder renewed (or a new one took it): start again
                return False
            if seen_at - self._seen[1] < self.lease_seconds:
                return False
        if not take(self.store, self.me, self.lease_seconds, state, self.name):
            return False
        with self._lock:
            self._holding, self._seen = True, None
            self._deadline = began + self.lease_seconds - self.renew_seconds
            self.term = (state.term if state is not None else 0) + 1
            if not self._stopping:
                self._elect_locked()
        return False

    def _elect_locked(self) -> None:
        self._leading = True
        self._generation += 1
        self._wanted = self._generation
        log.info(
            "leader: holding the lease %s (term %d, pid %d) at monotonic %.3f",
            self.name, self.term, self.me.pid, time.monotonic(),
        )  # fmt: skip
        self._duty.notify_all()

    def _depose_locked(self, reason: str) -> None:
        """Leave leadership: the gate closes at once, the duty thread stops the duties."""
        if self._leading:
            log.info("leader: stepped down from term %d (%s) at monotonic %.3f", self.term, reason, time.monotonic())
        self._leading = False
        self._wanted, self._reason = None, reason
        self._duty.notify_all()

    # -- the fence ------------------------------------------------------------
    def _fence(self) -> None:
        while not self._stop.is_set():
            if self._leading and self.clock() >= self._deadline:
                with self._lock:
                    if self._leading and self.clock() >= self._deadline:
                        self._depose_locked("the lease could not be renewed in time")
            self._stop.wait(FENCE_POLL_SECONDS)

    # -- the duty thread ------------------------------------------------------
    def _duties(self) -> None:
        """Bring the duties to what the elector wants: stop the old generation's, start the new one's."""
        while True:
            with self._lock:
                while self._wanted == self._serving and not self._stop.is_set():
                    self._duty.wait()
                if self._stop.is_set() and self._serving is None:
                    return
                wanted, serving, reason, term = self._wanted, self._serving, self._reason, self.term
            if serving is not None:  # deposed, or elected anew (the gate closed in between): stop first
                self._call(self.on_deposed, reason if wanted is None else "elected again", "stopping")
            if wanted is not None and not self._call(self.on_elected, term, "starting"):
                with self._lock:  # duties that cannot start must not sit on a lease nobody serves
                    self._depose_locked("the leader's duties failed to start")
                try:
                    self._holding = not release(self.store, self.me, self.name)
                except SQLAlchemyError as error:
                    log.warning("leader: could not release the lease %s: %s", self.name, error)
                wanted = None
            with self._lock:
                self._serving = wanted
                self._duty.notify_all()

    def _call(self, callback: Callable[[_T], None], argument: _T, doing: str) -> bool:
        try:
            callback(argument)
        except Exception:
            log.exception("leader: %s the leader's duties failed", doing)
            return False
        return True
