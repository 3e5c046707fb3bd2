"""Issuing certificates: SSH host and user certificates, TLS server certificates.

Every issuance draws a random 63-bit serial unused in the register, writes a
row in ``certificates`` and an audit record (``pki.issue``: serial, kind,
subject, principals, validity, requester; never key material) before the
certificate is handed back. A certificate whose audit record cannot be
written is not handed out: its row is removed and the error raised.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane import audit
from controlplane.errors import BadInputError
from controlplane.store.models import utcnow

from . import keys, records

if TYPE_CHECKING:
    from .authority import Authority

# Principals: host names, addresses (v4, v6), site:NAME, user names. No commas (OpenSSH lists), spaces or controls.
PRINCIPAL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@%-]{0,254}$")
SUBJECT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$")
DNS_NAME = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
MAX_PRINCIPALS = 256
# What a person's shell session needs; X11 forwarding and ~/.ssh/rc are left out (less to audit on a host).
USER_EXTENSIONS = ("permit-agent-forwarding", "permit-port-forwarding", "permit-pty")
MAX_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class IssuedSSH:
    """An SSH certificate as handed out: the ``*-cert-v01@openssh.com`` line and what it says."""

    serial: int
    certificate_line: str
    key_id: str
    principals: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True)
class IssuedTLS:
    """A TLS server certificate with its key (unencrypted PEM, in memory only) and the CA chain."""

    serial: int
    key_pem: bytes
    certificate_pem: bytes
    chain_pem: bytes
    not_after: dt.datetime

    def __repr__(self) -> str:  # never print the key in a log or traceback
        return f"IssuedTLS(serial={self.serial}, not_after={self.not_after.isoformat()})"


def _subject(value: str, what: str) -> str:
    if not isinstance(value, str) or not SUBJECT.fullmatch(value):
        raise BadInputError(f"{what} must be 1-128 letters, digits or '_.:@-', starting with a letter or digit")
    return value


def _principals(values: Sequence[str]) -> tuple[str, ...]:
    """Checked, de-duplicated principals in order. An empty list is refused: OpenSSH would accept it for anyone."""
    if isinstance(values, str):
        raise BadInputError("principals must be a list of names, not one string")
    found: list[str] = []
    for value in values:
        if not isinstance(value, str) or not PRINCIPAL.fullmatch(value):
            raise BadInputError(f"principal {str(value)[:80]!r} has characters a certificate principal cannot carry")
        if value not in found:
            found.append(value)
    if not found:
        raise BadInputError("a certificate needs at least one principal (none would mean any)")
    if len(found) > MAX_PRINCIPALS:
        raise BadInputError(f"at most {MAX_PRINCIPALS} principals")
    return tuple(found)


def _validity(validity: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """(not_before, not_after): backdated a little for slow clocks, never by more than a quarter of the validity."""
    if not isinstance(validity, dt.timedelta) or validity <= dt.timedelta(0) or validity > MAX_VALIDITY:
        raise BadInputError("a validity must be positive and at most ten years")
    now = utcnow().replace(microsecond=0)
    return now - min(keys.BACKDATE, validity / 4), now + validity


def _refuse_revoked_key(authority: Authority, fingerprint: str) -> None:
    from .revocation import is_revoked

    if is_revoked(authority.store, serial=None, fingerprint=fingerprint):
        raise BadInputError(f"the key {fingerprint} was revoked: the CA will not certify it again")


def _register(
    authority: Authority,
    *,
    serial: int,
    kind: str,
    subject: str,
    principals: Sequence[str],
    fingerprint: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    requester: str,
    site: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """The row and the audit record of one issuance; the row goes when the audit record cannot be written."""
    records.add(
        authority.store,
        serial=serial,
        kind=kind,
        subject=subject,
        principals=list(principals),
        fingerprint=fingerprint,
        not_before=not_before,
        not_after=not_after,
        requester=requester[:128],
        issued_at=utcnow(),
    )
    details = {
        "serial": serial,
        "kind": kind,
        "subject": subject,
        "principals": list(principals),
        "fingerprint": fingerprint,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "requester": requester,
        **(extra or {}),
    }
    if site:
        details["site"] = site
    try:
        audit.append(
            authority.store, actor=requester, action="pki.issue", target=f"{kind}:{subject}", details=details, site=site
        )
    except BaseException:
        records.delete_serial(authority.store, serial)
        raise


def _sign_ssh(
    authority: Authority,
    public_key_line: str,
    *,
    kind: str,
    subject: str,
    principals: Sequence[str],
    validity: dt.timedelta,
    requester: str,
    site: str | None,
) -> IssuedSSH:
    key_type, _blob = keys.split_public_line(public_key_line)
    if key_type not in keys.SSH_KEY_TYPES:
        raise BadInputError(f"cannot certify a {key_type} key (use ssh-ed25519, ecdsa-sha2-* or ssh-rsa)")
    try:
        public_key = serialization.load_ssh_public_key(public_key_line.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as error:
        raise BadInputError(f"the public key line does not parse: {error}") from None
    names = _principals(principals)
    fingerprint = keys.ssh_fingerprint(public_key_line)
    _refuse_revoked_key(authority, fingerprint)
    not_before, not_after = _validity(validity)
    serial = records.free_serial(authority.store)
    key_id = f"egov {kind} {subject} serial {serial}"
    builder = (
        SSHCertificateBuilder()
        .public_key(public_key)  # type: ignore[arg-type]
        .serial(serial)
        .type(SSHCertificateType.HOST if kind == "ssh-host" else SSHCertificateType.USER)
        .key_id(key_id.encode("ascii"))
        .valid_principals([name.encode("ascii") for name in names])
        .valid_after(int(not_before.timestamp()))
        .valid_before(int(not_after.timestamp()))
    )
    if kind == "ssh-user":
        for extension in USER_EXTENSIONS:
            builder = builder.add_extension(extension.encode("ascii"), b"")
    certificate = builder.sign(authority.ssh_ca_key())
    line = certificate.public_bytes().decode("ascii") + f" {subject}"
    _register(
        authority,
        serial=serial,
        kind=kind,
        subject=subject,
        principals=names,
        fingerprint=fingerprint,
        not_before=not_before,
        not_after=not_after,
        requester=requester,
        site=site,
        extra={"key_id": key_id, "ca": keys.ssh_fingerprint(authority.ssh_ca_public_lines()[0])},
    )
    return IssuedSSH(serial, line, key_id, names, not_before, not_after)


def sign_host_key(
    authority: Authority,
    public_key_line: str,
    *,
    host: str,
    principals: Sequence[str],
    validity: dt.timedelta,
    requester: str,
    site: str | None = None,
) -> IssuedSSH:
    """Certify a host's public key as a host certificate for ``principals`` (its inventory name and addresses).

    Raises BadInputError for a malformed key line, bad or no principals, a
    bad validity or a revoked key. Costs one signature and three small writes.
    """
    return _sign_ssh(
        authority,
        public_key_line,
        kind="ssh-host",
        subject=_subject(host, "a host name"),
        principals=principals,
        validity=validity,
        requester=requester,
        site=site,
    )


def sign_user_key(
    authority: Authority,
    public_key_line: str,
    *,
    user: str,
    principals: Sequence[str],
    validity: dt.timedelta,
    requester: str,
    site: str | None = None,
) -> IssuedSSH:
    """Certify a person's public key as a user certificate for ``principals`` (``site:NAME`` of their scope).

    Extensions: :data:`USER_EXTENSIONS`. Raises as :func:`sign_host_key`.
    """
    return _sign_ssh(
        authority,
        public_key_line,
        kind="ssh-user",
        subject=_subject(user, "a user name"),
        principals=principals,
        validity=validity,
        requester=requester,
        site=site,
    )


def _alt_names(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for name in dns_names:
        if not isinstance(name, str) or len(name) > 253 or not DNS_NAME.fullmatch(name):
            raise BadInputError(f"{str(name)[:80]!r} is not a DNS name")
        names.append(x509.DNSName(name.lower()))
    for address in ip_addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            raise BadInputError(f"{str(address)[:80]!r} is not an IP address") from None
    if not names:
        raise BadInputError("a TLS certificate needs at least one DNS name or IP address")
    return names


def issue_tls(
    authority: Authority,
    *,
    common_name: str,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    validity: dt.timedelta,
    requester: str,
    site: str | None = None,
) -> IssuedTLS:
    """A TLS server certificate (new ECDSA P-256 key, SANs, serverAuth) signed by the intermediate.

    The key comes back unencrypted in memory only: write it with
    :func:`encrypted_key_pem`, or 0600 where a server must read it plainly.
    The validity is cut to the intermediate's end. Raises BadInputError for
    bad names, addresses or validity.
    """
    _subject(common_name, "a common name")
    alt_names = _alt_names(dns_names, ip_addresses)
    not_before, not_after = _validity(validity)
    issuer = authority.intermediate
    not_after = min(not_after, issuer.not_valid_after_utc)
    key = keys.new_ecdsa_key()
    serial = records.free_serial(authority.store)
    signing_key = authority.intermediate_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    principals = [str(name.value) for name in alt_names]
    _register(
        authority,
        serial=serial,
        kind="tls",
        subject=common_name,
        principals=principals,
        fingerprint=keys.spki_fingerprint(key.public_key()),
        not_before=not_before,
        not_after=not_after,
        requester=requester,
        site=site,
        extra={"issuer": keys.cert_fingerprint(issuer)},
    )
    return IssuedTLS(
        serial=serial,
        key_pem=keys.private_pem(key).encode("ascii"),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        chain_pem=authority.x509_chain_pem(),
        not_after=not_after,
    )


def encrypted_key_pem(key_pem: bytes, password: bytes) -> bytes:
    """The key re-written as PKCS#8 PEM encrypted with ``password`` (BestAvailableEncryption), for files.

    Raises BadInputError for an empty password or a PEM that is not an unencrypted private key.
    """
    if not password:
        raise BadInputError("an encrypted key needs a non-empty password")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise BadInputError("not an unencrypted PEM private key") from None
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(password)
    )
