"""One runbook execution's phases: activities in worker threads with timeouts, probes, steps, rollbacks.

:func:`drive` runs the phases of a claimed run in order (plan, steady state,
method, verification, drill restore, figures) and returns the final status
and summary; :mod:`controlplane.runbook.engine` creates, claims and finishes
the run around it. Every activity runs operator code in its own thread, so a
step that hangs is abandoned at its timeout instead of holding the run.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controlplane.errors import EgovError
from controlplane.runbook.adapters import Adapters
from controlplane.runbook.context import Cancelled, Context
from controlplane.runbook.definition import Runbook
from controlplane.runbook.journal import JournalWriter
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from controlplane.store import Store

# Extra seconds the engine waits for an action past its own timeout before
# abandoning it: helpers cap their waits at the deadline and usually return.
TIMEOUT_GRACE = 1.0
_tokens = count(1)


@dataclass
class _Attempt:
    ok: bool
    error: str | None = None
    cancelled: bool = False
    value: Any = None


def error_text(error: BaseException) -> str:
    if isinstance(error, EgovError):
        return error.message
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "runbooks" in f.filename]
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}{where}: {error}"


class Execution:
    """The state of one execution while it runs (see :func:`execute`)."""

    def __init__(self, store: Store, runbook: Runbook, ctx: Context, journal: JournalWriter) -> None:
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
            message = error_text(error)
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


def cancel_reader(store: Store, run_id: int) -> Callable[[], bool]:
    def requested() -> bool:
        with store.session() as session:
            return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))

    return requested


def plan_text(runbook: Runbook, mode: str, params: Mapping[str, Any], targets: list[str], adapters: Adapters) -> str:
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


def drive(execution: Execution, mode: str, params: Mapping[str, Any], targets: list[str]) -> tuple[str, dict[str, Any]]:
    """Run the phases of an execution; return the final status and the run summary."""
    runbook, ctx, journal = execution.runbook, execution.ctx, execution.journal
    started = time.monotonic()
    journal.note(
        "plan",
        runbook.name,
        "succeeded",
        text=plan_text(runbook, mode, params, targets, ctx.adapters),
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
