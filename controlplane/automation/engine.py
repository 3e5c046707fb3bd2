"""Running a playbook as a run: checks, locks, ansible-runner, events, cleanup.

One call of :func:`run_playbook` is one run row. Before anything starts it
resolves the host pattern through the control plane's inventory (so an
unknown pattern is bad input, exit 2, never an empty ansible run), checks the
group variables the playbooks need and runs ``ansible-playbook
--syntax-check``. Then, in order:

1. the run is created and every host it touches is locked (a host already in
   a run refuses the new one, naming the run);
2. ansible-runner starts in a thread, in a private 0700 temporary folder
   (``suppress_env_files``; the process environment is reduced to an allow
   list before ansible-runner writes its ``command`` artifact);
3. this thread drains the event queue: output lines go to the run (batched),
   per-host task results to ``host_task_results``, and an observer (the
   CLI's live display) sees each event; the store's ``cancel_requested`` flag
   is polled and handed to ansible-runner's cancel callback, which kills
   ansible's process group;
4. at the end the SSH masters of the run are closed (they detach from the
   process group, so killing the group does not reach them), the temporary
   folder is deleted, per-host stats and the final status are stored, the
   locks released and the run audited.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from controlplane import execute
from controlplane.automation import events, locks
from controlplane.automation.models import HostRunStats, HostTaskResult
from controlplane.automation.settings import (
    DEFAULT_TIMEOUT,
    PROFILES,
    RunSettings,
    filter_env,
    runner_kwargs,
    syntax_check_argv,
    syntax_check_env,
)
from controlplane.errors import BadInputError
from controlplane.runs import append_output, create_run, finish_run
from controlplane.store.models import Run, RunStatus

log = logging.getLogger(__name__)

PLAYBOOKS = {"provision": "provision.yml", "harden": "harden.yml"}
# Inventory variables each host (or role) must have: a playbook without them
# would guess, and a guessed management network can lock us out.
# Playbooks whose hosts never read another host's variables (they may run at their own pace).
INDEPENDENT_HOSTS = frozenset({"harden"})
REQUIRED_VARS: dict[str, tuple[str, ...]] = {"*": ("mgmt_network",), "portal": ("portal_vip",)}
FLUSH_SECONDS = 0.5
FLUSH_LINES = 500
CANCEL_POLL_SECONDS = 0.5
SYNTAX_CHECK_TIMEOUT = 120


@dataclass(frozen=True)
class PlaybookRequest:
    """What to run: kind (provision/harden), host pattern, flags, who asks."""

    kind: str
    limit: str | None = None
    check: bool = False
    diff: bool = False
    profile: str = "tuned"
    timeout: int = DEFAULT_TIMEOUT
    actor: str = "unknown@cli"
    trigger: str = "cli"
    tags: str | None = None

    @property
    def playbook(self) -> str:
        """The playbook file name for the kind."""
        return PLAYBOOKS[self.kind]


@dataclass
class PlaybookOutcome:
    """How a run ended: status, per-host tallies, every task result."""

    run_id: int
    status: str
    hosts: dict[str, events.HostTally]
    results: list[events.TaskResult] = field(default_factory=list)
    runner_status: str = ""
    rc: int | None = None
    duration: float = 0.0
    message: str = ""

    @property
    def exit_code(self) -> int:
        """CLI exit code: 0 every host fine, 1 any host failed/unreachable or the run failed."""
        return 0 if self.status == RunStatus.SUCCEEDED else 1

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as JSON-safe data (the CLI's ``--json``)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "runner_status": self.runner_status,
            "rc": self.rc,
            "duration_seconds": round(self.duration, 3),
            "message": self.message,
            "hosts": {name: tally.as_dict() for name, tally in sorted(self.hosts.items())},
            "changed": [r.as_dict() for r in self.results if r.status == "changed"],
            "failed": [r.as_dict() for r in self.results if r.status in ("failed", "unreachable")],
        }


class Observer:
    """Receives a run's progress as it happens (the CLI's live display overrides these)."""

    def started(self, run_id: int, hosts: list[str]) -> None:
        """The run exists and ansible is starting on these hosts."""

    def task_started(self, host: str, task: str) -> None:
        """A task began on a host."""

    def result(self, result: events.TaskResult) -> None:
        """A task finished on a host."""

    def line(self, text: str) -> None:
        """ansible printed a line."""

    def status(self, status: str) -> None:
        """ansible-runner's status changed (starting, running, successful...)."""


