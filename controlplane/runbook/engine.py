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

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from sqlalchemy import select

from controlplane import audit
from controlplane.errors import EgovError
from controlplane.runbook import approvals, drill_secrets, locks
from controlplane.runbook.adapters import Adapters, default_adapters
from controlplane.runbook.api import Runbook
from controlplane.runbook.context import Cancelled, Context
from controlplane.runbook.journal import JournalWriter, Listener
from controlplane.runbook.params import check_mode, prepare
from controlplane.runbook.scope import LOCAL, Caller
from controlplane.runs import create_run, finish_run
from controlplane.store.models import Run, RunStatus

KIND = "runbook"
# Extra seconds the engine waits for an action past its own timeout before
# abandoning it: helpers cap their waits at the deadline and usually return.
TIMEOUT_GRACE = 1.0
_tokens = count(1)


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


@dataclass
class _Attempt:
    ok: bool
    error: str | None = None
    cancelled: bool = False
    value: Any = None


def _error_text(error: BaseException) -> str:
    if isinstance(error, EgovError):
        return error.message
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "runbooks" in f.filename]
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}{where}: {error}"


class _Execution:
    """The state of one execution while it runs (see :func:`execute`)."""

    def __init__(self, store: Any, runbook: Runbook, ctx: Context, journal: JournalWriter) -> None:
        self.store, self.runbook, self.ctx, self.journal = store, runbook, ctx, journal
        self.planned = ctx.dry_run

    # -- one activity ------------------------------------------------------------
    def call(self, phase: str, name: str, fn: Callable[[Context], Any], timeout: float, attempt: int = 1) -> _Attempt:
        """Run one action/rollback/probe in a worker thread, journalled, within its timeout."""
        activity = self.journal.start(phase, name, attempt=attempt, data={"timeout": timeout})
        token = next(_tokens)
        outcome: dict[str, Any] = {}

        def work() -> None:
            self.ctx.enter(activity, time.monotonic() + timeout, token)
            try:
                outcome["value"] = fn(self.ctx)
            except BaseException as error:  # operator code: any failure is the step's failure
                outcome["error"] = error

        worker = threading.Thread(target=work, name=f"runbook-{phase}", daemon=True)
        worker.start()
        worker.join(timeout + TIMEOUT_GRACE)
        if worker.is_alive():
            self.ctx.abandon(token)
            message = f"timed out after {timeout:g} s"
            self.journal.log(activity, message)
            self.journal.finish(activity, "failed", data={"error": message})
            return _Attempt(False, message)
        error = outcome.get("error")
        if isinstance(error, Cancelled):
            self.journal.log(activity, "cancelled")
            self.journal.finish(activity, "cancelled")
            return _Attempt(False, "cancelled", cancelled=True)
        if error is None and outcome.get("value") is False and phase.startswith(("hypothesis", "verify")):
            error = EgovError("the probe returned False")
        if error is not None:
            message = _error_text(error)
            self.journal.log(activity, f"error: {message}")
            self.journal.finish(activity, "failed", data={"error": message})
            return _Attempt(False, message)
        self.journal.finish(activity, "planned" if self.planned else "succeeded")
        return _Attempt(True, value=outcome.get("value"))

    # -- phases --------------------------------------------------------------------
    def probes(self, phase: str) -> tuple[bool, str | None]:
        """Check the steady-state hypothesis or the verification; return (held, first error)."""
        items = self.runbook.verification if phase == "verify" else self.runbook.steady_state
        first_error = None
        for probe in items:
            attempt = self.call(phase, probe.name, probe.check, probe.timeout)
            if not attempt.ok and first_error is None:
                first_error = f"{probe.name}: {attempt.error}"
        return first_error is None, first_error

    def method(self) -> tuple[list[Any], str | None, bool]:
        """Run the steps; return (completed steps, error of the failed one, cancelled)."""
        completed: list[Any] = []
        for step in self.runbook.steps:
            try:
                self.ctx.check_cancel()
            except Cancelled:
                self.journal.note("method", step.name, "cancelled", text="cancel requested before this step")
                return completed, "cancel requested", True
            for attempt_number in range(1, step.retries + 2):
                attempt = self.call("method", step.name, step.action, step.timeout, attempt_number)
                if attempt.ok:
                    completed.append(step)
                    break
                if attempt.cancelled:
                    return completed, "cancel requested", True
                if attempt_number <= step.retries:
                    time.sleep(step.retry_delay)
            else:
                return completed, f"{step.name}: {attempt.error}", False
        return completed, None, False

    def undo(self, phase: str, completed: list[Any]) -> list[str]:
        """Run the rollbacks of completed steps in reverse order; return the names that failed."""
        failed: list[str] = []
        self.ctx.cancellable = False  # undoing must not be cut short by a cancel
        for step in reversed(completed):
            if step.rollback is None:
                self.journal.note(phase, step.name, "skipped", text="no rollback declared")
                continue
            if not self.call(phase, step.name, step.rollback, step.timeout).ok:
                failed.append(step.name)
        return failed


