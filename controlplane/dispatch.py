"""One way to start background work: the run row first, then its id to a dispatcher.

Every action that runs in the background (a runbook, a playbook, a backup, a
simulated ping) is started the same way, wherever it comes from (console,
API, scheduler, an alert):

1. the caller checks the request and creates its run row, ``queued``, holding
   everything the work needs (kind, target, params, actor);
2. it hands the run id to :meth:`Dispatcher.submit` and answers at once;
3. a worker claims the run (a conditional UPDATE ``queued -> running``, so a
   run is executed once even when two workers see it), picks the task that
   executes runs of its kind from the table the composition root gave it,
   and calls it with the claimed run.

Only the run id crosses from the caller to the worker, so a dispatcher
backed by a distributed queue replaces :class:`PoolDispatcher` without any
caller changing. The task table is assembled where the process is assembled
(``egov serve``, the console's app factory): the core knows no engine.

No run is lost: a task that raises ends its run ``failed`` with the error;
a run still waiting in the queue when the process stops is marked
``interrupted``; a queued run whose dispatching process died is marked
``interrupted`` by :func:`controlplane.runs.recover_interrupted` the next
time a process opens the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Protocol

from controlplane.errors import EgovError
from controlplane.runs import claim, finish_run, reserve
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from controlplane.store import Store

log = logging.getLogger(__name__)

# A task executes one claimed run (status running, owned by this process) to its final state.
Task = Callable[[Run], None]
DEFAULT_WORKERS = 16
DEFAULT_BACKLOG = 256


class Saturated(EgovError):
    """The dispatcher holds as many runs as it may; the caller answers "try again" (the run is failed)."""


class Dispatcher(Protocol):
    """Where created runs go to be executed (one implementation per deployment shape)."""

    def submit(self, run_id: int) -> None:
        """Queue a created (``queued``) run for execution; raises Saturated when no more fit."""

    def close(self, timeout: float = 30.0) -> list[int]:
        """Stop taking runs; wait up to ``timeout`` for running ones; return the ids marked interrupted."""


class PoolDispatcher:
    """A bounded pool of worker threads in this process.

    ``workers`` runs execute at once; up to ``backlog`` more wait. The bound
    keeps a burst of requests from starting hundreds of threads (each run
    may hold an SSH connection or a restic process).
    """

    def __init__(
        self,
        store: Store,
        tasks: Mapping[str, Task],
        *,
        workers: int = DEFAULT_WORKERS,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        self.store = store
        self.tasks = dict(tasks)
        self.capacity = workers + backlog
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="egov-run")
        self._pending: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, run_id: int) -> None:
        """Queue a run; a refused one (saturated or closed) is ended ``failed`` so it never stays queued.

        Raises Saturated when the pool is full or stopping.
        """
        with self._lock:
            refused = self._closed or len(self._pending) >= self.capacity
            if not refused:
                with self.store.session() as session:
                    reserve(session, run_id)
                self._pending[run_id] = self._pool.submit(self._execute, run_id)
        if refused:
            why = "the control plane is stopping" if self._closed else "too many runs are waiting"
            self._end(run_id, RunStatus.FAILED, why)
            raise Saturated(f"run {run_id} not started: {why}; try again shortly")

    def _execute(self, run_id: int) -> None:
        try:
            with self.store.session() as session:
                run = claim(session, run_id)
            if run is None:  # cancelled while queued, or claimed by another worker: nothing to do
                return
            task = self.tasks.get(run.kind)
            if task is None:
                self._end(run_id, RunStatus.FAILED, f"no task executes runs of kind {run.kind!r}")
                return
            task(run)
        except BaseException as error:  # a task must never take its run down with it unrecorded
            log.exception("run %s failed in its task", run_id)
            message = error.message if isinstance(error, EgovError) else f"{type(error).__name__}: {error}"
            self._end(run_id, RunStatus.FAILED, message)
        finally:
            with self._lock:
                self._pending.pop(run_id, None)

    def _end(self, run_id: int, status: str, message: str) -> None:
        """Put a run that is not final yet into ``status`` with ``message`` as its error."""
        try:
            with self.store.session() as session:
                run = session.get(Run, run_id)
                if run is not None and run.status not in RunStatus.FINAL:
                    finish_run(session, run, status, summary={"error": message[:2000]}, exit_code=1)
        except Exception:  # the store itself failed: the log is all that is left
            log.exception("run %s could not be marked %s", run_id, status)

    def pending(self) -> int:
        """How many runs are queued or executing in this pool."""
        with self._lock:
            return len(self._pending)

    def close(self, timeout: float = 30.0) -> list[int]:
        """Refuse new runs, mark the never-started ones interrupted, wait for the running ones.

        A run still executing after ``timeout`` is left to its thread (its
        task ends it, or the next process marks it interrupted).
        """
        with self._lock:
            self._closed = True
            waiting = [run_id for run_id, future in self._pending.items() if future.cancel()]
            running = [future for run_id, future in self._pending.items() if run_id not in waiting]
            for run_id in waiting:
                self._pending.pop(run_id, None)
        for run_id in waiting:
            self._end(run_id, RunStatus.INTERRUPTED, "the control plane stopped before this run started")
        if running:
            wait(running, timeout=timeout)
        self._pool.shutdown(wait=False)
        return waiting
