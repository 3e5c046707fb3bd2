"""``egov hosts enrol``: put a Debian server the control plane has never managed under management.

Exit codes: 0 enrolled and scanned; 1 a step failed (the message names it;
the same command continues where it stopped) or the first scan could not
assess the host; 2 bad input (all problems at once), a host key that does
not match ``--fingerprint`` or was not confirmed: nothing changed.

The root password is read once, from stdin when it is piped, else from a
prompt that does not echo; never from the command line.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store
from controlplane.cli.output import safe

if TYPE_CHECKING:
    from collections.abc import Callable

    from controlplane.automation.first_contact import HostKey
    from controlplane.cli.output import SafeConsole
    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.store import Store

MARKS = {"start": "[cyan]…[/]", "ok": "[green]✓[/]", "skipped": "[dim]–[/]", "failed": "[red]✗[/]"}


@click.group()
def hosts() -> None:
    """Put servers under management."""


def _show(out: SafeConsole) -> Callable[[str, str, str], None]:
    from controlplane.automation.enrol import STEPS

    started: set[str] = set()

    def on_step(step: str, state: str, detail: str) -> None:
        number = f"[{STEPS.index(step) + 1}/{len(STEPS)}]" if step in STEPS else "[?]"
        text = safe(step) + (f": {safe(detail)}" if detail else "")
        if state == "start":
            started.add(step)
            out.print(f"{number} {text} …", soft_wrap=True)
        else:
            lead = " " * len(number) if step in started else number
            out.print(f"{lead} {MARKS.get(state, '')} {text}", soft_wrap=True)

    return on_step


def _confirm(name: str, interactive: bool, yes: bool) -> Callable[[HostKey, bool], bool]:
    def confirm_key(host_key: HostKey, verified: bool) -> bool:
        if verified and yes:
            return True
        if not interactive:
            raise click.UsageError(
                "no terminal to ask on: give --fingerprint SHA256:... (checked out of band) and --yes"
            )
        if verified:
            return click.confirm(f"host key {host_key.fingerprint} verified: enrol {name} now?", default=False)
        click.echo(
            f"\nThe server at {name}'s address shows this host key:\n\n"
            f"    {host_key.key_type} {host_key.fingerprint}\n\n"
            "Compare it with what the server's own console prints for\n"
            "    ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n"
            "(or what its provider or installer reported). Accept only when they are the same.",
            err=True,
        )
        return click.confirm("Is this the key of that server?", default=False, err=True)

    return confirm_key


def _password(name: str) -> Callable[[], str]:
    def read_password() -> str:
        from controlplane.cli.common import read_secret_input

        value = read_secret_input(f"root password of {name} (not echoed)", confirm=False)
        if not value:
            raise click.UsageError("no root password given (stdin or the prompt)")
        return value

    return read_password


def _scanner(config: Config, store: Store) -> Callable[[Host], tuple[bool, str]]:
    def scan(host: Host) -> tuple[bool, str]:
        from controlplane.audit import cli_actor
        from controlplane.compliance.scoring import score
        from controlplane.compliance.service import execute_scan, plan_scan

        outcome = execute_scan(config, store, plan_scan(config, limit=host.name), actor=cli_actor())
        value = score(outcome.scan.results)
        percent = "n/a" if value.before_waivers is None else f"{value.before_waivers:.1f}%"
        summary = (
            f"scan {outcome.scan_id} (run {outcome.run_id}) {outcome.status}: {percent} before waivers; "
            f"{value.failed} fail, {value.errors} error, {value.waived} waived, {value.passed} pass"
        )
        return outcome.exit_code == 0, summary

    return scan


@hosts.command()
@click.argument("name")
@click.option("--address", required=True, metavar="ADDRESS", help="IP address or DNS name the control plane uses.")
@click.option("--site", required=True, metavar="SITE", help="The site it belongs to (a site of the inventory).")
@click.option("--role", required=True, metavar="ROLE", help="Its role (a role group of the inventory).")
@click.option("--port", default=22, show_default=True, type=int, help="sshd's port.")
@click.option(
    "--fingerprint", metavar="SHA256:...",
    help="The host key's fingerprint, read on the server's console (ssh-keygen -lf "
    "/etc/ssh/ssh_host_ed25519_key.pub): a different key is refused; without it you are asked.",
)  # fmt: skip
@click.option(
    "--yes", is_flag=True, help="Do not ask before enrolling; only with --fingerprint (a key is never taken unseen)."
)
@click.option("--no-scan", is_flag=True, help="Skip the first compliance scan.")
@pass_context
def enrol(
    context: CliContext, name: str, address: str, site: str, role: str, port: int, fingerprint: str | None,
    yes: bool, no_scan: bool,
) -> int:  # fmt: skip
    """Enrol a Debian server: confirm its host key, install the management key (root's password once),
    pin and certify its key, add it to the inventory (comments kept) and scan it.

    \b
    egov hosts enrol gd-school-2 --address 10.198.0.52 --site school-gd-1 --role school
    egov hosts enrol gd-school-2 --address 10.198.0.52 --site school-gd-1 --role school \\
        --fingerprint SHA256:... --yes < root-password-file
    """
    from controlplane.audit import cli_actor
    from controlplane.automation.enrol import EnrolRequest, Steps, certifier
    from controlplane.automation.enrol import enrol as run_enrol
    from controlplane.cli.output import console

    if yes and fingerprint is None:
        raise click.UsageError("--yes needs --fingerprint: a host key is never accepted without being checked")
    interactive = sys.stdin.isatty()
    if not interactive and not (fingerprint and yes):
        raise click.UsageError(
            "stdin is not a terminal (the password comes from it), so nothing can be asked: "
            "give --fingerprint SHA256:... (read on the server's console) and --yes"
        )
    config = context.config
    out = console(stderr=True)
    store = open_store(context)
    actor = cli_actor()
    steps = Steps(
        confirm_key=_confirm(name, interactive, yes),
        read_password=_password(name),
        certify=certifier(config, store, actor),
        scan=None if no_scan else _scanner(config, store),
        on_step=_show(out),
    )
    request = EnrolRequest(name, address, site, role, port, fingerprint)
    try:
        outcome = run_enrol(config, store, request, steps, actor=actor)
    finally:
        store.close()
    out.print(
        f"[green]{safe(name)} is enrolled[/] ({safe(outcome.fingerprint)}). Next: "
        f"egov provision --limit {safe(name)}; egov harden --limit {safe(name)}",
        soft_wrap=True,
    )
    return outcome.exit_code
