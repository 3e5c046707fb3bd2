"""``egov inventory``: the sites, roles and hosts the control plane manages."""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import console, print_json
from controlplane.cli.output import Column, safe, show_table, wide_option


@click.group()
def inventory() -> None:
    """Show sites, roles and hosts from the inventory."""


def _load(context: CliContext) -> object:
    from controlplane.inventory import load_inventory

    return load_inventory(context.config.inventory)


@inventory.command("list")
@click.option("--site", help="Only hosts of this site and the sites below it.")
@click.option("--limit", "pattern", help="Host pattern: names, groups, globs, comma-separated.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_hosts(context: CliContext, site: str | None, pattern: str | None, as_json: bool, wide: bool) -> None:
    """List hosts with their site, role and address."""
    loaded = _load(context)
    hosts = loaded.select(pattern, site=site)  # type: ignore[attr-defined]
    if as_json:
        print_json(
            [
                {
                    "name": h.name,
                    "address": h.address,
                    "site": h.site,
                    "role": h.role,
                    "groups": list(h.groups),
                    "vars": h.variables,
                }
                for h in hosts
            ]
        )
        return
    columns = (
        Column("HOST", key=True),
        Column("SITE", key=True),
        Column("ROLE", key=True),
        Column("ADDRESS", key=True),
        Column("GROUPS", optional=1),
    )
    show_table(columns, ([h.name, h.site, h.role, h.address, ", ".join(h.groups)] for h in hosts), wide=wide)


@inventory.command()
@pass_context
def tree(context: CliContext) -> None:
    """Show sites (nested by parent), their roles and hosts as a tree."""
    from rich.tree import Tree

    loaded = _load(context)
    sites = loaded.sites  # type: ignore[attr-defined]
    hosts = loaded.hosts  # type: ignore[attr-defined]
    root = Tree(f"[bold]{safe(context.config.site_name)}[/]")

    def add_site(parent: Tree, name: str) -> None:
        site = sites[name]
        label = f"[bold cyan]{safe(name)}[/] ({safe(site.level)})" + (
            f" {safe(site.title_zh)}" if site.title_zh else ""
        )
        branch = parent.add(label)
        roles: dict[str, list[str]] = {}
        for host in hosts:
            if host.site == name:
                roles.setdefault(host.role, []).append(f"{safe(host.name)} [dim]{safe(host.address)}[/]")
        for role, names in sorted(roles.items()):
            role_branch = branch.add(f"[magenta]{safe(role)}[/]")
            for host_label in names:
                role_branch.add(host_label)
        for child in sorted(s.name for s in sites.values() if s.parent == name):
            add_site(branch, child)

    for top in sorted(s.name for s in sites.values() if not s.parent or s.parent not in sites):
        add_site(root, top)
    console().print(root)
