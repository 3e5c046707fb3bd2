"""Helpers shared by the CLI command modules: store, vault, output, audit."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext

if TYPE_CHECKING:
    from controlplane.cli.output import SafeConsole
    from controlplane.store import Store
    from controlplane.vault import Vault


def open_store(context: CliContext) -> Store:
    """Open (and migrate) the state store of the configured site."""
    from controlplane.store import open_store as open_configured_store

    return open_configured_store(context.config)


def open_vault(context: CliContext, store: Store) -> Vault:
    """Open the vault on an open store with the configured master key."""
    from controlplane.vault import open_vault as open_configured_vault

    return open_configured_vault(context.config, store)


def print_json(data: Any) -> None:
    """Print data as indented JSON (UTF-8, non-ASCII kept) on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console() -> SafeConsole:
    """The CLI's rich console on stdout: strips control sequences, survives bad markup (see cli/output.py).

    Imported lazily to keep start-up fast.
    """
    from controlplane.cli.output import console as safe_console

    return safe_console()


def audit(store: Store, action: str, target: str, outcome: str = "ok", **details: Any) -> None:
    """Write one audit record for a CLI action (actor is the OS user, client local)."""
    from controlplane import audit as audit_log

    audit_log.append(
        store,
        actor=audit_log.cli_actor(),
        action=action,
        target=target,
        outcome=outcome,
        client="local",
        details=details,
        site=audit_log.site_from(details),
    )


def read_secret_input(prompt: str, confirm: bool = True) -> str:
    """Read a secret from stdin when piped, else from a hidden prompt.

    Secrets never come from argv (other users see argv in ps). Returns the
    value without its trailing newline.
    """
    if not sys.stdin.isatty():
        value = sys.stdin.read()
        return value[:-1] if value.endswith("\n") else value
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
