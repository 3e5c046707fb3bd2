"""``egov runs``: list runs, show one with its output, cancel one."""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import audit, open_store, print_json
from controlplane.cli.output import Column, echo, moment, plain, show_table, styled, wide_option

STATUS_STYLE = {
    "succeeded": "green",
    "running": "cyan",
    "queued": "blue",
    "partial": "yellow",
    "failed": "red",
    "cancelled": "magenta",
    "interrupted": "red",
}
RUN_COLUMNS = (
    Column("ID", key=True, justify="right"),
    Column("KIND", key=True),
    Column("TARGET"),
    Column("SITE", key=True, optional=1),
    Column("ACTOR", optional=2),
    Column("STATUS", key=True),
    Column("STARTED (UTC)", key=True),
    Column("SECONDS", key=True, optional=3, justify="right"),
)


@click.group()
def runs() -> None:
    """List runs and show their output."""


@runs.command("list")
@click.option("--status", type=click.Choice(list(STATUS_STYLE)), help="Only runs in this status.")
@click.option("--kind", help="Only runs of this kind (provision, backup, scan...).")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_runs(context: CliContext, status: str | None, kind: str | None, limit: int, as_json: bool, wide: bool) -> None:
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
    table = []
    for row in rows:
        seconds = f"{row['duration_seconds']:.1f}" if row["duration_seconds"] is not None else None
        table.append(
            [
                row["id"],
                row["kind"],
                row["target"],
                row["site"],
                row["actor"],
                styled(row["status"], STATUS_STYLE.get(row["status"], "")),
                moment(row["started_at"]),
                seconds,
            ]
        )
    show_table(RUN_COLUMNS, table, wide=wide)


@runs.command()
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def show(context: CliContext, run_id: int, as_json: bool) -> None:
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
        click.echo(f"{key}: {plain(data[key])}")
    click.echo("--- output ---")
    for line in lines:
        echo(line)


@runs.command()
@click.argument("run_id", type=int)
@pass_context
def cancel(context: CliContext, run_id: int) -> None:
    """Cancel a queued or running run (its owner stops it and marks it cancelled)."""
    from controlplane.runs import request_cancel

    store = open_store(context)
    with store.session() as session:
        run = request_cancel(session, run_id)
        status = run.status
    audit(store, "run.cancel", str(run_id))
    click.echo(f"run {run_id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")
