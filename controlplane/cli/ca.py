"""``egov ca``: the control plane's certificate authority (init, status, rotate, export, revoke, list, root moves)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json, read_secret_input
from controlplane.cli.output import Column, echo, moment, show_table, styled, wide_option
from controlplane.errors import EXIT_FAILED, BadInputError

if TYPE_CHECKING:
    from controlplane.pki.authority import AuthorityStatus

SERIAL = re.compile(r"^[0-9]{1,19}$")
KINDS = ("ssh-host", "ssh-user", "tls", "ca")
CERT_COLUMNS = (
    Column("SERIAL", key=True, justify="right"),
    Column("KIND", key=True),
    Column("SUBJECT", key=True),
    Column("PRINCIPALS", optional=2),
    Column("NOT AFTER (UTC)", key=True),
    Column("STATE", key=True),
    Column("REQUESTER", optional=1),
)


def _requester() -> str:
    from controlplane.audit import cli_actor

    return cli_actor()


@click.group()
def ca() -> None:
    """The control plane's certificate authority: init, status, rotate, export, revoke."""


def _print_status(state: AuthorityStatus) -> None:
    online = "online (in the vault)" if state.root_online else "OFFLINE (egov ca root-online --in FILE)"
    echo(f"root CA          {state.root_fingerprint}")
    echo(f"  valid until    {moment(state.root_not_after)} UTC; key {online}")
    echo(f"intermediate CA  {state.intermediate_fingerprint}")
    echo(f"  valid until    {moment(state.intermediate_not_after)} UTC")
    for index, fingerprint in enumerate(state.ssh_ca_fingerprints):
        echo(f"SSH CA           {fingerprint} ({'current' if index == 0 else 'previous, still trusted'})")
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(state.issued.items())) or "none"
    echo(f"issued           {counts}; revoked {state.revoked}")
    echo(f"public files     {state.pki_dir}")


@ca.command()
@pass_context
def init(context: CliContext) -> None:
    """Create the CA (root, intermediate, SSH CA); an existing CA is kept as it is."""
    from controlplane.pki.authority import init_authority

    store = open_store(context)
    authority = init_authority(context.config, store, _requester())
    _print_status(authority.status())


@ca.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status(context: CliContext, as_json: bool) -> None:
    """Show the CA: fingerprints, validity, whether the root key is online, counts (exit 1 before init)."""
    from controlplane.pki.authority import authority_status

    state = authority_status(context.config, open_store(context))
    if as_json:
        print_json(state.as_dict())
    elif state.initialised:
        _print_status(state)
    else:
        echo("the CA is not initialised: run `egov ca init`", err=True)
    if not state.initialised:
        raise SystemExit(EXIT_FAILED)


@ca.command()
@click.option("--ssh/--no-ssh", default=True, show_default=True, help="Make a new SSH CA key.")
@click.option(
    "--intermediate/--no-intermediate",
    default=True,
    show_default=True,
    help="Make a new intermediate (needs the root).",
)
@pass_context
def rotate(context: CliContext, ssh: bool, intermediate: bool) -> None:
    """Replace the intermediate and/or the SSH CA key; the previous SSH CA stays trusted until the next rotation."""
    from controlplane.pki.authority import rotate_authority

    authority = rotate_authority(context.config, open_store(context), _requester(), ssh=ssh, intermediate=intermediate)
    if ssh:  # OpenSSH clients (ansible) trust the new SSH CA line at once
        from controlplane.inventory import load_inventory
        from controlplane.ssh.trust import write_cert_authority_file

        write_cert_authority_file(context.config, load_inventory(context.config.inventory).hosts)
    _print_status(authority.status())


def _write_public(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
        os.chmod(path, 0o644)  # CA certificates and public keys are for everyone
    except OSError as error:
        raise BadInputError(f"cannot write {path}: {error.strerror}") from None


@ca.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pem", "ssh"]),
    default="pem",
    show_default=True,
    help="pem: the root certificate for browsers and clients; ssh: the SSH CA public lines to trust.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: stdout).")
@pass_context
def export(context: CliContext, fmt: str, out: Path | None) -> None:
    """Print (or write) what clients trust: the root certificate, or the SSH CA lines."""
    from controlplane.pki.authority import open_authority

    authority = open_authority(context.config, open_store(context))
    if fmt == "pem":
        data = authority.root_pem()
    else:
        data = "".join(line + "\n" for line in authority.ssh_ca_public_lines()).encode("ascii")
    if out is None:
        click.echo(data.decode("ascii"), nl=False)
        return
    _write_public(out, data)
    echo(f"wrote {out}", err=True)


