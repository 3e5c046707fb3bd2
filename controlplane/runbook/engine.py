"""The runbook engine: dry-run, drill and run, with journal, rollback, locks and RTO.

One execution (:func:`execute`):

1. check the start for its caller (:func:`controlplane.runbook.params.prepare`:
   permissions, parameters, every host named against the caller's scope,
   targets, the mode's rules; every problem at once, before a run row);
   put back the credentials of drills that ended without doing so
   (:mod:`controlplane.runbook.drill_secrets`);
2. create the run (kind ``runbook``) and take the target locks (a second
   runbook on a held target is refused, naming the holder);
3. journal the plan; check the steady-state hypothesis (if it does not hold,
   stop: nothing was changed);
4. run the method's steps in order, each with its timeout and retries; on a
   failure or a cancel, roll the completed steps back in reverse order;
5. run the verification; the RTO is the time from the first step to a
   passing verification (a failing verification rolls back too);
6. in a drill, undo the method (rollbacks in reverse) to restore the steady
   state; check the hypothesis again; record figures; release the locks.

In a dry run every helper receives ``dry_run`` and does nothing; activities
are journalled as ``planned`` and no lock is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlplane import audit
from controlplane.errors import BadInputError, EgovError
from controlplane.runbook import approvals, drill_secrets, locks
from controlplane.runbook.adapters import Adapters, default_adapters
from controlplane.runbook.context import Context
from controlplane.runbook.definition import Runbook
from controlplane.runbook.execution import Execution, cancel_reader, drive, error_text
from controlplane.runbook.journal import JournalWriter, Listener
from controlplane.runbook.params import check_mode, prepare
from controlplane.runbook.scope import LOCAL, Caller
from controlplane.runs import claim, create_run, finish_run
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store

KIND = "runbook"


@dataclass
class Result:
    """How an execution ended: its run id, final status, figures and the error, if any."""

    run_id: int
    status: str
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED


__all__ = ["KIND", "Result", "check_mode", "execute", "execute_claimed", "queue"]


def queue(
    store: Store,
    inventory: Inventory,
    runbook: Runbook,
    *,
    mode: str,
    params: Mapping[str, Any] | None = None,
    actor: str,
    trigger: str = "cli",
    confirmed: bool = False,
    caller: Caller = LOCAL,
) -> int:
    """Check a start for its caller and create its run, ``queued``; return the run id.

    The run row holds everything :func:`execute_claimed` needs (runbook name,
    mode, resolved parameters, targets), so whoever claims it can execute it.
    A real run needing a second approval consumes that approval here. Raises
    ScopeRefused for a host outside the caller's scope or a missing
    permission, BadInputError for bad parameters or a refused mode (no run
    row is created either way).
    """
    prepared = prepare(runbook, mode, params or {}, inventory, caller, confirmed=confirmed)
    resolved, targets = prepared.params, prepared.targets
    with store.session() as session:
        run = create_run(
            session,
            kind=KIND,
            target=",".join(targets) or runbook.name,
            actor=actor,
            trigger=trigger,
            # The lowest site covering every host the run names: who may see the run.
            site=prepared.site,
            params={
                "runbook": runbook.name,
                "mode": mode,
                "params": resolved,
                "targets": targets,
                "hosts": prepared.hosts,
                "drill": mode == "drill",
            },
            dry_run=mode == "dry-run",
            start=False,
        )
        if mode == "run" and runbook.approvals_required > 1:
            approval = approvals.consume(session, runbook=runbook.name, params=resolved, runner=actor, run_id=run.id)
            run.summary = {"approved_by": approval.approver}
        return int(run.id)


def execute(
    config: Config,
    store: Store,
    inventory: Inventory,
    runbook: Runbook,
    *,
    mode: str,
    params: Mapping[str, Any] | None = None,
    actor: str,
    trigger: str = "cli",
    confirmed: bool = False,
    confirm: Callable[[str], bool] | None = None,
    listener: Listener | None = None,
    adapters: Adapters | None = None,
    on_run: Callable[[int], None] | None = None,
    caller: Caller = LOCAL,
) -> Result:
    """Execute a runbook in this thread, from the check to the final state (the CLI's foreground path).

    ``confirm`` asks the operator yes/no questions (``ctx.confirm``);
    ``on_run`` is called with the run id once it exists; ``caller`` bounds
    the start (default: the local operator, every site; the console, the API
    and alert-started runs pass their own, and go through the dispatcher
    with :func:`queue` instead). Returns a Result (status succeeded,
    partial, failed or cancelled). Raises what :func:`queue` raises, and
    TargetBusy when a target is held by another runbook (the run is recorded
    as failed, refused).
    """
    run_id = queue(
        store,
        inventory,
        runbook,
        mode=mode,
        params=params,
        actor=actor,
        trigger=trigger,
        confirmed=confirmed,
        caller=caller,
    )
    with store.session() as session:
        run = claim(session, run_id)
    if run is None:  # cancelled in the instant between its creation and here
        return Result(run_id, RunStatus.CANCELLED, error="cancelled before it started")
    return execute_claimed(
        config, store, inventory, runbook, run, confirm=confirm, listener=listener, adapters=adapters, on_run=on_run
    )


def execute_claimed(
    config: Config,
    store: Store,
    inventory: Inventory,
    runbook: Runbook,
    run: Run,
    *,
    confirm: Callable[[str], bool] | None = None,
    listener: Listener | None = None,
    adapters: Adapters | None = None,
    on_run: Callable[[int], None] | None = None,
) -> Result:
    """Execute a run created by :func:`queue` and claimed by this process, to its final state.

    The start was checked when the run was queued; the parameters, targets
    and actor come from the run row. Raises TargetBusy when a target is held
    by another runbook (the run is recorded as failed, refused).
    """
    settings = run.params or {}
    if settings.get("runbook") != runbook.name:
        raise BadInputError(f"run {run.id} is not a run of runbook {runbook.name}")
    run_id, actor, site = int(run.id), str(run.actor), run.site
    mode, resolved, targets = str(settings["mode"]), dict(settings.get("params") or {}), list(settings["targets"])
    if on_run is not None:
        on_run(run_id)
    journal = JournalWriter(store, run_id, listener)
    own_adapters = adapters is None
    adapters = adapters or default_adapters(config, store, actor)
    _recover_drills(store, adapters, journal)
    audit.append(
        store,
        actor=actor,
        action=f"runbook.{mode}",
        target=runbook.name,
        outcome="started",
        details={"run_id": run_id, "targets": targets, "params": resolved},
        site=site,
    )
    if mode != "dry-run":
        try:
            locks.acquire(store, run_id=run_id, runbook=runbook.name, actor=actor, targets=targets)
        except locks.TargetBusy as busy:
            journal.note("plan", "target locks", "failed", text=f"refused: {busy.message}")
            with store.session() as session:
                finish_run(
                    session, session.get(Run, run_id), RunStatus.FAILED, summary={"refused": busy.message}, exit_code=1
                )
            audit.append(
                store,
                actor=actor,
                action=f"runbook.{mode}",
                target=runbook.name,
                outcome="refused",
                details={"run_id": run_id, "reason": busy.message},
                site=site,
            )
            if own_adapters:
                adapters.close()
            raise
    ctx = Context(
        runbook=runbook,
        mode=mode,
        params=resolved,
        targets=targets,
        inventory=inventory,
        adapters=adapters,
        journal=journal,
        run_id=run_id,
        confirm=confirm,
        cancel_requested=cancel_reader(store, run_id),
    )
    try:
        status, summary = drive(Execution(store, runbook, ctx, journal), mode, resolved, targets)
    except BaseException as error:  # an engine bug or Ctrl-C: the run must not stay "running"
        status, summary = RunStatus.FAILED, {"error": error_text(error)}
        with store.session() as session:
            finish_run(session, session.get(Run, run_id), status, summary=summary, exit_code=1)
        raise
    finally:
        if mode == "drill":
            _restore_left_over(store, adapters, journal, run_id)
        if mode != "dry-run":
            locks.release(store, run_id)
        if own_adapters:
            adapters.close()
    with store.session() as session:
        finish_run(
            session, session.get(Run, run_id), status, summary=summary, exit_code=0 if status == "succeeded" else 1
        )
    audit.append(
        store,
        actor=actor,
        action=f"runbook.{mode}",
        target=runbook.name,
        outcome=status,
        details={"run_id": run_id, "figures": summary.get("figures", {})},
        site=site,
    )
    return Result(run_id, status, summary.get("figures", {}), summary.get("error"))


def _recover_drills(store: Store, adapters: Adapters, journal: JournalWriter) -> None:
    """Put back the credentials of earlier drills that ended without restoring them.

    Each recovery is noted in that drill's own journal and audited (never in
    this run's journal: the other drill may belong to another site). A
    failure is noted and the run goes on: an incident runbook must never
    wait on an old drill's bookkeeping.
    """
    try:
        drill_secrets.recover(store, adapters.secret_store)
    except Exception as error:  # never let bookkeeping stop this run: say it, go on
        why = error.message if isinstance(error, EgovError) else type(error).__name__
        journal.note("plan", "drill recovery", "failed", text=f"old drill credentials not put back: {why}")


def _restore_left_over(store: Store, adapters: Adapters, journal: JournalWriter, run_id: int) -> None:
    """At the end of a drill, put back any old value its own restore left in the vault (a rollback that failed)."""
    if run_id not in drill_secrets.saved_runs(store):
        return
    try:
        names = drill_secrets.restore_saved(adapters.secret_store(), run_id)
    except EgovError as error:
        journal.note("drill-restore", "credentials left over", "failed", text=f"kept for the recovery: {error.message}")
        return
    journal.note("drill-restore", "credentials left over", "succeeded", text="\n".join(f"restored {n}" for n in names))
