"""``egov users``: add, list, disable console users; set passwords; reset TOTP.

Passwords come from stdin (when piped) or a hidden prompt, never from argv
(other users see argv in ``ps``). Every change is audited with the OS user as
actor.
"""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import audit, open_store, print_json, read_secret_input

ROLE_CHOICES = ("admin", "operator", "oncall", "security_officer", "auditor")


@click.group()
def users() -> None:
    """Manage console users."""


def _known_sites(context: CliContext) -> list[str] | None:
    """The inventory's site names, to check --site against (None when the inventory cannot be read)."""
    from controlplane.errors import ConfigError
    from controlplane.inventory import load_inventory

    try:
        return sorted(load_inventory(context.config.inventory).sites)
    except ConfigError as error:
        click.echo(f"warning: sites not checked, the inventory does not load: {error.message}", err=True)
        return None


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES), help="The user's role.")
@click.option("--site", "sites", multiple=True, help="A site the user may see (repeat; none = every site).")
@click.option("--display-name", help="Name shown in the console.")
@click.option("--language", type=click.Choice(["en", "zh_CN"]), help="Interface language (default: the browser's).")
@pass_context
def add(
    context: CliContext, name: str, role: str, sites: tuple[str, ...], display_name: str | None, language: str | None
) -> None:
    """Add a user; the password is read from stdin or a prompt (at least 12 characters)."""
    from controlplane import users as accounts

    accounts.check_name(name)
    known = _known_sites(context)
    accounts.check_sites(sites, known)
    password = read_secret_input(f"password for {name}")
    store = open_store(context)
    try:
        with store.session() as session:
            user = accounts.create_user(
                session,
                name=name,
                role=role,
                password=password,
                sites=list(sites),
                known_sites=known,
                display_name=display_name,
                language=language,
            )
        audit(store, "user.create", name, role=role, sites=list(user.sites))
    finally:
        store.close()
    scope = ", ".join(user.sites) if user.sites else "every site"
    click.echo(f"added {name} ({role}, {scope})")
    if role == "admin":
        click.echo("admins must enrol TOTP at their first login")


@users.command("passwd")
@click.argument("name")
@pass_context
def passwd(context: CliContext, name: str) -> None:
    """Set a user's password (read from stdin or a prompt); their sessions end, their API tokens are revoked."""
    from controlplane import users as accounts

    password = read_secret_input(f"new password for {name}")
    accounts.check_new_password(password)
    store = open_store(context)
    try:
        with store.session() as session:
            user = accounts.require_user(session, name)
            revoked = accounts.set_password(session, user, password)
        audit(store, "user.password", name, by="cli", tokens_revoked=revoked)
    finally:
        store.close()
    click.echo(f"password of {name} changed ({revoked} API token(s) revoked)")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--wide", is_flag=True, help="Show every column at full width (default: fit the terminal).")
@pass_context
def list_users(context: CliContext, as_json: bool, wide: bool) -> None:
    """Show every user with role, sites and state."""
    from controlplane import users as accounts

    store = open_store(context)
    try:
        with store.session() as session:
            rows = [accounts.user_summary(user) for user in accounts.list_users(session)]
    finally:
        store.close()
    if as_json:
        print_json(rows)
        return
    from controlplane.cli.output import Column, moment, show_table

    columns = (
        Column("NAME", key=True),
        Column("ROLE", key=True),
        Column("SITES"),
        Column("TOTP", key=True, optional=2),
        Column("STATE", key=True),
        Column("LAST LOGIN (UTC)", key=True, optional=1),
    )
    table = [
        [row["name"], row["role"], ", ".join(row["sites"]) or "(all)", "on" if row["totp_enabled"] else "off",
         "disabled" if row["disabled"] else "active", moment(row["last_login_at"])]
        for row in rows
    ]  # fmt: skip
    show_table(columns, table, wide=wide)


@users.command("disable")
@click.argument("name")
@pass_context
def disable(context: CliContext, name: str) -> None:
    """Disable a user: sessions end at their next request, API tokens are revoked."""
    from controlplane import users as accounts

    store = open_store(context)
    try:
        with store.session() as session:
            user = accounts.require_user(session, name)
            user.disabled = True
            revoked = accounts.revoke_all_tokens(session, user)
        audit(store, "user.disable", name, tokens_revoked=revoked)
    finally:
        store.close()
    click.echo(f"disabled {name} ({revoked} token(s) revoked)")


@users.command("enable")
@click.argument("name")
@pass_context
def enable(context: CliContext, name: str) -> None:
    """Enable a disabled user again."""
    from controlplane import users as accounts

    store = open_store(context)
    try:
        with store.session() as session:
            accounts.require_user(session, name).disabled = False
        audit(store, "user.enable", name)
    finally:
        store.close()
    click.echo(f"enabled {name}")


@users.command("totp-reset")
@click.argument("name")
@pass_context
def totp_reset(context: CliContext, name: str) -> None:
    """Remove a user's TOTP secret; they enrol again at their next login."""
    from controlplane import users as accounts
    from controlplane.cli.common import open_vault

    store = open_store(context)
    try:
        vault = open_vault(context, store)
        with store.session() as session:
            accounts.reset_totp(session, vault, accounts.require_user(session, name))
        audit(store, "user.totp_reset", name)
    finally:
        store.close()
    click.echo(f"TOTP of {name} reset")