def resolve_hosts(config: Any, limit: str | None, inventory: Any = None) -> tuple[Any, list[Any]]:
    """Return (inventory, selected hosts) for a pattern; BadInputError if it matches nothing.

    Given the site Config, the pattern and optionally an inventory already
    loaded from ``config.inventory`` (the console keeps one).
    """
    from controlplane.inventory import load_inventory

    inventory = inventory if inventory is not None else load_inventory(config.inventory)
    hosts = inventory.select(limit or None)
    if not hosts:
        raise BadInputError(f"the inventory {config.inventory} has no hosts")
    return inventory, hosts


def missing_vars(hosts: list[Any]) -> list[str]:
    """Return one message per host lacking a variable of REQUIRED_VARS."""
    problems = []
    for host in hosts:
        needed = list(REQUIRED_VARS["*"]) + list(REQUIRED_VARS.get(host.role, ()))
        absent = [name for name in needed if host.variables.get(name) in (None, "")]
        if absent:
            problems.append(f"{host.name}: missing group var {', '.join(absent)}")
    return problems


def syntax_check(config: Any, playbook: Path, settings: RunSettings) -> None:
    """Run ``ansible-playbook --syntax-check``; raise BadInputError with its message when it fails."""
    result = execute.run(
        syntax_check_argv(playbook, config.inventory),
        tool="ansible-playbook",
        env=syntax_check_env(settings),
        cwd=str(playbook.parent),
        timeout=SYNTAX_CHECK_TIMEOUT,
    )
    if not result.ok:
        text = "\n".join(line for line in (result.stdout + result.stderr).splitlines() if line.strip())
        raise BadInputError(f"playbook {playbook} does not pass ansible's syntax check:\n{text[-3000:]}")


def _private_dir() -> Path:
    """A fresh 0700 folder for one run (short path: SSH control sockets live in it)."""
    folder = Path(tempfile.mkdtemp(prefix="egov-run-"))
    folder.chmod(0o700)
    (folder / "cp").mkdir(mode=0o700)
    return folder


def close_ssh_masters(control_dir: Path) -> int:
    """Ask every SSH master with a socket in ``control_dir`` to exit; return how many.

    ControlPersist masters detach into their own session, so they outlive a
    killed ansible; ``ssh -O exit`` on each socket ends them cleanly.
    """
    closed = 0
    if not control_dir.is_dir():
        return 0
    for sock in sorted(control_dir.iterdir()):
        result = execute.run(
            ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "egov-master"],
            tool="ssh",
            timeout=10,
        )
        closed += int(result.ok)
    return closed


def kill_leftovers(marker: str) -> list[int]:
    """Kill processes whose command line contains ``marker`` (this run's private folder).

    A last resort after cancel: the folder name is unique to the run, so only
    processes this run started can match. Returns the pids signalled.
    """
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), 9)
                killed.append(int(entry.name))
    return killed


def extra_vars(config: Any, request: PlaybookRequest, run_id: int) -> dict[str, Any]:
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
    # The backup center's site accounts are made by the backup engine's own program (one implementation).
    from controlplane.backup import center_setup

    values["egov_center_setup_program"] = str(Path(center_setup.__file__).resolve())
    return values


class _Pump:
    """Moves queued events into the store in batches and to the observer at once."""

    def __init__(self, store: Any, run_id: int, observer: Observer) -> None:
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


def common_site(inventory: Any, sites: set[str]) -> str | None:
    """The lowest site whose subtree holds every site of ``sites`` (None: only the whole network does).

    A run's site decides who sees it: a run over a province's hosts and its
    schools belongs to the province, so the province's operator sees it.
    """
    if not sites:
        return None
    first = sorted(sites)[0]
    chain: list[str] = []
    current: str | None = first
    while current is not None and current not in chain:
        chain.append(current)
        site = inventory.sites.get(current)
        current = site.parent if site is not None else None
    for candidate in chain:
        if sites <= inventory.site_and_descendants(candidate):
            return candidate
    return None


def prepare(config: Any, request: PlaybookRequest, inventory: Any = None) -> list[Any]:
    """Check a request before any run exists; return the inventory hosts it touches.

    Given the site Config and the request. Fast (no ansible process): the
    kind, profile and timeout, the host pattern, the group vars the playbooks
    need and the playbook file. Raises BadInputError naming the cause.
    """
    if request.kind not in PLAYBOOKS:
        raise BadInputError(f"unknown playbook kind {request.kind!r}: use {', '.join(PLAYBOOKS)}")
    if request.profile not in PROFILES:
        raise BadInputError(f"unknown profile {request.profile!r}: use {', '.join(PROFILES)}")
    if request.timeout <= 0:
        raise BadInputError("the timeout must be a positive number of seconds")
    _inventory, hosts = resolve_hosts(config, request.limit, inventory)
    problems = missing_vars(hosts)
    if problems:
        raise BadInputError(
            "the inventory lacks group vars the playbooks need (set them in inventory group_vars):\n  "
            + "\n  ".join(problems)
        )
    playbook = config.playbooks / request.playbook
    if not playbook.is_file():
        raise BadInputError(f"no playbook {playbook}")
    return hosts


