"""``egov runbook``: list, show, dry-run, drill and run coded runbooks; history and journals.

Runbook files are trusted code (like playbooks): listing them executes them.

Scope in the CLI: whoever runs ``egov`` on the control plane holds the master
key and the SSH key, so by default the CLI is the local operator (every site,
every permission); every host a start names must still exist in the
inventory. ``--as USER`` applies that console user's role and sites instead
(the engine's one check, as in the console): it narrows what a start may
name, never widens it.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import audit, console, open_store, print_json
from controlplane.cli.output import Column, echo, layout, lines, moment, plain, safe, show_table, styled, wide_option
from controlplane.errors import EXIT_FAILED, BadInputError

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

    from controlplane.inventory import Inventory
    from controlplane.runbook.scope import Caller
    from controlplane.store import Store

STATUS_STYLE = {
    "succeeded": "green",
    "planned": "blue",
    "running": "cyan",
    "failed": "red",
    "cancelled": "magenta",
    "interrupted": "red",
    "partial": "yellow",
    "skipped": "dim",
}
SEVERITY_STYLE = {"low": "dim", "medium": "yellow", "high": "red", "critical": "bold red"}
RUNBOOK_COLUMNS = (
    Column("NAME", key=True),
    Column("TITLE"),
    Column("标题", optional=1),
    Column("SEVERITY", key=True),
    Column("RTO GOAL", key=True, justify="right"),
    Column("STATUS"),
)
STEP_COLUMNS = (
    Column("#", key=True, justify="right"),
    Column("PHASE", key=True),
    Column("ACTIVITY"),
    Column("STATUS", key=True),
    Column("SECONDS", key=True, justify="right"),
    Column("LAST OUTPUT", optional=1),
)
HISTORY_COLUMNS = (
    Column("RUN", key=True, justify="right"),
    Column("RUNBOOK", key=True),
    Column("MODE", key=True),
    Column("TARGETS", optional=2),
    Column("ACTOR", optional=3),
    Column("STATUS", key=True),
    Column("STARTED (UTC)", key=True),
    Column("RTO", key=True, justify="right"),
    Column("GOAL", key=True, justify="right", optional=1),
)


@click.group()
def runbook() -> None:
    """Coded runbooks for failover and recovery: dry-run, drill, run, journal."""


def _folder(context: CliContext) -> Path:
    return Path(context.config.runbooks)


def _inventory(context: CliContext) -> Inventory:
    from controlplane.inventory import load_inventory

    return load_inventory(Path(context.config.inventory))


@runbook.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_runbooks(context: CliContext, as_json: bool, wide: bool) -> None:
    """List the runbooks, with the error of any that does not load."""
    from controlplane.runbook.loader import load_runbooks

    loaded = load_runbooks(_folder(context))
    rows = [
        {
            "name": item.name,
            "path": str(item.path),
            "ok": item.ok,
            "error": item.error,
            **(
                {
                    "title": item.runbook.title,
                    "title_zh": item.runbook.title_zh,
                    "severity": item.runbook.severity,
                    "rto_objective_seconds": item.runbook.rto_objective,
                }
                if item.runbook
                else {}
            ),
        }
        for item in loaded
    ]
    if as_json:
        print_json(rows)
    elif not rows:
        echo(f"no runbooks in {_folder(context)}")
    else:
        table = []
        for row in rows:
            if row["ok"]:
                table.append(
                    [row["name"], row["title"], row["title_zh"],
                     styled(row["severity"], SEVERITY_STYLE.get(row["severity"], "")),
                     f"{row['rto_objective_seconds']:g} s", styled("ok", "green")]
                )  # fmt: skip
            else:
                table.append([row["name"], "", "", "", "", styled(f"does not load: {plain(row['error'])}", "red")])
        show_table(RUNBOOK_COLUMNS, table, wide=wide)
    if any(not row["ok"] for row in rows):
        raise SystemExit(EXIT_FAILED)


@runbook.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def show(context: CliContext, name: str, as_json: bool) -> None:
    """Show a runbook: parameters, hypothesis, steps, verification."""
    from controlplane.runbook.loader import get_runbook

    data = get_runbook(_folder(context), name).describe()
    if as_json:
        print_json(data)
        return
    out = console()
    out.print(f"[bold]{safe(data['name'])}[/]: {safe(data['title'])} / {safe(data['title_zh'])}")
    out.print(
        f"severity {safe(data['severity'])}, RTO objective {data['rto_objective_seconds']:g} s"
        + (", needs a second approver" if data["approvals_required"] > 1 else "")
    )
    out.print(lines(data["description"]), markup=False)
    out.print("[bold]parameters[/]")
    for param in data["params"]:
        default = "(required)" if param["required"] else f"default {param['default']!r}"
        out.print(f"  {param['name']} ({param['type']}, {default}): {param['help']}", markup=False)
    out.print("[bold]steady state[/]")
    for probe in data["steady_state"]:
        out.print(f"  - {probe['name']}", markup=False)
    out.print("[bold]steps[/]")
    for index, step in enumerate(data["steps"], 1):
        undo = "rollback" if step["rollback"] else "no rollback"
        out.print(f"  {index}. {safe(step['name'])} (timeout {step['timeout']:g} s, {step['retries']} retries, {undo})")
    out.print("[bold]verification[/]")
    for probe in data["verification"]:
        out.print(f"  - {probe['name']}", markup=False)


class LiveSteps:
    """The live step display: a rich table on a terminal, one line per event elsewhere."""

    def __init__(self, title: str) -> None:
        self.console = console()
        self.title = title
        self.rows: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.live: Live | None = None

    def __enter__(self) -> LiveSteps:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self.render(), console=self.console, refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(None, None, None)

    def render(self) -> Table:
        table = [
            [seq, row["phase"], row["name"], styled(row["status"], STATUS_STYLE.get(row["status"], "")),
             f"{row['duration']:.2f}" if row.get("duration") is not None else "", plain(row.get("last") or "")[-60:]]
            for seq, row in sorted(self.rows.items())
        ]  # fmt: skip
        return layout(STEP_COLUMNS, table, self.console.width, title=plain(self.title))[0]

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            seq = event["seq"]
            if event["event"] == "start":
                self.rows[seq] = {"phase": event["phase"], "name": event["name"], "status": "running"}
            elif event["event"] == "line":
                self.rows.setdefault(seq, {"phase": event["phase"], "name": "", "status": "running"})["last"] = event[
                    "text"
                ]
            else:
                row = self.rows.setdefault(seq, {"phase": event["phase"], "name": event["name"]})
                row.update(status=event["status"], duration=event["duration"])
                if self.live is None:
                    echo(f"{event['phase']:>17}  {event['status']:<10} {event['duration']:7.2f} s  {event['name']}")
            if self.live is not None:
                self.live.update(self.render())


def caller_as(store: Store, inventory: Inventory, user: str | None) -> tuple[Caller, str]:
    """The engine's caller and the audit actor: the local operator, or with ``--as`` that console user.

    Raises BadInputError (exit 2) for an unknown or disabled user.
    """
    from controlplane import users
    from controlplane.audit import cli_actor
    from controlplane.runbook.scope import LOCAL, caller_for_user

    if user is None:
        return LOCAL, cli_actor()
    with store.session() as session:
        row = users.get_user(session, user)
        if row is None or row.disabled:
            raise BadInputError(f"--as {user!r}: no enabled console user of that name")
        role, sites = row.role, list(row.sites or [])
    return caller_for_user(user, role, sites, inventory), f"{user}@cli"


def _execute(
    context: CliContext, name: str, mode: str, params: tuple[str, ...], yes: bool, as_json: bool, as_user: str | None
) -> None:
    from controlplane.runbook.engine import execute
    from controlplane.runbook.loader import get_runbook
    from controlplane.runbook.params import parse_assignments

    definition = get_runbook(_folder(context), name)
    given = parse_assignments(params)
    confirmed = yes
    interactive = sys.stdin.isatty()
    if mode == "run" and not yes:
        if not interactive:
            raise BadInputError(f"runbook {name} changes production: pass --yes (no terminal to confirm on)")
        typed = click.prompt(f"This runs {name} FOR REAL. Type its name to confirm", default="", show_default=False)
        confirmed = typed.strip() == name
        if not confirmed:
            raise BadInputError("not confirmed: nothing was done")

    def ask(question: str) -> bool:
        if yes or not interactive:
            return yes
        return click.confirm(question, default=False)

    store = open_store(context)
    inventory = _inventory(context)
    caller, actor = caller_as(store, inventory, as_user)
    display = LiveSteps(f"{name} ({mode})")
    with display:
        result = execute(
            context.config,
            store,
            inventory,
            definition,
            mode=mode,
            params=given,
            actor=actor,
            trigger="cli",
            confirmed=confirmed,
            confirm=ask,
            listener=None if as_json else display,
            caller=caller,
        )
    if as_json:
        from controlplane.runbook.journal import read_journal

        print_json(read_journal(store, result.run_id))
    else:
        figures = result.figures
        rto = figures.get("rto_seconds")
        line = f"run {result.run_id}: {result.status}"
        if rto is not None:
            line += f", RTO {rto:.2f} s (objective {figures['rto_objective_seconds']:g} s)"
        click.echo(line)
        if result.error:
            click.echo(f"error: {lines(result.error)}", err=True)
        click.echo(f"journal: egov runbook journal {result.run_id}")
    if not result.ok:
        raise SystemExit(EXIT_FAILED)


PARAM_OPTION = click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="Set a parameter.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the journal as JSON at the end.")
AS_OPTION = click.option(
    "--as",
    "as_user",
    metavar="USER",
    help="Apply this console user's role and sites (default: the local operator, every site; "
    "every named host must exist).",
)


@runbook.command()
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing anywhere.")
@PARAM_OPTION
@click.option("--yes", is_flag=True, help="Confirm a real run (and answer yes to its questions).")
@JSON_OPTION
@AS_OPTION
@pass_context
def run(
    context: CliContext,
    name: str,
    dry_run: bool,
    params: tuple[str, ...],
    yes: bool,
    as_json: bool,
    as_user: str | None,
) -> None:
    """Run a runbook for real (needs --yes or the typed name), or --dry-run for the plan.

    Scope: the local operator (every site) unless --as USER applies that
    console user's role and sites; a host outside them is refused (exit 2).
    """
    _execute(context, name, "dry-run" if dry_run else "run", params, yes, as_json, as_user)


@runbook.command()
@click.argument("name")
@PARAM_OPTION
@JSON_OPTION
@AS_OPTION
@pass_context
def drill(context: CliContext, name: str, params: tuple[str, ...], as_json: bool, as_user: str | None) -> None:
    """Rehearse a runbook on drill targets: real actions, RTO measured, then undone.

    Scope: the local operator (every site) unless --as USER applies that
    console user's role and sites; a host outside them is refused (exit 2).
    """
    _execute(context, name, "drill", params, True, as_json, as_user)


@runbook.command()
@click.argument("name")
@PARAM_OPTION
@click.option("--reason", default="", help="Why (kept with the approval).")
@AS_OPTION
@pass_context
def approve(context: CliContext, name: str, params: tuple[str, ...], reason: str, as_user: str | None) -> None:
    """Approve a real run of a runbook that needs a second person (same parameters, 1 h).

    Scope: the local operator (every site) unless --as USER applies that
    console user's role and sites (the approver must then hold runbooks.approve).
    """
    from controlplane.runbook.approvals import approve as record_approval
    from controlplane.runbook.loader import get_runbook
    from controlplane.runbook.params import parse_assignments, prepare
    from controlplane.runbook.scope import ScopeRefused

    definition = get_runbook(_folder(context), name)
    store = open_store(context)
    inventory = _inventory(context)
    caller, actor = caller_as(store, inventory, as_user)
    if not caller.holds("runbooks.approve"):
        raise ScopeRefused(f"--as {as_user}: approving needs the permission runbooks.approve")
    resolved = prepare(definition, "run", parse_assignments(params), inventory, caller, confirmed=True).params
    approval_id = record_approval(store, runbook=name, params=resolved, approver=actor, reason=reason)
    audit(store, "runbook.approve", name, approval=approval_id, params=resolved)
    click.echo(f"approval {approval_id} recorded for {name} (valid 1 h, by another person than the runner)")


@runbook.command()
@pass_context
def recover(context: CliContext) -> None:
    """Put back the credentials of drills that ended without restoring them (a killed drill); audited.

    Also done at the start of every runbook run; this command does it now.
    """
    from controlplane.audit import cli_actor
    from controlplane.runbook.drill_secrets import recover as recover_drills
    from controlplane.vault import open_vault

    store = open_store(context)
    done = recover_drills(store, lambda: open_vault(context.config, store), actor=cli_actor())
    for run_id, names in done.items():
        click.echo(f"run {run_id}: {len(names)} credential(s) put back")
    if not done:
        click.echo("no drill left credentials to put back")


@runbook.command()
@click.argument("run_id", type=int)
@pass_context
def cancel(context: CliContext, run_id: int) -> None:
    """Ask a running runbook to stop; its completed steps are rolled back."""
    from controlplane.runs import request_cancel

    store = open_store(context)
    with store.session() as session:
        status = request_cancel(session, run_id).status
    audit(store, "runbook.cancel", str(run_id))
    click.echo(f"run {run_id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")


@runbook.command()
@click.option("--name", help="Only this runbook.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def history(context: CliContext, name: str | None, limit: int, as_json: bool, wide: bool) -> None:
    """Runbook runs, newest first, with mode, status and RTO against objective."""
    from controlplane.runbook.history import runbook_history

    rows = runbook_history(open_store(context), name=name, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = []
    for row in rows:
        rto = f"{row['rto_seconds']:.2f} s" if row["rto_seconds"] is not None else None
        objective = f"{row['rto_objective_seconds']:g} s" if row["rto_objective_seconds"] else None
        table.append(
            [row["run_id"], row["runbook"], row["mode"], row["target"], row["actor"],
             styled(row["status"], STATUS_STYLE.get(row["status"], "")), moment(row["started_at"]),
             styled(rto, "red") if row["rto_met"] is False else rto, objective]
        )  # fmt: skip
    show_table(HISTORY_COLUMNS, table, wide=wide)


@runbook.command()
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["json", "md", "html"]), default="md", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to a file.")
@pass_context
def journal(context: CliContext, run_id: int, fmt: str, output: str | None) -> None:
    """Export a run's journal as JSON, Markdown or HTML."""
    from controlplane.runbook.export import export
    from controlplane.runbook.journal import read_journal

    text = export(read_journal(open_store(context), run_id), fmt)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"journal of run {run_id} written to {output}")
    else:
        click.echo(lines(text), nl=False)


@runbook.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def locks(context: CliContext, as_json: bool) -> None:
    """Show which targets are held by which runbook run."""
    from controlplane.runbook.locks import holders

    rows = holders(open_store(context))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        echo(f"{row['target']}: run {row['run_id']} ({row['runbook']}) by {row['actor']} since {row['acquired_at']}")
    if not rows:
        click.echo("no target is held")


@runbook.command()
@click.option("--all", "show_all", is_flag=True, help="Also decided and expired requests.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def requests(context: CliContext, show_all: bool, as_json: bool) -> None:
    """Show real runs asked for in the console that wait for a second approver (decide them in the console)."""
    from controlplane.runbook.approvals import PENDING, list_requests

    rows = [row for row in list_requests(open_store(context), limit=1000) if show_all or row["status"] == PENDING]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        decided = f" by {row['decided_by']}" if row.get("decided_by") else ""
        run = f", run {row['run_id']}" if row.get("run_id") else ""
        echo(
            f"{row['id']}  {row['runbook']} {params}  asked by {row['requester']} at {row['requested_at']}: "
            f"{row['status']}{decided}{run}"
        )
    if not rows:
        click.echo("no run request waits for an approver" if not show_all else "no run request")
