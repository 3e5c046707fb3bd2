"""Checking a host's SSH certificate before the control plane talks to it.

What ``@cert-authority`` does in OpenSSH, done in Python so paramiko (which
does not check host certificates itself) refuses the same hosts ssh would:
a certificate of type host, signed by a trusted CA, valid now, naming the
host or its address among its principals, and neither its serial nor its
key revoked. Each refusal says which check failed.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType, load_ssh_public_identity

from controlplane.errors import BadInputError, HostKeyError

from . import keys

LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime holds


class HostCertificateError(HostKeyError):
    """A host's certificate failed a check: we refuse to talk to the host (like an unknown host key)."""


def _as_line(blob: bytes) -> bytes:
    """An OpenSSH public line from either a line or a wire-format blob (what paramiko hands over)."""
    text = blob.strip()
    if b" " in text and not text.startswith(b"\x00"):
        return text
    if len(blob) < 4:
        return blob
    (length,) = struct.unpack(">I", blob[:4])
    name = blob[4 : 4 + length]
    return name + b" " + base64.b64encode(blob)


def parse_certificate(blob: bytes) -> SSHCertificate:
    """The OpenSSH certificate in ``blob`` (a ``*-cert-v01@openssh.com`` line or its wire form); BadInputError else."""
    try:
        identity = load_ssh_public_identity(_as_line(blob))
    except (ValueError, TypeError, UnicodeError, struct.error, UnsupportedAlgorithm) as error:
        raise BadInputError(f"not an OpenSSH certificate: {error}") from None
    if not isinstance(identity, SSHCertificate):
        raise BadInputError("a plain public key, not an OpenSSH certificate")
    return identity


def certified_key_fingerprint(certificate: SSHCertificate) -> str:
    """The SHA256 fingerprint of the key a certificate certifies (what the register and the KRL name)."""
    public = certificate.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return keys.ssh_fingerprint(public.decode("ascii"))


def _ca_blob(certificate: SSHCertificate) -> bytes:
    line = certificate.signature_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return keys.split_public_line(line.decode("ascii"))[1]


def _moment(seconds: int) -> dt.datetime:
    """An OpenSSH validity bound as a UTC datetime (``forever``, 2**64-1, becomes the largest datetime)."""
    return dt.datetime.fromtimestamp(min(seconds, LAST_SECOND), dt.UTC)


def check_host_certificate(
    blob: bytes,
    *,
    host: str,
    address: str,
    trusted_ca_lines: Sequence[str],
    revoked: Callable[[int, str], bool],
    now: dt.datetime,
) -> None:
    """Raise HostCertificateError unless ``blob`` is a valid host certificate of our CA for ``host``/``address``.

    ``revoked(serial, fingerprint)`` answers from the register (see
    :func:`controlplane.pki.revocation.revocation_checker`). Costs one
    signature check. The message names the host and the failed check.
    """
    where = f"{host} ({address})" if address and address != host else host
    refuse = f"host certificate of {where}"
    try:
        certificate = parse_certificate(blob)
    except BadInputError as error:
        raise HostCertificateError(f"{refuse}: {error.message}: refusing to connect") from None
    if certificate.type != SSHCertificateType.HOST:
        raise HostCertificateError(f"{refuse} is a user certificate, not a host certificate: refusing to connect")
    trusted = set()
    for line in trusted_ca_lines:
        try:
            trusted.add(keys.split_public_line(line)[1])
        except BadInputError:
            continue
    try:
        if _ca_blob(certificate) not in trusted:
            raise InvalidSignature
        certificate.verify_cert_signature()
    except (InvalidSignature, ValueError, TypeError):
        raise HostCertificateError(f"{refuse} is not signed by the control plane's CA: refusing to connect") from None
    valid_after, valid_before = _moment(certificate.valid_after), _moment(certificate.valid_before)
    if now < valid_after:
        raise HostCertificateError(f"{refuse} is not valid before {valid_after.isoformat()}: refusing to connect")
    if now >= valid_before:
        raise HostCertificateError(f"{refuse} expired at {valid_before.isoformat()}: refusing to connect")
    principals = {name.decode("utf-8", "replace") for name in certificate.valid_principals}
    if not principals:
        raise HostCertificateError(f"{refuse} names no principals (valid for any host): refusing to connect")
    if host not in principals and address not in principals:
        shown = ", ".join(sorted(principals)[:8])
        raise HostCertificateError(f"{refuse} is for {shown}, not for {where}: refusing to connect")
    fingerprint = certified_key_fingerprint(certificate)
    # Asked apart (-1 is never a serial, "" never a fingerprint) so the message says which was revoked.
    if revoked(-1, fingerprint):
        raise HostCertificateError(f"{refuse} certifies a revoked key ({fingerprint}): refusing to connect")
    if revoked(certificate.serial, ""):
        raise HostCertificateError(f"{refuse} is revoked (serial {certificate.serial}): refusing to connect")
