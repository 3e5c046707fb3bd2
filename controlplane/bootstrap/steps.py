"""The bootstrap's steps: each one calls the engine a user's command would, and says how it went.

Every step is what one ``egov`` command does (named in :data:`COMMANDS`), run
in this process on the same engines, so each leaves the same runs, audit
records and store rows as the command would, and the console shows those
runs live while they go. A step returns a :class:`StepResult`; it raises
only what the engines raise for bad input or configuration (EgovError).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from controlplane.automation.engine import Observer
    from controlplane.backup.context import BackupContext
    from controlplane.config import Config
    from controlplane.store import Store

# The command a user would type for each step (shown with it, and in the README).
COMMANDS = {
    "provision": "egov provision",
    "backup-setup": "egov backup setup",
    "harden": "egov harden",
    "backup": "egov backup run",
    "copy": "egov backup copy",
    "drill": "egov backup drill",
    "scan": "egov scan",
}
# Backup units run at once: each mostly waits on SSH and the backup center.
UNIT_WORKERS = 4
TITLES = {
    "provision": "every host: accounts, time, tools, backup client; then each role's service",
    "backup-setup": "the backup centers' site accounts and keys, the control plane's own included",
    "harden": "every host to the national baseline (SSH, kernel, files, accounts, firewall, audit)",
    "backup": "every dataset of backup/ once, to the backup center",
    "copy": "every repository once to the secondary (off-site) center",
    "drill": "every dataset with a drill target: restore, verify, clean up",
    "scan": "every host against the compliance baseline",
}


@dataclass(frozen=True)
class StepResult:
    """How a step went: ok, one line for the user, the runs it made."""

    ok: bool
    message: str
    runs: list[int] = field(default_factory=list)


class Reporter:
    """Whoever watches the bootstrap. This base prints nothing; the CLI's prints and draws."""

    def line(self, text: str) -> None:
        """One line of progress (also written to the bootstrap's run)."""

    def playbook(self) -> AbstractContextManager[Observer | None]:
        """A context giving an observer of a playbook run's host × task progress (None: none)."""
        return nullcontext(None)



@dataclass
class Work:
    """What every step needs: the site, its open store, who acts, who watches."""

    config: Config
    store: Store
    actor: str
    reporter: Reporter


@contextmanager
def backup_context(work: Work) -> Iterator[BackupContext]:
    """The backup engine's context on the bootstrap's store (closed after)."""
    from controlplane.backup.context import open_context
    from controlplane.vault import open_vault

    ctx = open_context(work.config, work.store, open_vault(work.config, work.store), actor=work.actor, trigger="cli")
    try:
        yield ctx
    finally:
        ctx.close()


def _playbook(kind: str) -> Callable[[Work], StepResult]:
    def run(work: Work) -> StepResult:
        from controlplane.automation.engine import PlaybookRequest, run_playbook

        request = PlaybookRequest(kind=kind, actor=work.actor, trigger="cli")
        with work.reporter.playbook() as observer:
            outcome = run_playbook(work.config, work.store, request, observer=observer)
        bad = sorted(name for name, tally in outcome.hosts.items() if tally.outcome in ("failed", "unreachable"))
        message = f"run {outcome.run_id} {outcome.status} on {len(outcome.hosts)} hosts in {outcome.duration:.0f} s"
        if bad:
            message += f"; failed on {', '.join(bad)} (egov runs show {outcome.run_id})"
        return StepResult(outcome.exit_code == 0, message, [outcome.run_id])

    return run


def backup_setup(work: Work) -> StepResult:
    """Site accounts on both centers, keys on every host and on the control plane (``egov backup setup``)."""
    from controlplane.backup.records import audit_event
    from controlplane.backup.setup import setup

    with backup_context(work) as ctx:
        report = setup(ctx)
        audit_event(
            ctx.store, ctx.actor, "backup.setup", ctx.center.host, "ok",
            sites=report["sites"], accounts_created=report["accounts_created"], keys_added=report["keys_added"],
        )  # fmt: skip
    created = ", ".join(report["accounts_created"]) or "none"
    return StepResult(True, f"sites {', '.join(report['sites'])}; accounts created: {created}")


def _units(work: Work, label: str, operation: Callable[[BackupContext, Any], Any], which: str) -> StepResult:
    """Run one backup-engine operation on every unit it applies to, :data:`UNIT_WORKERS` at a time.

    Units are independent (one repository each, their own run and lock), so
    they overlap: most of a unit's time is spent waiting for SSH and the
    center. One line per unit, in the order they finish.
    """
    from controlplane.backup.offsite import copy_problem

    with backup_context(work) as ctx:
        if which == "copy" and (problem := copy_problem(ctx)):
            return StepResult(True, f"skipped: {problem}")
        targets = [
            target
            for target in ctx.select()
            if not (which == "drill" and target.dataset.drill is None)
            and not (which == "copy" and ctx.password(target) is None)
        ]
        results = []
        with ThreadPoolExecutor(max_workers=UNIT_WORKERS, thread_name_prefix=f"egov-{which}") as pool:
            running = {pool.submit(operation, ctx, target): target for target in targets}
            for finished in as_completed(running):
                target, result = running[finished], finished.result()
                results.append(result)
                mark = "ok    " if result.ok else "FAILED"
                unit = f"{target.dataset.name}@{target.host}"
                work.reporter.line(f"  {mark} {label} {unit}: run {result.run_id}: {result.message}")
    failed = [r for r in results if not r.ok]
    runs = sorted(r.run_id for r in results)
    if failed:
        return StepResult(False, f"{len(failed)} of {len(results)} failed (runs {', '.join(map(str, runs))})", runs)
    return StepResult(True, f"{len(results)} succeeded", runs)


def backup_all(work: Work) -> StepResult:
    """Back up every dataset on each of its hosts (``egov backup run``)."""
    from controlplane.backup.engine import backup

    return _units(work, "backup", lambda ctx, target: backup(ctx, target), "backup")


def copy_all(work: Work) -> StepResult:
    """Copy every repository to the secondary center (``egov backup copy``)."""
    from controlplane.backup.offsite import copy

    return _units(work, "copy", copy, "copy")


def drill_all(work: Work) -> StepResult:
    """Restore drill of every dataset that has a drill target (``egov backup drill``)."""
    from controlplane.backup.restore import drill

    return _units(work, "drill", lambda ctx, target: drill(ctx, target), "drill")


def scan(work: Work) -> StepResult:
    """Compliance scan of every host (``egov scan``); findings are not a failure, an unassessed host is."""
    from controlplane.compliance.scoring import score
    from controlplane.compliance.service import execute_scan, host_line, plan_scan

    plan = plan_scan(work.config)
    outcome = execute_scan(
        work.config, work.store, plan, actor=work.actor, on_host=lambda host: work.reporter.line(f"  {host_line(host)}")
    )
    overall = score(outcome.scan.results)
    after = "n/a" if overall.after_waivers is None else f"{overall.after_waivers:.1f}%"
    message = (
        f"scan {outcome.scan_id} {outcome.status}: {after} after waivers; {overall.failed} fail, "
        f"{overall.waived} waived, {overall.passed} pass (egov report compliance --format html -o report.html)"
    )
    return StepResult(outcome.exit_code == 0, message, [outcome.run_id])


RUNNERS: dict[str, Callable[[Work], StepResult]] = {
    "provision": _playbook("provision"),
    "backup-setup": backup_setup,
    "harden": _playbook("harden"),
    "backup": backup_all,
    "copy": copy_all,
    "drill": drill_all,
    "scan": scan,
}
