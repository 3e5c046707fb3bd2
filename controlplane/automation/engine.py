"""Running a playbook as a run: checks, locks, ansible-runner, events, clean-up.

One call of :func:`run_playbook` is one run row. Before anything starts it
checks the request (:mod:`.preflight`: the host pattern through the control
plane's inventory, so an unknown pattern is bad input, exit 2, never an
empty ansible run; the group variables the playbooks need; ``ansible-playbook
--syntax-check``). Then, in order:

1. the run is created and every host it touches is locked (a host already in
   a run refuses the new one, naming the run);
2. ansible-runner starts in a thread, in a private 0700 folder
   (:mod:`.workspace`; the process environment is reduced to an allow list
   before ansible-runner writes its ``command`` artifact);
3. this thread drains the event queue (:mod:`.runner`): output lines go to
   the run, per-host task results to ``host_task_results``, an observer (the
   CLI's live display) sees each event, and a cancel request stops ansible;
4. at the end per-host stats and the final status are stored, the locks
   released and the run audited; the workspace then closes the run's SSH
   masters (they detach from the process group, so killing the group does
   not reach them), kills leftovers and deletes the folder.

The console creates the run itself (:func:`prepare`, :func:`begin_run`) and
runs it in the background with :func:`execute_run`. This module keeps the
run's lifecycle; the names of the other modules stay importable from here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from controlplane.automation import events, locks
from controlplane.automation.certify import certify_provisioned
from controlplane.automation.exitcodes import ansible_failed
from controlplane.automation.models import HostRunStats
from controlplane.automation.playbook import (
    INDEPENDENT_HOSTS,
    PLAYBOOKS,
    Observer,
    PlaybookOutcome,
    PlaybookRequest,
)
from controlplane.automation.preflight import (
    REQUIRED_VARS,
    SYNTAX_CHECK_TIMEOUT,
    common_site,
    missing_vars,
    prepare,
    resolve_hosts,
    syntax_check,
)
from controlplane.automation.runner import (
    CANCEL_POLL_SECONDS,
    FLUSH_LINES,
    FLUSH_SECONDS,
    EventPump,
    extra_vars,
    pump_tail,
    run_ansible,
)
from controlplane.automation.settings import RunSettings
from controlplane.automation.workspace import close_ssh_masters, kill_leftovers, private_workspace
from controlplane.errors import BadInputError
from controlplane.runs import append_output, create_run, finish_run
from controlplane.ssh.trust import openssh_trust_files
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from ansible_runner import Runner

    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.store import Store

__all__ = [
    "CANCEL_POLL_SECONDS",
    "FLUSH_LINES",
    "FLUSH_SECONDS",
    "INDEPENDENT_HOSTS",
    "PLAYBOOKS",
    "REQUIRED_VARS",
    "SYNTAX_CHECK_TIMEOUT",
    "EventPump",
    "Observer",
    "PlaybookOutcome",
    "PlaybookRequest",
    "begin_run",
    "cancel_run",
    "close_ssh_masters",
    "common_site",
    "execute_run",
    "extra_vars",
    "kill_leftovers",
    "missing_vars",
    "prepare",
    "pump_tail",
    "resolve_hosts",
    "run_playbook",
    "syntax_check",
]


def _settings(config: Config, private: Path, count: int, profile: str, kind: str = "") -> RunSettings:
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
        **openssh_trust_files(config),
    )


def run_playbook(
    config: Config, store: Store, request: PlaybookRequest, observer: Observer | None = None
) -> PlaybookOutcome:
    """Run provision.yml or harden.yml on the hosts of a pattern, as one run.

    Returns the PlaybookOutcome. Raises BadInputError (exit 2) for an unknown
    kind, profile or host pattern, a missing group var or a playbook that
    fails the syntax check (all before a run exists); HostBusyError when a
    host is in another active run.
    """
    observer = observer or Observer()
    hosts = prepare(config, request)
    names = [host.name for host in hosts]
    with private_workspace() as private:
        settings = _settings(config, private, len(names), request.profile, request.kind)
        syntax_check(config, config.playbooks / request.playbook, settings)
        run_id = _start_run(store, request, hosts)
        return _run_to_end(config, store, request, names, run_id, private, settings, observer)


def begin_run(store: Store, request: PlaybookRequest, hosts: list[Host], site: str | None = None) -> int:
    """Create the run of a prepared request and lock its hosts; return the run id.

    For callers that answer at once and run the playbook in the background
    (the console): they call :func:`prepare`, this, then hand the run (created
    ``queued``) to the dispatcher, whose task calls :func:`execute_run`.
    ``site`` overrides the run's site (default: the hosts' site when they
    share one). Raises HostBusyError (audited as refused) when a host is in
    another run.
    """
    return _start_run(store, request, hosts, site, start=False)


def execute_run(
    config: Config,
    store: Store,
    request: PlaybookRequest,
    run_id: int,
    hosts: list[Host],
    observer: Observer | None = None,
) -> PlaybookOutcome:
    """Run the playbook of a run created by :func:`begin_run`, and finish it.

    The syntax check happens here: a playbook that fails it ends the run as
    failed with ansible's message in the output and the summary (the run
    exists already, so there is no exit 2 to give). Never raises for a failed
    run; re-raises unexpected errors after finishing the run as failed.
    """
    observer = observer or Observer()
    names = [host.name for host in hosts]
    with private_workspace() as private:
        settings = _settings(config, private, len(names), request.profile, request.kind)
        try:
            syntax_check(config, config.playbooks / request.playbook, settings)
        except BadInputError as error:
            return _refuse_started(store, request, run_id, names, error.message)
        return _run_to_end(config, store, request, names, run_id, private, settings, observer)


def cancel_run(store: Store, run_id: int) -> None:
    """Ask a running playbook run to stop (same as ``egov runs cancel``)."""
    from controlplane.runs import request_cancel

    with store.session() as session:
        request_cancel(session, run_id)


def _run_to_end(
    config: Config,
    store: Store,
    request: PlaybookRequest,
    names: list[str],
    run_id: int,
    private: Path,
    settings: RunSettings,
    observer: Observer,
) -> PlaybookOutcome:
    """Run ansible for a created run and store how it ended.

    Whatever stops it on the way (an error, Ctrl-C) ends the run failed or
    cancelled and frees its hosts before the exception goes on.
    """
    try:
        runner, pump, duration = run_ansible(config, store, request, names, run_id, private, settings, observer)
        outcome = _finish(store, request, names, run_id, runner, pump, duration)
    except BaseException as error:
        _abort_run(store, run_id, error)
        raise
    if request.kind == "provision" and not request.check:
        # A provisioned host gets its SSH host certificate (issue 15); a --check run changes nothing.
        certify_provisioned(config, store, run_id, outcome, request.actor)
        _after_provision(config, store, run_id, outcome, request.actor)
    return outcome


def _after_provision(config: Config, store: Store, run_id: int, outcome: PlaybookOutcome, actor: str) -> None:
    """After a succeeded provision, what other engines do next (a network verify: issue 16), into its output.

    Handed over by the composition root (:func:`controlplane.providers.after_provision`): this engine
    does not know the network engine. Never raises; a failed follow-up is a line of the output.
    """
    from controlplane import providers

    if outcome.status != RunStatus.SUCCEEDED:
        return
    lines = providers.after_provision(config, store, run_id, actor)
    if not lines:
        return
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            append_output(session, run, lines)
    outcome.message = "\n".join(filter(None, [outcome.message, lines[0]]))


def _start_run(
    store: Store, request: PlaybookRequest, hosts: list[Host], site: str | None = None, start: bool = True
) -> int:
    """Create the run (running, or ``queued`` without ``start``) and lock its hosts in one transaction."""
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
                start=start,
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


def _end_run(
    store: Store,
    request: PlaybookRequest,
    run_id: int,
    status: str,
    summary: dict[str, Any],
    details: dict[str, Any],
    *,
    exit_code: int | None = None,
    record: Callable[[Session, Run], None] | None = None,
) -> None:
    """Put a run ansible got to (or was refused for) in its final state, free its hosts, audit it.

    ``record`` writes what the run leaves behind (output, per-host stats) in
    the same transaction as the final status.
    """
    from controlplane import audit

    with store.session() as session:
        run = session.get(Run, run_id)
        assert run is not None  # noqa: S101 - created by begin_run or run_playbook
        if record is not None:
            record(session, run)
        finish_run(session, run, status, summary=summary, exit_code=exit_code)
        locks.release(session, run_id)
    audit.append(
        store,
        actor=request.actor,
        action=f"{request.kind}.{'check' if request.check else 'run'}",
        target=request.limit or "all",
        outcome=status,
        client=request.trigger,
        details=details,
        site=audit.run_site(store, run_id),
    )


def _refuse_started(
    store: Store, request: PlaybookRequest, run_id: int, names: list[str], message: str
) -> PlaybookOutcome:
    """End a created run as failed before ansible started (its output and summary name the cause)."""

    def record(session: Session, run: Run) -> None:
        append_output(session, run, message.splitlines() or [message])

    _end_run(
        store,
        request,
        run_id,
        RunStatus.FAILED,
        {"message": message[:4000], "hosts": {}},
        {"run_id": run_id, "hosts": len(names), "error": message[:500]},
        record=record,
    )
    return PlaybookOutcome(run_id=run_id, status=RunStatus.FAILED, hosts={}, message=message)


def _abort_run(store: Store, run_id: int, error: BaseException) -> None:
    """Finish a run that stopped on an exception, and release its hosts (not audited: the error goes on)."""
    status = RunStatus.CANCELLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is not None and run.status in RunStatus.ACTIVE:
            message = getattr(error, "message", None) or type(error).__name__
            finish_run(session, run, status, summary={"error": str(message)[:2000]})
        locks.release(session, run_id)


def _finish(
    store: Store,
    request: PlaybookRequest,
    names: list[str],
    run_id: int,
    runner: Runner,
    pump: EventPump,
    duration: float,
) -> PlaybookOutcome:
    """Store per-host stats and the final status, release the hosts, audit the run."""
    tallies = events.tally(pump.results, names)
    runner_status = str(runner.status or "")
    rc = runner.rc if isinstance(runner.rc, int) else None
    status = events.run_status(tallies, runner_status, rc)
    message = ""
    if runner_status == "timeout":
        message = f"the run exceeded its timeout of {request.timeout} s and was stopped"
    elif runner_status == "canceled":
        message = "cancelled on request; ansible was stopped"
    elif ansible_failed(rc):
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

    def record(session: Session, run: Run) -> None:
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

    details = {"run_id": run_id, "hosts": len(names), "totals": summary["totals"]}
    _end_run(store, request, run_id, status, summary, details, exit_code=rc, record=record)
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
