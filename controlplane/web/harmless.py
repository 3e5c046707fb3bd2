"""The harmless run: a real process with live output, that touches nothing.

The console needs an action an operator can start to see runs, live output,
cancel and the audit trail work end to end, without sending a packet or
changing a host. A ``ping`` run starts the local Python interpreter (through
:mod:`controlplane.execute`, argv only) with a fixed script that prints ten
"simulated reply" lines a fraction of a second apart; the host name is only
printed. Each line goes to the run's output in its own transaction, so the
console's event stream sees it at once.

Cancel: a watchdog thread polls the run's ``cancel_requested`` flag and stops
the process group; shutdown of the console stops every child and marks its
run interrupted.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from controlplane import execute
from controlplane.runs import append_output, finish_run
from controlplane.store.models import Run, RunStatus

# Fixed program text: nothing from a request is ever part of it.
PING_SCRIPT = (
    "import sys, time\n"
    "pause, host = float(sys.argv[1]), sys.argv[2]\n"
    "for i in range(1, 11):\n"
    "    print(f'simulated reply {i}/10 from {host}: no packet sent', flush=True)\n"
    "    time.sleep(pause)\n"
)
MAX_ACTIVE = 8


def ping_argv(host_name: str, interval: float) -> list[str]:
    """Return the argv of a harmless ping run for a host (isolated interpreter, fixed script)."""
    return [sys.executable, "-I", "-c", PING_SCRIPT, f"{interval:.3f}", host_name]


class TooManyRuns(Exception):
    """More harmless runs are active than this process allows."""


@dataclass
class _Active:
    thread: threading.Thread
    process: subprocess.Popen[bytes] | None = None
    cancelled: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


class HarmlessRunner:
    """Executes harmless runs in background threads of the console process."""

    def __init__(self, store: Any, interval: float = 0.3, poll: float = 0.3) -> None:
        self.store = store
        self.interval = interval
        self.poll = poll
        self._active: dict[int, _Active] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def active_count(self) -> int:
        """Return how many runs are executing now."""
        with self._lock:
            return len(self._active)

    def start(self, run_id: int, host_name: str) -> None:
        """Execute the (already created, running) run in a background thread.

        Raises TooManyRuns when MAX_ACTIVE runs are executing already.
        """
        with self._lock:
            if self._stopping or len(self._active) >= MAX_ACTIVE:
                raise TooManyRuns
            thread = threading.Thread(
                target=self._work, args=(run_id, host_name), name=f"egov-run-{run_id}", daemon=True
            )
            self._active[run_id] = _Active(thread)
        thread.start()

    def _work(self, run_id: int, host_name: str) -> None:
        entry = self._active[run_id]
        status, exit_code, lines = RunStatus.FAILED, None, 0
        try:
            process = execute.start(
                ping_argv(host_name, self.interval), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            entry.process = process
            watchdog = threading.Thread(target=self._watch, args=(run_id, entry), daemon=True)
            watchdog.start()
            assert process.stdout is not None  # noqa: S101 - set by PIPE above
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                with self.store.session() as session:
                    run = session.get(Run, run_id)
                    if run is not None:
                        append_output(session, run, [line])
                lines += 1
            exit_code = process.wait()
            entry.stop.set()
            if entry.cancelled:
                status = RunStatus.CANCELLED
            elif self._stopping:
                status = RunStatus.INTERRUPTED
            elif execute.outcome_for("default", exit_code) == execute.Outcome.OK:
                status = RunStatus.SUCCEEDED
        except Exception:  # the run must still end in a final state
            import logging

            logging.getLogger(__name__).exception("harmless run %s failed", run_id)
        finally:
            entry.stop.set()
            with self.store.session() as session:
                run = session.get(Run, run_id)
                if run is not None and run.status not in RunStatus.FINAL:
                    finish_run(
                        session,
                        run,
                        status,
                        summary={"simulated": True, "lines": lines, "network": "none"},
                        exit_code=exit_code,
                    )
            with self._lock:
                self._active.pop(run_id, None)

    def _watch(self, run_id: int, entry: _Active) -> None:
        """Stop the process when the run's cancel flag is set or the console shuts down."""
        while not entry.stop.wait(self.poll):
            with self.store.session() as session:
                run = session.get(Run, run_id)
                wanted = run is not None and run.cancel_requested
            if wanted or self._stopping:
                entry.cancelled = bool(wanted)
                if entry.process is not None:
                    execute.kill_group(entry.process, grace=2.0)
                return

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every active run (they end interrupted) and wait for the threads."""
        with self._lock:
            self._stopping = True
            entries = list(self._active.values())
        for entry in entries:
            if entry.process is not None:
                execute.kill_group(entry.process, grace=2.0)
        for entry in entries:
            entry.thread.join(timeout)
