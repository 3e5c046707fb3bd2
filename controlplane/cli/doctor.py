"""``egov doctor``: each external tool, its path, version and whether it is usable.

Exit 0 when every required tool is usable, 1 otherwise, so scripts and CI can
gate on it. It never reads ``egov.yml``: it is the first thing to run on a new
machine, before ``egov init``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from controlplane.doctor import ToolCheck, all_required_usable, report, run_checks


def _status(check: ToolCheck) -> Text:
    if check.usable:
        return Text("ok", style="green")
    # A missing optional tool only disables one feature: yellow, not red.
    return Text(check.reason, style="red" if check.required else "yellow")


def _needed_for(check: ToolCheck) -> str:
    need = "required" if check.required else "for"
    wanted = f", >= {check.minimum}" if check.minimum else ""
    return f"{need}: {check.purpose}{wanted}"


def render_table(checks: Sequence[ToolCheck]) -> Table:
    """Return a rich table with one row per checked tool."""
    table = Table(title="External tools", title_justify="left")
    table.add_column("tool", style="bold", no_wrap=True)
    table.add_column("path", overflow="fold")
    table.add_column("version", no_wrap=True)
    table.add_column("usable", overflow="fold")
    table.add_column("needed", overflow="fold")
    for check in checks:
        table.add_row(
            check.name,
            check.path or "-",
            check.version or "-",
            _status(check),
            _needed_for(check),
        )
    return table


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Show each external tool, its version and whether it is usable.

    Exits 0 when every required tool (restic >= 0.17, ssh, sshd, ssh-keygen,
    ip, nsenter, unshare) is usable, 1 otherwise.
    """
    verbose = bool(getattr(ctx.obj, "verbose", False))
    if not verbose:
        # A failing version command is a finding shown in the table, not a
        # warning to print twice.
        logging.getLogger("controlplane.execute").setLevel(logging.ERROR)
    checks = run_checks()
    ok = all_required_usable(checks)
    if as_json:
        click.echo(json.dumps(report(checks), indent=2))
    else:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            # Piped or captured: rich would assume 80 columns and fold every path.
            console = Console(width=160)
        console.print(render_table(checks))
        if ok:
            console.print("[green]every required tool is usable[/green]")
        else:
            broken = ", ".join(c.name for c in checks if c.required and not c.usable)
            console.print(f"[red]required tools not usable: {broken}[/red]")
    if not ok:
        ctx.exit(1)
