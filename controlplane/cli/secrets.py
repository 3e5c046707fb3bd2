"""``egov secrets``: the encrypted vault. Values come from stdin or a prompt, never argv."""

from __future__ import annotations

import click

from controlplane.audit.keys import refuse_audit_key
from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import audit, open_store, open_vault, read_secret_input


@click.group()
def secrets() -> None:
    """Store and read secrets in the encrypted vault."""


@secrets.command("set")
@click.argument("name")
@pass_context
def set_secret(context: CliContext, name: str) -> None:
    """Store secret NAME; the value is read from stdin or a hidden prompt."""
    from controlplane.vault import check_name

    check_name(name)
    refuse_audit_key(name)
    value = read_secret_input(f"value for {name}")
    store = open_store(context)
    vault = open_vault(context, store)
    existed = vault.exists(name)
    vault.set(name, value)
    audit(store, "secret.set", name, replaced=existed)
    click.echo(f"{'replaced' if existed else 'stored'} secret {name}", err=True)


@secrets.command("get")
@click.argument("name")
@pass_context
def get_secret(context: CliContext, name: str) -> None:
    """Print the value of secret NAME on stdout (the read is audited)."""
    store = open_store(context)
    vault = open_vault(context, store)
    value = vault.get(name)
    audit(store, "secret.read", name)
    click.echo(value)


@secrets.command("list")
@pass_context
def list_secrets(context: CliContext) -> None:
    """List secret names, one a line (never values)."""
    store = open_store(context)
    for name in open_vault(context, store).names():
        click.echo(name)


@secrets.command("delete")
@click.argument("name")
@pass_context
def delete_secret(context: CliContext, name: str) -> None:
    """Delete secret NAME."""
    refuse_audit_key(name)
    store = open_store(context)
    open_vault(context, store).delete(name)
    audit(store, "secret.delete", name)
    click.echo(f"deleted secret {name}", err=True)


@secrets.command("rotate-key")
@pass_context
def rotate_key(context: CliContext) -> None:
    """Re-encrypt every secret under a new master key (crash-safe)."""
    store = open_store(context)
    vault = open_vault(context, store)
    count = vault.rotate_key()
    audit(store, "vault.rotate_key", str(context.config.key_file), secrets=count)
    click.echo(f"re-encrypted {count} secret(s) under a new master key in {context.config.key_file}")
