"""check_host_certificate refuses each kind of bad host certificate with a message saying which check failed."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificateBuilder, SSHCertificateType, load_ssh_public_key

from controlplane.errors import HostKeyError
from controlplane.pki.issue import sign_host_key, sign_user_key
from controlplane.pki.keys import ssh_fingerprint
from controlplane.pki.revocation import revocation_checker, revoke
from controlplane.pki.verify import HostCertificateError, check_host_certificate
from controlplane.store.models import utcnow

from .conftest import public_line

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def host_cert(authority, new_key_line):  # type: ignore[no-untyped-def]
    line = new_key_line()
    issued = sign_host_key(authority, line, host="mn-web-1", principals=["mn-web-1", "10.77.1.10"], validity=HOUR,
                           requester="t")  # fmt: skip
    return line, issued


def _check(authority, store, blob: bytes, *, host="mn-web-1", address="10.77.1.10", now=None) -> None:  # type: ignore[no-untyped-def]
    check_host_certificate(blob, host=host, address=address, trusted_ca_lines=authority.ssh_ca_public_lines(),
                           revoked=revocation_checker(store), now=now or utcnow())  # fmt: skip


def test_a_good_host_certificate_passes_by_name_or_by_address(store, authority, host_cert) -> None:
    _line, issued = host_cert
    _check(authority, store, issued.certificate_line.encode())
    _check(authority, store, issued.certificate_line.encode(), host="other-name")  # the address is a principal
    _check(authority, store, issued.certificate_line.encode(), address="10.9.9.9")


def test_the_wire_form_paramiko_hands_over_is_accepted(store, authority, host_cert) -> None:
    _line, issued = host_cert
    blob = base64.b64decode(issued.certificate_line.split()[1])
    _check(authority, store, blob)


def test_an_expired_certificate_is_refused_saying_when_it_expired(store, authority, host_cert) -> None:
    _line, issued = host_cert
    with pytest.raises(HostCertificateError, match=r"mn-web-1 \(10.77.1.10\) expired at "):
        _check(authority, store, issued.certificate_line.encode(), now=issued.not_after + dt.timedelta(seconds=1))


def test_a_certificate_not_yet_valid_is_refused(store, authority, host_cert) -> None:
    _line, issued = host_cert
    with pytest.raises(HostCertificateError, match="is not valid before"):
        _check(authority, store, issued.certificate_line.encode(), now=issued.not_before - dt.timedelta(seconds=1))


def test_a_certificate_for_another_host_is_refused_naming_its_principals(store, authority, host_cert) -> None:
    _line, issued = host_cert
    with pytest.raises(HostCertificateError, match=r"is for 10\.77\.1\.10, mn-web-1, not for mn-db-1"):
        _check(authority, store, issued.certificate_line.encode(), host="mn-db-1", address="10.77.1.11")


def _forged(key_line: str, principals: list[bytes], kind=SSHCertificateType.HOST) -> bytes:  # type: ignore[no-untyped-def]
    now = int(utcnow().timestamp())
    certificate = (
        SSHCertificateBuilder()
        .public_key(load_ssh_public_key(key_line.encode()))  # type: ignore[arg-type]
        .serial(7)
        .type(kind)
        .key_id(b"forged")
        .valid_principals(principals)
        .valid_after(now - 60)
        .valid_before(now + 3600)
        .sign(ed25519.Ed25519PrivateKey.generate())
    )
    return certificate.public_bytes()


def test_a_certificate_signed_by_another_ca_is_refused(store, authority, new_key_line) -> None:
    with pytest.raises(HostCertificateError, match="not signed by the control plane's CA"):
        _check(authority, store, _forged(new_key_line(), [b"mn-web-1"]))


def test_a_certificate_whose_signature_does_not_verify_is_refused(store, authority, host_cert) -> None:
    _line, issued = host_cert
    kind, body = issued.certificate_line.split()[:2]
    raw = bytearray(base64.b64decode(body))
    raw[-5] ^= 0x01  # inside the CA's signature
    with pytest.raises(HostCertificateError, match="not signed by the control plane's CA"):
        _check(authority, store, f"{kind} {base64.b64encode(bytes(raw)).decode()}".encode())


def test_a_revoked_serial_is_refused(config, store, authority, host_cert) -> None:
    _line, issued = host_cert
    revoke(config, store, serial=issued.serial, reason="decommissioned", requester="t")
    with pytest.raises(HostCertificateError, match=re.escape(f"is revoked (serial {issued.serial})")):
        _check(authority, store, issued.certificate_line.encode())


def test_a_revoked_key_is_refused_whatever_certificate_it_carries(config, store, authority, host_cert) -> None:
    line, issued = host_cert
    revoke(config, store, fingerprint=ssh_fingerprint(line), reason="stolen", requester="t")
    with pytest.raises(HostCertificateError, match=re.escape(f"certifies a revoked key ({ssh_fingerprint(line)})")):
        _check(authority, store, issued.certificate_line.encode())


def test_a_user_certificate_is_not_a_host_certificate(store, authority, new_key_line) -> None:
    issued = sign_user_key(authority, new_key_line(), user="mn-web-1", principals=["mn-web-1"], validity=HOUR,
                           requester="t")  # fmt: skip
    with pytest.raises(HostCertificateError, match="is a user certificate"):
        _check(authority, store, issued.certificate_line.encode())


def test_a_plain_key_or_garbage_is_refused_and_is_a_host_key_error(store, authority) -> None:
    plain = public_line(ed25519.Ed25519PrivateKey.generate()).encode()
    for blob in (plain, b"garbage", b""):
        with pytest.raises(HostKeyError, match="refusing to connect"):
            _check(authority, store, blob)
