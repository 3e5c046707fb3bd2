"""``egov lab``: start, stop, inspect and break the local lab network.

Exit codes: 0 ok, 1 the work failed (not root, a host did not start),
2 bad input (unknown host, action or service). ``egov lab ssh`` becomes the
``ssh`` process, so its exit code is ssh's: the remote command's, or 255
when the connection fails.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext, pass_context

if TYPE_CHECKING:
    from rich.console import Console

STATE_STYLES = {"running": "green", "stopped": "yellow", "isolated": "magenta", "down": "red"}


@click.group()
def lab() -> None:
    """Start, stop and break the local lab network (real sshd hosts; needs root)."""


def _print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _print_table(data: dict[str, Any], wide: bool = False, out: Console | None = None) -> None:
    """Print the lab's status: a line about the bridge, a table of hosts, how to ssh in."""
    from controlplane.cli.output import Column, console, show_table, styled

    columns = (
        Column("HOST", key=True),
        Column("SITE", key=True),
        Column("ROLE", key=True),
        Column("ADDRESS", key=True),
        Column("STATE", key=True),
        Column("PID", key=True, justify="right", optional=5),
        Column("LINK", key=True, optional=4),
        Column("SSHD", key=True, optional=3),
        Column("SERVICES", optional=1),
        Column("DETAIL", optional=2),
    )
    out = out or console()
    bridge = "up" if data["bridge_up"] else "absent"
    out.print(
        f"bridge {data['bridge']} ({bridge}), gateway {data['gateway']}, subnet {data['subnet']}, "
        f"portal VIP {data['portal_vip'] or '-'}",
        markup=False,
    )
    zones = data.get("zones") or []
    if zones:
        up = sum(1 for zone in zones if zone["up"])
        bridges = f"{zones[0]['bridge']}..{zones[-1]['bridge']}" if len(zones) > 1 else zones[0]["bridge"]
        out.print(f"data plane: {len(zones)} zones on bridges {bridges}, {up} up (details: --json)", markup=False)
    rows = []
    for host in data["hosts"]:
        others = sorted(name for name, info in host["services"].items() if name != "sshd" and info.get("running"))
        rows.append(
            [host["name"], host["site"], host["role"], host["address"],
             styled(host["state"], STATE_STYLES.get(host["state"], "")), host["pid"], host["link"], host["sshd"],
             ", ".join(others) or None, host["detail"]]
        )  # fmt: skip
    show_table(columns, rows, wide=wide, out=out)
    out.print(f"ssh: egov lab ssh HOST  (key {data['key_file']}, known hosts {data['known_hosts']})", markup=False)


def _audit(context: CliContext, action: str, target: str, **details: Any) -> None:
    """Record a lab change in the audit log when the site has a store (after `egov init`)."""
    from controlplane.cli.common import audit, open_store

    if not context.config.key_file.exists():
        return  # not initialised: there is no audit log to write to yet
    store = open_store(context)
    try:
        audit(store, action, target, **details)
    finally:
        store.close()


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--wide", is_flag=True, help="Show every column at full width (default: fit the terminal).")
@pass_context
def up(context: CliContext, as_json: bool, wide: bool) -> None:
    """Bring the lab up (idempotent: also repairs a half-up lab).

    Converges every host to running: creates what is missing, restarts a
    crashed host or a stopped sshd and heals a cut link; a running host is
    left alone. With inventory/network.yml it also cables the data plane:
    a bridge per zone, each host's zone legs and routes, forwarding on the
    gateway hosts only.
    """
    from controlplane.lab import manager

    started = time.monotonic()
    spec = manager.load_spec(context.config)
    manager.up(context.config, spec)
    data = manager.report(context.config, spec)
    _audit(context, "lab.up", "lab", hosts=len(data["hosts"]))
    if as_json:
        _print_json(data)
        return
    _print_table(data, wide)
    running = sum(1 for host in data["hosts"] if host["state"] == "running")
    click.echo(f"lab up: {running}/{len(data['hosts'])} hosts running in {time.monotonic() - started:.1f} s")


@lab.command()
@click.option("--purge", is_flag=True, help="Also delete the hosts' disks (their upper dirs and host keys).")
@pass_context
def down(context: CliContext, purge: bool) -> None:
    """Stop every lab host and remove namespaces, links, bridge and guard rules."""
    from controlplane.lab import manager

    started = time.monotonic()
    manager.down(context.config, purge=purge)
    _audit(context, "lab.down", "lab", purge=purge)
    click.echo(f"lab down in {time.monotonic() - started:.1f} s{' (disks purged)' if purge else ''}")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: lab facts and a list of hosts.")
@click.option("--wide", is_flag=True, help="Show every column at full width (default: fit the terminal).")
@pass_context
def status(context: CliContext, as_json: bool, wide: bool) -> None:
    """Show each lab host's real state: running, stopped, isolated or down."""
    from controlplane.lab import manager

    data = manager.report(context.config)
    if as_json:
        _print_json(data)
    else:
        _print_table(data, wide)


@lab.command(context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@pass_context
def ssh(context: CliContext, host: str, argv: tuple[str, ...]) -> None:
    """Open a shell on HOST, or run a command: egov lab ssh HOST -- ARGV...

    Each word of ARGV reaches the remote side as one word (quoted), never as
    shell syntax. Host keys are pinned: an unknown or changed key is refused.
    """
    from controlplane import execute
    from controlplane.lab import manager

    tty = not argv and sys.stdin.isatty() and sys.stdout.isatty()
    words = manager.ssh_command(context.config, host, list(argv), tty=tty)
    if context.verbose:
        click.echo(f"exec: {execute.describe(words)}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process with ssh (no child): the terminal, signals and the
    # exit code belong to ssh.
    execute.replace_process(words)


@lab.command()
@click.argument("host")
@click.argument("action", type=click.Choice(["down", "up", "isolate", "wedge", "heal"]))
@click.option("--service", default=None, metavar="NAME", help="Service for down/up (default sshd).")
@click.option("--json", "as_json", is_flag=True, help="Print the host's new status as JSON.")
@pass_context
def fault(context: CliContext, host: str, action: str, service: str | None, as_json: bool) -> None:
    """Break or mend HOST for a drill.

    \b
    down     stop sshd (or --service NAME); the namespace keeps running
    up       start it again
    isolate  cut the host's links (management and every zone leg)
    wedge    freeze its sshd processes (SIGSTOP): TCP connects, nothing answers
    heal     restore the links and continue a wedged sshd (SIGCONT)
    """
    from controlplane.lab import manager

    result = manager.fault(context.config, host, action, service)
    _audit(context, f"lab.fault.{action}", host, service=service or "sshd")
    if as_json:
        _print_json(result.to_dict())
        return
    what = f"{action} {service or 'sshd'}" if action in ("down", "up") else action
    from controlplane.cli.output import echo

    echo(f"{result.name}: {what} done; state {result.state}" + (f" ({result.detail})" if result.detail else ""))
