"""``egov ssh cert``: a short-lived SSH certificate for a person, for the hosts of their scope.

The TOTP code comes from stdin (when piped) or a hidden prompt, never from
argv (other users see argv in ``ps``). The certificate is written next to
the key as OpenSSH names it (``id_ed25519.pub`` -> ``id_ed25519-cert.pub``),
so ``ssh -i id_ed25519 root@host`` offers it without further options. The
checks and the audit are :func:`controlplane.users.ssh_certificates.issue_user_certificate`'s.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, open_vault, read_secret_input
from controlplane.errors import BadInputError, EgovError

if TYPE_CHECKING:
    from controlplane.users.ssh_certificates import UserCertificate

# A public key file is one short line; read no more than this from whatever was named.
MAX_KEY_FILE = 64 * 1024


@click.group()
def ssh() -> None:
    """Short-lived SSH certificates for people, for the hosts of their scope."""


def certificate_path(public_key: Path) -> Path:
    """Where OpenSSH looks for the certificate of a key: ``KEY-cert.pub`` beside ``KEY`` (``KEY.pub``'s key)."""
    name = public_key.name
    stem = name[: -len(".pub")] if name.endswith(".pub") else name
    return public_key.with_name(f"{stem}-cert.pub")


def _read_key_file(path: Path) -> str:
    """The public key file's text; BadInputError when it cannot be read or is not text."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except OSError as error:
        raise BadInputError(f"cannot read the public key {click.format_filename(path)}: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise BadInputError("the public key file is too large to be a public key")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise BadInputError("the public key file is not an OpenSSH public key (not text)") from None


def _write_certificate(path: Path, line: str) -> None:
    """Write the certificate line (0644, like ssh-keygen) through a temporary file and a rename."""
    folder = path.parent
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".egov-cert-", dir=folder)
    except OSError as error:
        raise EgovError(f"cannot write into {click.format_filename(folder)}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(line + "\n")
        os.chmod(temporary, 0o644)  # a certificate is public: 0644 as ssh-keygen writes it
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise EgovError(f"cannot write {click.format_filename(path)}: {error.strerror}") from None


@ssh.command("cert")
@click.argument("user")
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The person's OpenSSH public key file (ed25519, ecdsa, or rsa of at least 3072 bits).",
)
@click.option("--validity", help="How long it is valid, such as 8h or 90m (default pki.user_validity; at most 24h).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the certificate (default: KEY-cert.pub beside the key, where ssh finds it).",
)
@pass_context
def cert(context: CliContext, user: str, public_key: Path, validity: str | None, out: Path | None) -> None:
    """Issue an SSH certificate to console USER after their current TOTP code (read from stdin or a prompt).

    The certificate opens, as root, the hosts of the user's sites (and the
    sites below them); the issuance is audited. Exit 2 for a bad key, an
    unknown user, a wrong code; 1 when the work fails.
    """
    from controlplane import audit
    from controlplane.inventory import load_inventory
    from controlplane.users import USER_NAME
    from controlplane.users.ssh_certificates import issue_user_certificate, parse_validity

    if not USER_NAME.match(user):
        raise BadInputError("not a user name")
    chosen = parse_validity(validity) if validity is not None else None
    key_text = _read_key_file(public_key)
    target = out or certificate_path(public_key)
    inventory = load_inventory(context.config.inventory)
    code = read_secret_input(f"TOTP code of {user}", confirm=False).strip()
    store = open_store(context)
    try:
        vault = open_vault(context, store)
        issued = issue_user_certificate(
            context.config, store, vault, inventory, user_name=user, public_key=key_text, code=code,
            validity=chosen, caller=audit.cli_actor(),
        )  # fmt: skip
    finally:
        store.close()
    _write_certificate(target, issued.issued.certificate_line)
    _report(issued, target)


def _report(issued: UserCertificate, target: Path) -> None:
    """Print the certificate, where it went, what it says and which hosts it opens."""
    cert_ = issued.issued
    click.echo(cert_.certificate_line)
    click.echo(f"written to {click.format_filename(target)}")
    click.echo(
        f"serial {cert_.serial}, key {issued.fingerprint}, principals {', '.join(cert_.principals)}, valid "
        f"{cert_.not_before:%Y-%m-%d %H:%M} to {cert_.not_after:%Y-%m-%d %H:%M} UTC"
    )
    sites = ", ".join(f"{site} {count}" for site, count in issued.hosts_per_site.items())
    click.echo(f"opens {issued.host_count} host(s) as root: {sites or 'none in the inventory'}")