def _settings(config: Any, private: Path, count: int, profile: str, kind: str = "") -> RunSettings:
    """The ansible settings of one run in its private folder."""
    return RunSettings(
        independent_hosts=kind in INDEPENDENT_HOSTS,
        private_key=config.ssh_key_file,
        known_hosts=config.ssh_known_hosts,
        control_path_dir=private / "cp",
        host_count=count,
        profile=profile,
        connect_timeout=max(config.ssh_connect_timeout, 5.0),
        user=config.ssh_user,
    )


def run_playbook(
    config: Any, store: Any, request: PlaybookRequest, observer: Observer | None = None
) -> PlaybookOutcome:
    """Run provision.yml or harden.yml on the hosts of a pattern, as one run.

    Given the site Config, an open Store, the request and an optional
    Observer. Returns the PlaybookOutcome. Raises BadInputError (exit 2) for
    an unknown kind, profile or host pattern, a missing group var or a
    playbook that fails the syntax check (all before a run exists);
    HostBusyError when a host is in another active run.
    """
    observer = observer or Observer()
    hosts = prepare(config, request)
    playbook = config.playbooks / request.playbook
    names = [host.name for host in hosts]
    private = _private_dir()
    try:
        settings = _settings(config, private, len(names), request.profile, request.kind)
        syntax_check(config, playbook, settings)
        run_id = _start_run(store, request, hosts)
        try:
            return _execute(config, store, request, names, run_id, private, settings, observer)
        except BaseException as error:
            _abort_run(store, run_id, error)
            raise
    finally:
        close_ssh_masters(private / "cp")
        kill_leftovers(str(private))
        shutil.rmtree(private, ignore_errors=True)


def begin_run(store: Any, request: PlaybookRequest, hosts: list[Any], site: str | None = None) -> int:
    """Create the run of a prepared request and lock its hosts; return the run id.

    For callers that answer at once and run the playbook in the background
    (the console): they call :func:`prepare`, this, then :func:`execute_run`.
    ``site`` overrides the run's site (default: the hosts' site when they
    share one). Raises HostBusyError (audited as refused) when a host is in
    another run.
    """
    return _start_run(store, request, hosts, site)


def execute_run(
    config: Any, store: Any, request: PlaybookRequest, run_id: int, hosts: list[Any], observer: Observer | None = None
) -> PlaybookOutcome:
    """Run the playbook of a run created by :func:`begin_run`, and finish it.

    The syntax check happens here: a playbook that fails it ends the run as
    failed with ansible's message in the output and the summary (the run
    exists already, so there is no exit 2 to give). Never raises for a failed
    run; re-raises unexpected errors after finishing the run as failed.
    """
    observer = observer or Observer()
    names = [host.name for host in hosts]
    private = _private_dir()
    try:
        settings = _settings(config, private, len(names), request.profile, request.kind)
        try:
            syntax_check(config, config.playbooks / request.playbook, settings)
        except BadInputError as error:
            return _refuse_started(store, request, run_id, names, error.message)
        try:
            return _execute(config, store, request, names, run_id, private, settings, observer)
        except BaseException as error:
            _abort_run(store, run_id, error)
            raise
    finally:
        close_ssh_masters(private / "cp")
        kill_leftovers(str(private))
        shutil.rmtree(private, ignore_errors=True)


def _refuse_started(
    store: Any, request: PlaybookRequest, run_id: int, names: list[str], message: str
) -> PlaybookOutcome:
    """End a created run as failed before ansible started (its output and summary name the cause)."""
    from controlplane import audit

    with store.session() as session:
        run = session.get(Run, run_id)
        assert run is not None  # noqa: S101 - created by begin_run
        append_output(session, run, message.splitlines() or [message])
        finish_run(session, run, RunStatus.FAILED, summary={"message": message[:4000], "hosts": {}})
        locks.release(session, run_id)
    audit.append(
        store,
        actor=request.actor,
        action=f"{request.kind}.{'check' if request.check else 'run'}",
        target=request.limit or "all",
        outcome=RunStatus.FAILED,
        client=request.trigger,
        details={"run_id": run_id, "hosts": len(names), "error": message[:500]},
        site=audit.run_site(store, run_id),
    )
    return PlaybookOutcome(run_id=run_id, status=RunStatus.FAILED, hosts={}, message=message)