def _serial(text: str | None) -> int | None:
    if text is None:
        return None
    if not SERIAL.fullmatch(text.strip()) or int(text) <= 0 or int(text) >= 2**63:
        raise BadInputError("--serial is a certificate's serial number: a positive whole number (see `egov ca list`)")
    return int(text)


@ca.command()
@click.option("--serial", "serial_text", metavar="N", help="Serial of the certificate to revoke.")
@click.option("--fingerprint", metavar="SHA256:...", help="Revoke a key (and every certificate of it).")
@click.option("--reason", required=True, help="Why (kept in the register and the audit log).")
@click.option(
    "--push/--no-push", default=True, show_default=True, help="Copy the new KRL to every inventory host (RevokedKeys)."
)
@pass_context
def revoke(context: CliContext, serial_text: str | None, fingerprint: str | None, reason: str, push: bool) -> None:
    """Revoke a certificate or a key; rewrites the KRL (STATE/pki/revoked.krl) hosts and the control plane use."""
    from controlplane.pki.revocation import krl_path
    from controlplane.pki.revocation import revoke as revoke_now

    serial = _serial(serial_text)
    if (serial is None) == (fingerprint is None):
        raise BadInputError("give --serial N or --fingerprint SHA256:... (one of them)")
    serials = revoke_now(
        context.config, open_store(context), serial=serial, fingerprint=fingerprint, reason=reason,
        requester=_requester(),
    )  # fmt: skip
    what = ", ".join(str(value) for value in serials) or "no further certificate"
    echo(f"revoked {what}{f'; key {fingerprint} revoked' if fingerprint else ''}")
    echo(f"revocation list rewritten: {krl_path(context.config)}", err=True)
    if push:
        _push_krl(context)


def _push_krl(context: CliContext) -> None:
    """Copy the rewritten KRL to every inventory host (sshd reads it at each login); exit 1 when a host missed it."""
    from controlplane.automation.certify import push_krl
    from controlplane.inventory import load_inventory

    outcomes = push_krl(context.config, open_store(context), load_inventory(context.config.inventory).hosts)
    for outcome in outcomes:
        echo(f"  {outcome.host}: {outcome.message}", err=True)
    failed = [outcome.host for outcome in outcomes if not outcome.ok]
    echo(f"KRL pushed to {len(outcomes) - len(failed)} of {len(outcomes)} hosts", err=True)
    if failed:
        raise SystemExit(EXIT_FAILED)


@ca.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only certificates of this kind.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_certificates(context: CliContext, kind: str | None, limit: int, as_json: bool, wide: bool) -> None:
    """Issued certificates, newest first: serial, kind, subject, validity, revoked."""
    from controlplane.pki import records
    from controlplane.store.models import utcnow

    rows = records.list_certificates(open_store(context), kind=kind, limit=limit)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    now = utcnow()
    table = []
    for row in rows:
        if row.revoked:
            state = styled("revoked", "red")
        elif row.not_after <= now:
            state = styled("expired", "yellow")
        else:
            state = styled("valid", "green")
        principals = ", ".join(row.principals or [])
        table.append([row.serial, row.kind, row.subject, principals, moment(row.not_after), state, row.requester])
    show_table(CERT_COLUMNS, table, wide=wide)


@ca.command("root-offline")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="New file (0600).")
@pass_context
def root_offline(context: CliContext, out: Path) -> None:
    """Export the root key encrypted (passphrase from stdin or a prompt) and remove it from the vault."""
    from controlplane.pki.offline import take_root_offline

    store = open_store(context)
    passphrase = read_secret_input("passphrase for the root key file")
    take_root_offline(context.config, store, out=out, passphrase=passphrase, requester=_requester())
    echo(f"root key written encrypted to {out} and removed from the vault: keep the file and its passphrase apart")
    echo("bring it back with `egov ca root-online --in FILE` to rotate the intermediate", err=True)


@ca.command("root-online")
@click.option(
    "--in", "source", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File from root-offline."
)
@pass_context
def root_online(context: CliContext, source: Path) -> None:
    """Put the root key back in the vault from its encrypted file (passphrase from stdin or a prompt)."""
    from controlplane.pki.offline import bring_root_online

    store = open_store(context)
    passphrase = read_secret_input("passphrase of the root key file", confirm=False)
    bring_root_online(context.config, store, source=source, passphrase=passphrase, requester=_requester())
    echo("root key is online again (in the vault)")
