"""``egov provision`` and ``egov harden``: playbook runs with a live host view.

Exit codes: 0 every host fine, 1 any host failed or unreachable (or the run
was cancelled, timed out or refused because a host is in another run),
2 bad input (unknown host pattern, missing group var, playbook syntax error).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import console, open_store, print_json
from controlplane.cli.output import Column, layout, lines, plain, show_table, styled

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from controlplane.automation.events import TaskResult
    from controlplane.automation.playbook import PlaybookOutcome

OUTCOME_STYLE = {"ok": "green", "changed": "yellow", "failed": "red", "unreachable": "red", "running": "cyan"}
COUNTS = ("OK", "CHANGED", "FAILED", "UNREACHABLE", "SKIPPED")
LIVE_COLUMNS = (
    Column("HOST", key=True),
    Column("CURRENT TASK"),
    *(Column(name, key=True, justify="right") for name in COUNTS),
)
SUMMARY_COLUMNS = (
    Column("HOST", key=True),
    Column("OUTCOME", key=True),
    *(Column(name, key=True, justify="right") for name in COUNTS),
)


class LiveView:
    """A host × task progress table, redrawn while the run goes (rich Live)."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Live | None = None
        self.run_id = 0
        self.started_at = time.monotonic()

    # --- Observer interface -------------------------------------------------
    def started(self, run_id: int, hosts: list[str]) -> None:
        from rich.live import Live

        self.run_id = run_id
        self.rows = {
            h: {"task": "waiting", "ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0} for h in hosts
        }
        self.live = Live(self.render(), console=self.out, refresh_per_second=4, transient=True)
        self.live.start()

    def task_started(self, host: str, task: str) -> None:
        if host in self.rows:
            self.rows[host]["task"] = task
            self._refresh()

    def result(self, result: TaskResult) -> None:
        row = self.rows.setdefault(
            result.host, {"task": "", "ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0}
        )
        key = {"changed": "changed", "failed": "failed", "unreachable": "unreachable", "skipped": "skipped"}.get(
            result.status, "ok"
        )
        row[key] += 1
        if result.status == "changed":
            row["ok"] += 1
        self._refresh()

    def line(self, text: str) -> None:
        """Lines go to the run's output in the store, not to the screen."""

    def status(self, status: str) -> None:
        """Runner status changes show in the final summary."""

    # --- drawing ------------------------------------------------------------
    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Table:
        elapsed = time.monotonic() - self.started_at
        rows = []
        for host, row in self.rows.items():
            state = "unreachable" if row["unreachable"] else "failed" if row["failed"] else "running"
            rows.append(
                [styled(host, OUTCOME_STYLE[state]), plain(row["task"])[:60], row["ok"], row["changed"], row["failed"],
                 row["unreachable"], row["skipped"]]
            )  # fmt: skip
        return layout(LIVE_COLUMNS, rows, self.out.width, title=f"run {self.run_id} — {elapsed:.0f} s")[0]

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def print_summary(out: Console, outcome: PlaybookOutcome, check: bool) -> None:
    """Print the per-host summary table, drift or failures, and the run's final line."""
    rows = [
        [name, styled(tally.outcome, OUTCOME_STYLE.get(tally.outcome, "")), tally.ok, tally.changed, tally.failed,
         tally.unreachable, tally.skipped]
        for name, tally in sorted(outcome.hosts.items())
    ]  # fmt: skip
    show_table(SUMMARY_COLUMNS, rows, title=f"run {outcome.run_id}: {plain(outcome.status)}", out=out)
    changed = [r for r in outcome.results if r.status == "changed"]
    if changed:
        out.print("[yellow]drift (would change):[/]" if check else "[yellow]changed:[/]")
        for result in changed:
            more = len(result.controls) - 3
            shown = ", ".join(result.controls[:3]) + (f" +{more}" if more > 0 else "")
            controls = f" [{shown}]" if result.controls else ""
            out.print(plain(f"  {result.host}: {result.task.split(' [')[0]}{controls}"), markup=False)
    failed = [r for r in outcome.results if r.status in ("failed", "unreachable")]
    if failed:
        out.print("[red]failed:[/]")
        for result in failed:
            first = result.message.splitlines()[0] if result.message else ""
            out.print(plain(f"  {result.host}: {result.task} — {first}"), markup=False)
    if outcome.message:
        out.print(lines(outcome.message), markup=False)
    out.print(f"run {outcome.run_id} {outcome.status} in {outcome.duration:.1f} s (egov runs show {outcome.run_id})")


def _run(context: CliContext, kind: str, options: dict[str, Any]) -> int:
    """Run one playbook kind with the CLI options; return the exit code."""
    from controlplane import audit as audit_log
    from controlplane.automation.engine import PlaybookRequest, run_playbook
    from controlplane.automation.locks import HostBusyError

    request = PlaybookRequest(
        kind=kind,
        limit=options["limit"],
        check=options["check"],
        diff=options["diff"],
        profile=options["profile"],
        timeout=options["timeout"],
        actor=audit_log.cli_actor(),
        trigger="cli",
        tags=options["tags"],
    )
    store = open_store(context)
    out = console()
    view = None if options["as_json"] else LiveView(out)
    try:
        outcome = run_playbook(context.config, store, request, observer=view)
    except HostBusyError as error:
        if options["as_json"]:
            print_json({"status": "refused", "message": error.message})
        raise
    finally:
        if view is not None:
            view.stop()
    if options["as_json"]:
        print_json(outcome.as_dict())
    else:
        print_summary(out, outcome, request.check)
    return outcome.exit_code


def _options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options both commands share."""
    decorators = [
        click.option(
            "--limit", "-l", metavar="PATTERN", help="Hosts, groups, sites or roles (comma-separated, globs)."
        ),
        click.option("--check", is_flag=True, help="Report drift: what would change, change nothing."),
        click.option("--diff", is_flag=True, help="Show file differences in the run output."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout."),
        click.option("--tags", metavar="TAGS", help="Only tasks with these tags (e.g. ssh,firewall or a control id)."),
        click.option(
            "--timeout", default=3600, show_default=True, type=click.IntRange(1, 86400), help="Job timeout, seconds."
        ),
        click.option(
            "--profile",
            type=click.Choice(["tuned", "defaults"]),
            default="tuned",
            show_default=True,
            help="Ansible settings: tuned for speed, or ansible's defaults (benchmarks).",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@click.command()
@_options
@click.option(
    "--certify-only",
    is_flag=True,
    help="Only issue and install the hosts' SSH host certificates (renew on demand); no playbook runs.",
)
@pass_context
def provision(context: CliContext, certify_only: bool, **options: Any) -> int:
    """Provision hosts: accounts, time sync, tools and the service of each role, then their SSH host certificates."""
    if certify_only:
        return _certify(context, options)
    return _run(context, "provision", options)


CERTIFY_COLUMNS = (Column("HOST", key=True), Column("OK", key=True), Column("SECONDS", justify="right"),
                   Column("CERTIFICATE"))  # fmt: skip


def _certify(context: CliContext, options: dict[str, Any]) -> int:
    """``egov provision --certify-only``: certify the selected hosts now; exit 1 when any host failed."""
    from controlplane import audit as audit_log
    from controlplane.automation.certify import certify_hosts
    from controlplane.errors import BadInputError
    from controlplane.inventory import load_inventory

    if options["check"] or options["diff"] or options["tags"]:
        raise BadInputError("--certify-only takes --limit and --json only")
    inventory = load_inventory(context.config.inventory)
    hosts = inventory.select(options["limit"])
    outcomes = certify_hosts(
        context.config, open_store(context), hosts, requester=audit_log.cli_actor(), inventory=inventory
    )
    if options["as_json"]:
        print_json({"hosts": [outcome.as_dict() for outcome in outcomes]})
    else:
        rows = [[o.host, styled("yes" if o.ok else "NO", "green" if o.ok else "red"), f"{o.seconds:.2f}", o.message]
                for o in outcomes]  # fmt: skip
        show_table(CERTIFY_COLUMNS, rows, title="SSH host certificates", out=console())
    return 0 if all(outcome.ok for outcome in outcomes) else 1


@click.command()
@_options
@pass_context
def harden(context: CliContext, **options: Any) -> int:
    """Harden hosts to the national baseline; with --check report drift only."""
    return _run(context, "harden", options)