def _start_run(store: Any, request: PlaybookRequest, hosts: list[Any], site: str | None = None) -> int:
    """Create the run and lock its hosts in one transaction; return the run id."""
    from controlplane import audit

    sites = sorted({host.site for host in hosts})
    names = [host.name for host in hosts]
    try:
        with store.session() as session:
            run = create_run(
                session,
                kind=request.kind,
                target=request.limit or "all",
                actor=request.actor,
                trigger=request.trigger,
                site=site or (sites[0] if len(sites) == 1 else None),
                params={
                    "limit": request.limit,
                    "hosts": names,
                    "check": request.check,
                    "diff": request.diff,
                    "profile": request.profile,
                    "timeout": request.timeout,
                    "tags": request.tags,
                },
                dry_run=request.check,
            )
            locks.acquire(session, run, names)
            run_id = run.id
    except locks.HostBusyError as error:
        audit.append(
            store,
            actor=request.actor,
            action=f"{request.kind}.refused",
            target=request.limit or "all",
            outcome="refused",
            client=request.trigger,
            details={"reason": error.message},
            site=site or (sites[0] if len(sites) == 1 else None),
        )
        raise
    return run_id


def _abort_run(store: Any, run_id: int, error: BaseException) -> None:
    """Finish a run that stopped on an exception, and release its hosts."""
    status = RunStatus.CANCELLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is not None and run.status in RunStatus.ACTIVE:
            message = getattr(error, "message", None) or type(error).__name__
            finish_run(session, run, status, summary={"error": str(message)[:2000]})
        locks.release(session, run_id)


def _execute(
    config: Any,
    store: Any,
    request: PlaybookRequest,
    names: list[str],
    run_id: int,
    private: Path,
    settings: RunSettings,
    observer: Observer,
) -> PlaybookOutcome:
    """Start ansible-runner and pump its events until it ends; store the outcome."""
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
    pump = _Pump(store, run_id, observer)
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
    return _finish(store, request, names, run_id, runner, pump, time.monotonic() - started)


def _finish(
    store: Any, request: PlaybookRequest, names: list[str], run_id: int, runner: Any, pump: _Pump, duration: float
) -> PlaybookOutcome:
    """Store per-host stats and the final status, release the hosts, audit the run."""
    from controlplane import audit

    tallies = events.tally(pump.results, names)
    runner_status = str(runner.status or "")
    rc = runner.rc if isinstance(runner.rc, int) else None
    status = events.run_status(tallies, runner_status, rc)
    message = ""
    if runner_status == "timeout":
        message = f"the run exceeded its timeout of {request.timeout} s and was stopped"
    elif runner_status == "canceled":
        message = "cancelled on request; ansible was stopped"
    elif rc not in (0, 2, 4, None):
        tail = [line for line in pump_tail(pump) if line.strip()]
        message = f"ansible-playbook ended with exit code {rc}" + (": " + " | ".join(tail[-5:]) if tail else "")
    summary = {
        "hosts": {name: tally.as_dict() for name, tally in tallies.items()},
        "totals": {
            key: sum(getattr(t, key) for t in tallies.values())
            for key in ("ok", "changed", "failed", "unreachable", "skipped")
        },
        "runner_status": runner_status,
        "rc": rc,
        "message": message,
    }
    with store.session() as session:
        for name, tally in tallies.items():
            session.add(
                HostRunStats(
                    run_id=run_id,
                    host=name,
                    ok=tally.ok,
                    changed=tally.changed,
                    failed=tally.failed,
                    unreachable=tally.unreachable,
                    skipped=tally.skipped,
                    outcome=tally.outcome,
                )
            )
        run = session.get(Run, run_id)
        assert run is not None  # noqa: S101 - created by this process
        finish_run(session, run, status, summary=summary, exit_code=rc)
        locks.release(session, run_id)
    audit.append(
        store,
        actor=request.actor,
        action=f"{request.kind}.{'check' if request.check else 'run'}",
        target=request.limit or "all",
        outcome=status,
        client=request.trigger,
        details={"run_id": run_id, "hosts": len(names), "totals": summary["totals"]},
        site=audit.run_site(store, run_id),
    )
    return PlaybookOutcome(
        run_id=run_id,
        status=status,
        hosts=tallies,
        results=pump.results,
        runner_status=runner_status,
        rc=rc,
        duration=duration,
        message=message,
    )


def pump_tail(pump: _Pump) -> list[str]:
    """The last output lines the run stored (for a message when ansible itself failed)."""
    from controlplane.runs import read_output

    with pump.store.session() as session:
        run = session.get(Run, pump.run_id)
        after = max(0, (run.output_lines if run else 0) - 20)
        return [line.text for line in read_output(session, pump.run_id, after=after)]


def cancel_run(store: Any, run_id: int) -> None:
    """Ask a running playbook run to stop (same as ``egov runs cancel``)."""
    from controlplane.runs import request_cancel

    with store.session() as session:
        request_cancel(session, run_id)
