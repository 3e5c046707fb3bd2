"""The ``egov`` command: a click group whose subcommands load on demand.

Subcommands live one group per module and are imported only when called, so
``egov --help`` stays fast (no ansible, SQLAlchemy or Flask import on start).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING

import click

from controlplane.errors import EXIT_BAD_INPUT, EXIT_FAILED, EgovError

if TYPE_CHECKING:
    from controlplane.config import Config

# name -> (module, attribute, one-line help shown by `egov --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("controlplane.cli.init_command", "init", "Create egov.yml, the state store and the vault key."),
    "bootstrap": (
        "controlplane.cli.bootstrap",
        "bootstrap",
        "Bring a fresh lab to a working network: provision, harden, back up, drill, scan (once).",
    ),
    "config": ("controlplane.cli.config_command", "config", "Check the site configuration or print a sample."),
    "doctor": ("controlplane.cli.doctor", "doctor", "Show each external tool, its version and whether it is usable."),
    "secrets": ("controlplane.cli.secrets", "secrets", "Store and read secrets in the encrypted vault."),
    "audit": ("controlplane.cli.audit", "audit", "List and verify the hash-chained audit log."),
    "runs": ("controlplane.cli.runs", "runs", "List runs and show their output."),
    "inventory": ("controlplane.cli.inventory", "inventory", "Show sites, roles and hosts from the inventory."),
    "network": (
        "controlplane.cli.network",
        "network",
        "The network's zones, gateways and flows (network.yml); verify the reachability matrix.",
    ),
    "lab": ("controlplane.cli.lab", "lab", "Start, stop and break the local lab network."),
    "serve": ("controlplane.cli.serve", "serve", "Run the web console and scheduler."),
    "leader": ("controlplane.cli.leader", "leader", "Show which egov serve process runs the scheduler and monitor."),
    "users": ("controlplane.cli.users", "users", "Manage console users."),
    "retention": (
        "controlplane.cli.retention",
        "retention",
        "Delete run output, delivery log and probe history older than egov.yml's retention.",
    ),
    "provision": ("controlplane.cli.automation", "provision", "Provision hosts with the provision playbook."),
    "harden": ("controlplane.cli.automation", "harden", "Harden hosts to the national baseline (or --check drift)."),
    "scan": (
        "controlplane.cli.compliance",
        "scan",
        "Scan hosts against the compliance baseline and store the results.",
    ),
    "report": (
        "controlplane.cli.report",
        "report",
        "Export reports: compliance (html, json, csv, oscal), DR readiness.",
    ),
    "backup": ("controlplane.cli.backup", "backup", "Back up, restore and drill with restic; schedules and checks."),
    "monitor": (
        "controlplane.cli.monitor",
        "monitor",
        "Run the probes now or continuously; check the monitoring folder.",
    ),
    "alerts": ("controlplane.cli.alerts", "alerts", "List, acknowledge and silence alerts; the delivery log."),
    # controlplane.cli.slo adds `export slo` to the monitor module's export group (OpenSLO, SLO rules).
    "export": ("controlplane.cli.slo", "export", "Export Prometheus scrape config and rules; OpenSLO objectives."),
    "maintenance": (
        "controlplane.cli.maintenance",
        "maintenance",
        "Declare, list and end maintenance windows (left out of the error budget, alerts silenced).",
    ),
    "slo": ("controlplane.cli.slo", "slo", "Check service-level objectives (slo.yml); show budgets now."),
    "runbook": (
        "controlplane.cli.runbook",
        "runbook",
        "Run coded runbooks: dry-run, drill, run; history and journals.",
    ),
    "recovery": (
        "controlplane.cli.recovery",
        "recovery",
        "The control plane's recovery kit: make it (custodians' shares), check it is current.",
    ),
    "ca": (
        "controlplane.cli.ca",
        "ca",
        "The control plane's certificate authority: init, status, rotate, export, revoke.",
    ),
    "ssh": (
        "controlplane.cli.ssh_certs",
        "ssh",
        "Short-lived SSH certificates for people, for the hosts of their scope.",
    ),
    "hosts": (
        "controlplane.cli.hosts",
        "hosts",
        "Put a server under management: enrol it (key, certificate, inventory).",
    ),
    "install-service": (
        "controlplane.cli.install_service",
        "install_service",
        "Install systemd units for egov serve under a dedicated system user.",
    ),
    "recover": (
        "controlplane.cli.recovery",
        "recover",
        "Restore the control plane on this machine from the kit, K shares and a backup center.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _help = entry
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table so listing commands imports nothing.
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class CliContext:
    """Per-invocation state shared by subcommands: the config path, loaded lazily."""

    def __init__(self, config_path: str | None, verbose: bool) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """The validated site configuration (loads and validates on first use)."""
        if self._config is None:
            from controlplane.config import load_config

            self._config = load_config(self.config_path)
        return self._config


pass_context = click.make_pass_decorator(CliContext)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="EGOV_CONFIG",
    help="Site configuration (default: ./egov.yml, or $EGOV_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every command run (secrets masked).")
@click.version_option(package_name="egov-controlplane", prog_name="egov")
@click.pass_context
def egov(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """EduGov control plane: provision, harden, monitor, back up and recover."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # paramiko's transport thread logs, with a Python traceback, each failure that also reaches our code as an
    # exception and is reported there in our words, naming the host (a banner timeout, a refused host key, a
    # socket closed at a deadline): the operator's log gets the message once, without the traceback.
    logging.getLogger("paramiko").setLevel(logging.INFO if verbose else logging.CRITICAL)
    ctx.obj = CliContext(config_path, verbose)
    from controlplane.cli.wiring import wire

    wire()  # what the core and the engines need from other engines (controlplane.providers)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``egov`` console script; maps errors to exit codes."""
    try:
        result = egov.main(args=argv, prog_name="egov", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as error:
        from controlplane.cli.output import lines

        error.message = lines(error.message)  # it may quote what was typed or read: no escape sequences
        error.show()
        sys.exit(EXIT_BAD_INPUT if error.exit_code == 2 else error.exit_code)
    except EgovError as error:
        from controlplane.cli.output import lines

        click.echo(f"egov: {lines(error.message)}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILED)
    sys.exit(result if isinstance(result, int) else 0)
