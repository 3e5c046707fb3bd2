"""``egov runs``: list runs, show one with its output, cancel one."""

from __future__ import annotations

import click

from controlplane.cli import Context, pass_context
from controlplane.cli.common import audit, console, open_store, print_json

STATUS_STYLE = {
    "succeeded": "green",
    "running": "cyan",
    "queued": "blue",
    "partial": "yellow",
    "failed": "red",
    "cancelled": "magenta",
    "interrupted": "red",
}


@click.group()
def runs() -> None:
    """List runs and show their output."""


@runs.command("list")
@click.option("--status", type=click.Choice(list(STATUS_STYLE)), help="Only runs in this status.")
@click.option("--kind", help="Only runs of this kind (provision, backup, scan...).")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def list_runs(context: Context, status: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Show the newest runs first."""
    from sqlalchemy import select

    from controlplane.store.models import Run

    store = open_store(context)
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    if status:
        query = query.where(Run.status == status)
    if kind:
        query = query.where(Run.kind == kind)
    with store.session() as session:
        rows = [run.as_dict() for run in session.scalars(query)]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "kind", "target", "site", "actor", "status", "started (UTC)", "seconds")
    for row in rows:
        style = STATUS_STYLE.get(row["status"], "")
        seconds = f"{row['duration_seconds']:.1f}" if row["duration_seconds"] is not None else ""
        table.add_row(
            str(row["id"]),
            row["kind"],
            row["target"],
            row["site"] or "",
            row["actor"],
            f"[{style}]{row['status']}[/]",
            (row["started_at"] or "")[:19],
            seconds,
        )
    console().print(table)


@runs.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def show(context: Context, run_id: int, as_json: bool) -> None:
    """Show one run and its output."""
    from controlplane.errors import BadInputError
    from controlplane.runs import read_output
    from controlplane.store.models import Run

    store = open_store(context)
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise BadInputError(f"no run {run_id}")
        data = run.as_dict()
        lines = [line.text for line in read_output(session, run_id, 0, limit=1_000_000)]
    if as_json:
        print_json({**data, "output": lines})
        return
    for key in ("id", "kind", "target", "site", "actor", "trigger", "status", "created_at", "finished_at", "summary"):
        click.echo(f"{key}: {data[key]}")
    click.echo("--- output ---")
    for line in lines:
        click.echo(line)


@runs.command()
@click.argument("run_id", type=int)
@pass_context
def cancel(context: Context, run_id: int) -> None:
    """Cancel a queued or running run (its owner stops it and marks it cancelled)."""
    from controlplane.runs import request_cancel

    store = open_store(context)
    with store.session() as session:
        run = request_cancel(session, run_id)
        status = run.status
    audit(store, "run.cancel", str(run_id))
    click.echo(f"run {run_id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")
