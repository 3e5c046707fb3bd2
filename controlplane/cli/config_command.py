"""``egov config``: check the site configuration, show it, or print a sample."""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import print_json


@click.group()
def config() -> None:
    """Check the site configuration or print a sample."""


@config.command()
@pass_context
def check(context: CliContext) -> None:
    """Validate egov.yml and the inventory it names (every problem at once, exit 2)."""
    from controlplane.inventory import load_inventory

    settings = context.config
    inventory = load_inventory(settings.inventory)
    click.echo(f"ok: {settings.source} ({len(inventory.hosts)} hosts in {len(inventory.sites)} sites)")


@config.command()
def sample() -> None:
    """Print a commented sample egov.yml generated from the schema."""
    from controlplane.config_schema import sample_yaml

    click.echo(sample_yaml())


@config.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def show(context: CliContext, as_json: bool) -> None:
    """Show the effective configuration with absolute paths (no secret values)."""
    import dataclasses

    settings = context.config
    data = {key: str(value) if value is not None else None for key, value in dataclasses.asdict(settings).items()}
    data["receivers"] = [r.name for r in settings.receivers]
    if as_json:
        print_json(data)
        return
    from controlplane.cli.output import plain

    for key, value in data.items():
        click.echo(f"{key}: {plain(value)}")