def _cancel_reader(store: Any, run_id: int) -> Callable[[], bool]:
    def requested() -> bool:
        with store.session() as session:
            return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))

    return requested


def _plan_text(runbook: Runbook, mode: str, params: Mapping[str, Any], targets: list[str], adapters: Adapters) -> str:
    lines = [f"{runbook.title} / {runbook.title_zh} ({runbook.severity}), mode {mode}"]
    lines += [f"parameter {key} = {value!r}" for key, value in params.items()]
    lines.append(f"targets: {', '.join(targets) or '(none)'}")
    lines.append(f"RTO objective: {runbook.rto_objective:g} s")
    lines += [f"steady state: {probe.name}" for probe in runbook.steady_state]
    for index, step in enumerate(runbook.steps, 1):
        extra = f", {step.retries} retries" if step.retries else ""
        undo = "rollback" if step.rollback else "no rollback"
        lines.append(f"step {index}: {step.name} (timeout {step.timeout:g} s{extra}, {undo})")
    lines += [f"verify: {probe.name}" for probe in runbook.verification]
    lines += [f"adapter {name}: {state}" for name, state in adapters.availability().items()]
    return "\n".join(lines)


__all__ = ["KIND", "Result", "check_mode", "execute"]


def execute(
    config: Any,
    store: Any,
    inventory: Any,
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
    """Execute a runbook in a mode and return how it ended.

    Given the site Config, the open Store, the loaded Inventory, the Runbook,
    the mode (dry-run, drill, run), the operator's parameter values, the
    actor and trigger, whether a real run was confirmed, a function asking
    the operator yes/no questions (``ctx.confirm``), a listener for live
    journal events, adapters (default: the site's), ``on_run`` called
    with the run id once it exists, and the caller whose scope and
    permissions bound the start (default: the local operator, every site;
    the console, the API and alert-started runs pass their own). Returns a
    Result (status succeeded, partial, failed or cancelled). Raises
    ScopeRefused for a host outside the caller's scope or a missing
    permission, BadInputError for bad parameters or a refused mode (no run
    row is created either way), TargetBusy when a target is held by another
    runbook (the run is recorded as failed, refused).
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
        )
        if mode == "run" and runbook.approvals_required > 1:
            approval = approvals.consume(session, runbook=runbook.name, params=resolved, runner=actor, run_id=run.id)
            run.summary = {"approved_by": approval.approver}
        run_id = run.id
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
        site=prepared.site,
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
                site=prepared.site,
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
        cancel_requested=_cancel_reader(store, run_id),
    )
    try:
        status, summary = _drive(_Execution(store, runbook, ctx, journal), mode, resolved, targets)
    except BaseException as error:  # an engine bug or Ctrl-C: the run must not stay "running"
        status, summary = RunStatus.FAILED, {"error": _error_text(error)}
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
        site=prepared.site,
    )
    return Result(run_id, status, summary.get("figures", {}), summary.get("error"))


def _recover_drills(store: Any, adapters: Adapters, journal: JournalWriter) -> None:
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


def _restore_left_over(store: Any, adapters: Adapters, journal: JournalWriter, run_id: int) -> None:
    """At the end of a drill, put back any old value its own restore left in the vault (a rollback that failed)."""
    if run_id not in drill_secrets.saved_runs(store):
        return
    try:
        names = drill_secrets.restore_saved(adapters.secret_store(), run_id)
    except EgovError as error:
        journal.note("drill-restore", "credentials left over", "failed", text=f"kept for the recovery: {error.message}")
        return
    journal.note("drill-restore", "credentials left over", "succeeded", text="\n".join(f"restored {n}" for n in names))


def _drive(
    execution: _Execution, mode: str, params: Mapping[str, Any], targets: list[str]
) -> tuple[str, dict[str, Any]]:
    """Run the phases of an execution; return the final status and the run summary."""
    runbook, ctx, journal = execution.runbook, execution.ctx, execution.journal
    started = time.monotonic()
    journal.note(
        "plan",
        runbook.name,
        "succeeded",
        text=_plan_text(runbook, mode, params, targets, ctx.adapters),
        data={"runbook": runbook.describe(), "params": dict(params), "targets": targets},
    )
    figures: dict[str, Any] = {"rto_objective_seconds": runbook.rto_objective, "mode": mode}
    summary: dict[str, Any] = {"runbook": runbook.name, "mode": mode, "drill": mode == "drill", "figures": figures}

    def finish(status: str, error: str | None = None) -> tuple[str, dict[str, Any]]:
        figures.update(ctx.figures)
        figures["duration_seconds"] = round(time.monotonic() - started, 3)
        journal.note(
            "figures",
            "figures",
            "succeeded",
            text="\n".join(f"{k} = {v}" for k, v in figures.items()),
            data=dict(figures),
        )
        if error:
            summary["error"] = error
        return status, summary

    held, error = execution.probes("hypothesis-before")
    summary["steady_state_before"] = held
    if not held and not ctx.dry_run:
        return finish(RunStatus.FAILED, f"the steady state does not hold before the run, nothing was changed: {error}")

    method_started = time.monotonic()
    completed, error, cancelled = execution.method()
    summary["steps_completed"] = [step.name for step in completed]
    verified = False
    if error is None:
        verified, error = execution.probes("verify")
        if verified and not ctx.dry_run:
            rto = round(time.monotonic() - method_started, 3)
            figures.update(rto_seconds=rto, rto_met=rto <= runbook.rto_objective)
        else:
            error = f"verification failed: {error}"
    if error is not None and not ctx.dry_run:
        failed = execution.undo("rollback", completed)
        summary["rolled_back"] = [step.name for step in reversed(completed) if step.name not in failed]
        summary["rollback_failed"] = failed
        held_after, after_error = execution.probes("hypothesis-after")
        summary["steady_state_after"] = held_after
        return finish(RunStatus.CANCELLED if cancelled else RunStatus.FAILED, error)
    if mode == "drill":
        failed = execution.undo("drill-restore", completed)
        summary["drill_restore_failed"] = failed
    held_after, after_error = execution.probes("hypothesis-after")
    summary["steady_state_after"] = held_after
    if ctx.dry_run:
        return finish(RunStatus.SUCCEEDED)
    if mode == "drill" and (summary["drill_restore_failed"] or not held_after):
        why = after_error or f"rollbacks failed: {summary['drill_restore_failed']}"
        return finish(RunStatus.FAILED, f"the drill did not restore the steady state: {why}")
    if not held_after:
        return finish(RunStatus.PARTIAL, f"the steady state does not hold after the run: {after_error}")
    return finish(RunStatus.SUCCEEDED)
