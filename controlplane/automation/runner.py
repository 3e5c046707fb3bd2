"""ansible-runner driven in a thread, its events pumped into the store and to an observer.

:func:`run_ansible` starts ansible-runner on a run's private folder and,
on the calling thread, drains the event queue: output lines go to the run
(batched: at most every FLUSH_SECONDS or FLUSH_LINES), per-host task
results to ``host_task_results``, and the observer sees each event at once.
Each flush also reads the run's ``cancel_requested`` flag and hands it to
ansible-runner's cancel callback, which kills ansible's process group.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controlplane import providers
from controlplane.automation import events
from controlplane.automation.models import HostTaskResult
from controlplane.automation.playbook import Observer, PlaybookRequest
from controlplane.automation.settings import RunSettings, filter_env, runner_kwargs
from controlplane.runs import append_output
from controlplane.store.models import Run

if TYPE_CHECKING:
    from ansible_runner import Runner

    from controlplane.config import Config
    from controlplane.store import Store

FLUSH_SECONDS = 0.5
FLUSH_LINES = 500
CANCEL_POLL_SECONDS = 0.5


def extra_vars(config: Config, request: PlaybookRequest, run_id: int) -> dict[str, Any]:
    """Variables the control plane hands every playbook (no secrets)."""
    from controlplane.tools import find_tool

    values: dict[str, Any] = {
        "egov_run_id": run_id,
        "egov_profile": request.profile,
        # The lab's host folders: handlers of lab services ask the host's init
        # (on this machine) to start or restart a service.
        "egov_lab_hosts_dir": str(config.lab_dir / "hosts"),
        "egov_gather_subset": ["min"] if request.profile == "tuned" else ["all"],
    }
    pubkey = Path(f"{config.ssh_key_file}.pub")
    if pubkey.is_file():
        values["egov_mgmt_pubkey"] = str(pubkey)
    restic = find_tool("restic")
    if restic:
        values["egov_restic_binary"] = restic
    # Other engines' programs (the backup center's account set-up), as the composition root provided them.
    values.update(providers.playbook_variables())
    # The network's boundary rulesets and the hosts' data-plane places (network.yml; nothing without it).
    values.update(providers.network_variables(config))
    return values


class EventPump:
    """Moves queued events into the store in batches and to the observer at once."""

    def __init__(self, store: Store, run_id: int, observer: Observer) -> None:
        self.store, self.run_id, self.observer = store, run_id, observer
        self.lines: list[str] = []
        self.pending: list[events.TaskResult] = []
        self.results: list[events.TaskResult] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.last_flush = time.monotonic()

    def take(self, item: tuple[str, Any]) -> None:
        kind, payload = item
        if kind == "status":
            self.observer.status(payload)
            return
        event = payload
        for text in events.event_lines(event):
            self.lines.append(text)
            self.observer.line(text)
        started = events.running_task(event)
        if started:
            self.observer.task_started(*started)
        result = events.task_result(event)
        if result is not None:
            self.pending.append(result)
            self.results.append(result)
            self.observer.result(result)
        stats = events.stats_hosts(event)
        if stats is not None:
            self.stats = stats

    def due(self) -> bool:
        return len(self.lines) >= FLUSH_LINES or time.monotonic() - self.last_flush >= FLUSH_SECONDS

    def flush(self) -> bool:
        """Write pending lines and results; return whether cancel was requested."""
        with self.store.session() as session:
            run = session.get(Run, self.run_id)
            assert run is not None  # noqa: S101 - created by this process
            if self.lines:
                append_output(session, run, self.lines)
            for result in self.pending:
                session.add(
                    HostTaskResult(
                        run_id=self.run_id,
                        host=result.host,
                        task=result.task,
                        role=result.role,
                        status=result.status,
                        changed=result.changed,
                        controls=list(result.controls),
                        message=result.message,
                    )
                )
            cancel = bool(session.scalar(select(Run.cancel_requested).where(Run.id == self.run_id)))
        self.lines, self.pending = [], []
        self.last_flush = time.monotonic()
        return cancel


def pump_tail(pump: EventPump) -> list[str]:
    """The last output lines the run stored (for a message when ansible itself failed)."""
    from controlplane.runs import read_output

    with pump.store.session() as session:
        run = session.get(Run, pump.run_id)
        after = max(0, (run.output_lines if run else 0) - 20)
        return [line.text for line in read_output(session, pump.run_id, after=after)]


def run_ansible(
    config: Config,
    store: Store,
    request: PlaybookRequest,
    names: list[str],
    run_id: int,
    private: Path,
    settings: RunSettings,
    observer: Observer,
) -> tuple[Runner, EventPump, float]:
    """Start ansible-runner and pump its events until it ends; return (runner, pump, seconds taken).

    Ctrl-C on the CLI cancels like ``egov runs cancel`` and lets ansible
    finish cleanly before returning.
    """
    from ansible_runner.interface import init_runner

    items: queue.Queue[tuple[str, Any]] = queue.Queue()
    cancel = threading.Event()

    def on_event(event: dict[str, Any]) -> bool:
        items.put(("event", event))
        return False  # nothing written to the artifact folder: the store has it

    def on_status(data: dict[str, Any], runner_config: Any = None) -> None:
        items.put(("status", str(data.get("status", ""))))

    def cancel_requested() -> bool:
        return cancel.is_set()

    kwargs = runner_kwargs(
        private_data_dir=private,
        project_dir=config.playbooks,
        playbook=request.playbook,
        inventory=config.inventory,
        limit=names,
        settings=settings,
        check=request.check,
        diff=request.diff,
        extravars=extra_vars(config, request, run_id),
        timeout=request.timeout,
        tags=request.tags,
    )
    runner = init_runner(
        **kwargs,
        settings={"pexpect_timeout": CANCEL_POLL_SECONDS},
        event_handler=on_event,
        status_handler=on_status,
        cancel_callback=cancel_requested,
    )
    # ansible-runner copied the whole process environment; keep the allow list.
    runner.config.env = filter_env(runner.config.env, {})
    observer.started(run_id, names)
    started = time.monotonic()
    thread = threading.Thread(target=runner.run, name=f"ansible-run-{run_id}", daemon=True)
    pump = EventPump(store, run_id, observer)
    thread.start()
    try:
        while thread.is_alive() or not items.empty():
            with contextlib.suppress(queue.Empty):
                pump.take(items.get(timeout=0.1))
            if pump.due() and pump.flush():
                cancel.set()
    except KeyboardInterrupt:
        # Ctrl-C on the CLI: cancel like `egov runs cancel`, then finish cleanly.
        cancel.set()
        thread.join()
        while not items.empty():
            pump.take(items.get_nowait())
    thread.join()
    pump.flush()
    return runner, pump, time.monotonic() - started
