"""``egov retention run [--dry-run]``: delete run output, delivery log and probe history past egov.yml's retention.

The same work the scheduled retention job does (:mod:`controlplane.retention`),
now, printing what it removed (or, with ``--dry-run``, what it would remove,
removing nothing). Audited as ``retention.run`` when anything went.
"""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json


@click.group()
def retention() -> None:
    """Apply the retention settings of egov.yml."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def run(context: CliContext, dry_run: bool, as_json: bool) -> None:
    """Delete history older than the retention settings (runs stay, their output lines go)."""
    from controlplane.audit import cli_actor
    from controlplane.retention import RetentionPolicy, apply_retention, audit_report, describe

    policy = RetentionPolicy.from_config(context.config)
    store = open_store(context)
    try:
        report = apply_retention(store, policy, dry_run=dry_run)
        audit_report(store, report, cli_actor())
    finally:
        store.close()
    if as_json:
        print_json({**report.as_dict(), "policy": vars(policy)})
        return
    for line in describe(report, policy):
        click.echo(line)
