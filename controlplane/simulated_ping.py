"""The simulated ping: a real process with live output, that touches nothing.

The console needs an action an operator can start to see runs, live output,
cancel and the audit trail work end to end, without sending a packet or
changing a host. A ``ping`` run starts the local Python interpreter (through
:mod:`controlplane.execute`, argv only) with a fixed script that prints ten
"simulated reply" lines a fraction of a second apart; the host name is only
printed. Each line goes to the run's output in its own transaction, so the
console's event stream sees it at once.

It is started like every run (:mod:`controlplane.dispatch`): the console
creates the run and the dispatcher calls :meth:`SimulatedPing.execute` with
it. Cancel: a watchdog thread polls the run's ``cancel_requested`` flag and
stops the process group; :meth:`SimulatedPing.shutdown` stops every child
and its run ends interrupted.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controlplane import execute
from controlplane.runs import append_output, finish_run
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from controlplane.store import Store

log = logging.getLogger(__name__)
KIND = "ping"
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


@dataclass
class _Active:
    process: subprocess.Popen[bytes] | None = None
    cancelled: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class SimulatedPing:
    """Executes ``ping`` runs (the dispatcher's task for that kind) and stops them all on shutdown."""

    def __init__(self, store: Store, interval: float = 0.3, poll: float = 0.3) -> None:
        self.store = store
        self.interval = interval
        self.poll = poll
        self._active: dict[int, _Active] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def active_count(self) -> int:
        """Return how many pings are executing now (the console refuses more than MAX_ACTIVE)."""
        with self._lock:
            return len(self._active)

    def execute(self, run: Run) -> None:
        """Execute a claimed ping run to its final state (blocks the calling worker until it ends)."""
        run_id, host_name = run.id, str((run.params or {}).get("host") or run.target)
        entry = _Active()
        with self._lock:
            self._active[run_id] = entry
        status, exit_code, lines = RunStatus.FAILED, None, 0
        try:
            if self._stopping:
                status = RunStatus.INTERRUPTED
                return
            process = execute.start(
                ping_argv(host_name, self.interval), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            entry.process = process
            threading.Thread(target=self._watch, args=(run_id, entry), daemon=True).start()
            assert process.stdout is not None  # noqa: S101 - set by PIPE above
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                with self.store.session() as session:
                    row = session.get(Run, run_id)
                    if row is not None:
                        append_output(session, row, [line])
                lines += 1
            exit_code = process.wait()
            entry.stop.set()
            if entry.cancelled:
                status = RunStatus.CANCELLED
            elif self._stopping:
                status = RunStatus.INTERRUPTED
            elif exit_code == 0:
                status = RunStatus.SUCCEEDED
        except Exception:  # the run must still end in a final state
            log.exception("simulated ping run %s failed", run_id)
        finally:
            entry.stop.set()
            with self.store.session() as session:
                row = session.get(Run, run_id)
                if row is not None and row.status not in RunStatus.FINAL:
                    finish_run(
                        session,
                        row,
                        status,
                        summary={"simulated": True, "lines": lines, "network": "none"},
                        exit_code=exit_code,
                    )
            with self._lock:
                self._active.pop(run_id, None)
            entry.done.set()

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
        """Stop every active ping (they end interrupted) and wait for them to be recorded."""
        with self._lock:
            self._stopping = True
            entries = list(self._active.values())
        for entry in entries:
            if entry.process is not None:
                execute.kill_group(entry.process, grace=2.0)
        for entry in entries:
            entry.done.wait(timeout)
