"""``egov bootstrap``: bring this site's lab from bare hosts to a working network, once.

What ``make run`` calls after ``egov lab up`` (and ``egov serve`` started in
the background, so the console shows it all live). In order, each step only
when it is due (:mod:`.ledger` decides, without connecting to a host):

1. provision every host (``egov provision``);
2. set up the backup centers' site accounts and keys, the control plane's
   own included (``egov backup setup``);
3. harden every host (``egov harden``);
4. back up every dataset once, copy each repository off site once and drill
   every dataset that has a drill target (``egov backup run|copy|drill``);
5. scan every host against the compliance baseline (``egov scan``), last, so
   the backup controls see the first backups.

It runs inside a planned maintenance window (:mod:`.window`): the services
are down because they are being built, so their alerts are silenced and the
error budgets leave that time out; scheduled backup jobs are skipped meanwhile
(:func:`in_progress`). The whole bootstrap is one run (kind ``bootstrap``) whose output is the
progress printed on the terminal, and each step makes the runs its command
makes, so the console's runs pages follow both as they go. A step that
fails stops the bootstrap (exit 1): fix the cause and run it again; the
steps done are skipped. Steps are done per lab: a purged or new lab does
them all again, a restarted one its runtime steps (:mod:`.ledger`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlplane.bootstrap import ledger, window
from controlplane.bootstrap.steps import COMMANDS, RUNNERS, TITLES, Reporter, StepResult, Work
from controlplane.errors import EgovError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from controlplane.automation.engine import Observer
    from controlplane.config import Config
    from controlplane.store import Store

KIND = "bootstrap"

__all__ = ["KIND", "Outcome", "Reporter", "bootstrap", "in_progress", "plan"]


@dataclass
class Outcome:
    """How a bootstrap went: its run (None when nothing was due), each step's result, the steps skipped."""

    run_id: int | None
    results: dict[str, StepResult] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (``egov bootstrap --json``)."""
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "skipped": self.skipped,
            "steps": {name: {"ok": r.ok, "message": r.message, "runs": r.runs} for name, r in self.results.items()},
        }


def plan(config: Config, store: Store, force: bool = False) -> tuple[ledger.LabIdentity, list[str]]:
    """The lab's identity and the steps due on it, in order (cheap: no host is contacted).

    Raises EgovError when a lab host is not running.
    """
    identity = ledger.lab_identity(config)
    return identity, ledger.pending(ledger.load_record(store), identity, force)


class _RunLog(Reporter):
    """Passes every line to the watcher and appends it to the bootstrap's run."""

    def __init__(self, store: Store, run_id: int, watcher: Reporter) -> None:
        self.store, self.run_id, self.watcher = store, run_id, watcher

    def line(self, text: str) -> None:
        from controlplane.runs import append_output
        from controlplane.store.models import Run

        self.watcher.line(text)
        with self.store.session() as session:
            run = session.get(Run, self.run_id)
            if run is not None:
                append_output(session, run, [text])

    def playbook(self) -> AbstractContextManager[Observer | None]:
        return self.watcher.playbook()


def in_progress(store: Store) -> int | None:
    """The id of the bootstrap run in progress, if any (runs of dead processes are already interrupted).

    The scheduler asks before each backup job: a job that starts while the
    lab is being built fails for want of what the bootstrap is making.
    """
    from sqlalchemy import select

    from controlplane.store.models import Run, RunStatus

    with store.session() as session:
        return session.scalar(select(Run.id).where(Run.kind == KIND, Run.status.in_(RunStatus.ACTIVE)).limit(1))


def _refuse_a_second(store: Store) -> None:
    """Raise EgovError when another bootstrap is running."""
    other = in_progress(store)
    if other is not None:
        raise EgovError(f"bootstrap run {other} is in progress: follow it with `egov runs show {other}`")


def bootstrap(
    config: Config,
    store: Store,
    *,
    actor: str,
    reporter: Reporter,
    force: bool = False,
    on_start: Callable[[], None] | None = None,
) -> Outcome:
    """Do every due step in order, as one run, inside a maintenance window; stop at the first that fails.

    With ``force`` every step is done again; ``on_start`` is called once the run
    and its window exist, before the first step (the CLI offers the first
    administrator there, so the console can be watched). Returns the Outcome
    (``run_id`` None when nothing was due). Raises EgovError when a lab host
    is not running or another bootstrap is in progress, and what the engines
    raise for bad configuration (ConfigError, BadInputError: exit 2).
    """
    from controlplane import audit
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import Run, RunStatus

    identity, due = plan(config, store, force)
    skipped = [step for step in ledger.STEPS if step not in due]
    if not due:
        return Outcome(None, skipped=skipped)
    _refuse_a_second(store)
    with store.session() as session:
        run_id = create_run(session, kind=KIND, target="lab", actor=actor, params={"steps": due}).id
    audit.append(store, actor=actor, action="bootstrap.start", target="lab", outcome="ok", client="local",
                 details={"run_id": run_id, "steps": due, "skipped": skipped})  # fmt: skip
    log = _RunLog(store, run_id, reporter)
    outcome = Outcome(run_id, skipped=skipped)
    log.line(f"bootstrap run {run_id}: {len(due)} step(s) to do: {', '.join(due)}")
    if skipped:
        log.line(f"already done on this lab: {', '.join(skipped)}")
    windows = window.open_windows(config, store, actor=actor, run_id=run_id)
    if windows:
        log.line(f"maintenance window {', '.join(map(str, windows))} while it runs: alerts silenced, budgets spared")
    interrupted = False
    try:
        if on_start is not None:
            on_start()
        for number, step in enumerate(due, start=1):
            log.line(f"[{number}/{len(due)}] {step} ({COMMANDS[step]}): {TITLES[step]}")
            started = time.monotonic()
            result = _run_step(step, Work(config, store, actor, log))
            outcome.results[step] = result
            verdict = "ok" if result.ok else "FAILED"
            log.line(f"[{number}/{len(due)}] {step}: {verdict} in {time.monotonic() - started:.0f} s: {result.message}")
            if not result.ok:
                log.line(f"stopped at {step}: fix the cause and run `egov bootstrap` again (done steps are skipped)")
                break
            record = ledger.load_record(store) or ledger.Record()
            record.mark_done(step, identity, result.runs, result.message)
            ledger.save_record(store, record)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        window.close_windows(store, windows, actor=actor)
        final = RunStatus.SUCCEEDED if outcome.ok and len(outcome.results) == len(due) else RunStatus.FAILED
        final = RunStatus.CANCELLED if interrupted else final
        with store.session() as session:
            run = session.get(Run, run_id)
            if run is not None and run.status in RunStatus.ACTIVE:
                finish_run(session, run, final, summary=outcome.as_dict(), exit_code=0 if final == "succeeded" else 1)
        audit.append(store, actor=actor, action="bootstrap.finish", target="lab",
                     outcome="ok" if final == RunStatus.SUCCEEDED else "failed", client="local",
                     details={"run_id": run_id, "steps": {k: v.ok for k, v in outcome.results.items()}})  # fmt: skip
    return outcome


def _run_step(step: str, work: Work) -> StepResult:
    """One step; an engine's refusal that names its cause (a busy host, an unreachable center) fails the step."""
    from controlplane.errors import BadInputError

    try:
        return RUNNERS[step](work)
    except BadInputError:  # ConfigError too: the site's files are wrong, exit 2
        raise
    except EgovError as error:
        return StepResult(False, error.message)
