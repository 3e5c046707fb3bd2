"""``egov audit``: read and verify the hash-chained audit log."""

from __future__ import annotations

import json

import click

from controlplane.cli import CliContext, pass_context
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
    context: CliContext, limit: int, actor: str | None, action: str | None, as_json: bool, wide: bool
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
@click.option("--local-only", is_flag=True, help="Skip the anchor logs on the backup centers (no SSH).")
@pass_context
def verify(context: CliContext, as_json: bool, local_only: bool) -> None:
    """Recompute the chain over archives and database against every anchor; exit 1 naming the first problem."""
    from controlplane.audit import verify as verify_chain

    result = verify_chain(open_store(context), remote=not local_only)
    if as_json:
        print_json(result.as_dict())
    else:
        for number, line in enumerate(result.report_lines()):
            echo(line, err=not result.ok and number == 0)
    if not result.ok:
        raise SystemExit(1)


@audit.command("anchor")
@click.option("--local-only", is_flag=True, help="Only the local anchor log (no SSH to the backup centers).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def anchor_command(context: CliContext, local_only: bool, as_json: bool) -> None:
    """Write the chain's head to the anchor logs now (the scheduler does it every few minutes); exit 1 if one failed."""
    from controlplane.audit.anchor import anchor_head

    results = anchor_head(context.config, open_store(context), remote=not local_only)
    if as_json:
        print_json([result.__dict__ for result in results])
    for result in results if not as_json else []:
        state = "written" if result.written else ("FAILED: " + result.error if result.error else "unchanged")
        echo(f"{result.where}: record {result.seq} {result.head[:16]}… {state}", err=bool(result.error))
    if any(result.error for result in results):
        raise SystemExit(1)


@audit.command("archive")
@click.option(
    "--before",
    "days",
    type=click.IntRange(0, 36500),
    default=None,
    help="Archive records older than this many days (default: retention.audit_days).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def archive_command(context: CliContext, days: int | None, as_json: bool) -> None:
    """Move old records to a compressed, chained archive file, then out of the database (never dropped)."""
    from controlplane.audit.archive import archive_older_than

    limit = context.config.retention_audit_days if days is None else days
    if days is None and limit == 0:
        echo("retention.audit_days is 0 (keep every record in the database): nothing archived; give --before")
        return
    made = archive_older_than(context.config, open_store(context), limit)
    if as_json:
        print_json({**made.__dict__, "path": str(made.path)} if made else None)
    elif made is None:
        echo(f"nothing older than {limit} days to archive")
    else:
        echo(
            f"archived records {made.first_seq}-{made.last_seq} ({made.count}) to {made.path} "
            f"(sha256 {made.sha256}); vouched for by record {made.voucher_seq}"
        )
