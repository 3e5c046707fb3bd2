"""``egov audit``: read and verify the hash-chained audit log."""

from __future__ import annotations

import json

import click

from controlplane.cli import Context, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.cli.output import Column, echo, moment, show_table, wide_option

AUDIT_COLUMNS = (
    Column("SEQ", key=True, justify="right"),
    Column("AT (UTC)", key=True),
    Column("ACTOR"),
    Column("ACTION", key=True),
    Column("TARGET"),
    Column("OUTCOME", key=True, optional=1),
    Column("CLIENT", optional=2),
)


@click.group()
def audit() -> None:
    """List and verify the hash-chained audit log."""


@audit.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--actor", help="Only records of this actor.")
@click.option("--action", help="Only actions starting with this text.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_records(
    context: Context, limit: int, actor: str | None, action: str | None, as_json: bool, wide: bool
) -> None:
    """Show the newest audit records first."""
    from controlplane.audit import list_records as fetch

    records = fetch(open_store(context), limit=limit, actor=actor, action=action)
    rows = [
        {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "target": r.target,
            "outcome": r.outcome,
            "client": r.client,
            "details": json.loads(r.details),
        }
        for r in records
    ]
    if as_json:
        print_json(rows)
        return
    show_table(
        AUDIT_COLUMNS,
        ([r["seq"], moment(r["at"], seconds=True), r["actor"], r["action"], r["target"], r["outcome"], r["client"]]
         for r in rows),
        wide=wide,
    )  # fmt: skip


@audit.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def verify(context: Context, as_json: bool) -> None:
    """Recompute the chain; exit 1 naming the first edited, deleted or moved record."""
    from controlplane.audit import verify as verify_chain

    result = verify_chain(open_store(context))
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "count": result.count,
                "head": result.head,
                "bad_seq": result.bad_seq,
                "reason": result.reason,
            }
        )
    elif result.ok:
        click.echo(f"ok: {result.count} records, chain intact; head {result.head}")
    else:
        echo(f"BROKEN at record {result.bad_seq}: {result.reason}", err=True)
    if not result.ok:
        raise SystemExit(1)
