"""Certificate checks: an OpenSSH certificate on the host, and the TLS certificate a local port serves.

Both parse on the control plane with ``cryptography`` what the collector sent
(public data only: a ``-cert.pub`` file's text, a served certificate's DER),
so the host needs nothing beyond Debian's python3. The ``ssh_certificate``
check reads the same fields ``ssh-keygen -L`` prints (type, validity,
signing CA). Trust comes from the control plane, not from the host:
``pki.ssh_ca`` (the SSH CA's public lines) and ``pki.x509_chain`` (the
intermediate and root, PEM) are control-plane facts
(:mod:`controlplane.compliance.facts`).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from controlplane.compliance.checks import FAIL, PASS, CheckContext, MissingEvidence, Outcome, _missing

SSH_CA_FACT = "pki.ssh_ca"
X509_CHAIN_FACT = "pki.x509_chain"
FOREVER = 2**64 - 1  # an OpenSSH certificate's valid_before meaning "no expiry"


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _days_left(ctx: CheckContext, until: float) -> float:
    return (until - ctx.now.timestamp()) / 86400


def _ssh_ca_keys(ctx: CheckContext) -> list[bytes] | None:
    """The raw public keys of the control plane's SSH CA(s), or None when the control plane gave none."""
    text = (ctx.store or {}).get(SSH_CA_FACT)
    if not text:
        return None
    keys = []
    for line in str(text).splitlines():
        words = line.split()
        if len(words) >= 2:
            keys.append(f"{words[0]} {words[1]}".encode())
    return keys


def check_ssh_certificate(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """An OpenSSH certificate file: of the right kind, valid now, not expiring within ``min_days_left``.

    When the control plane gave its SSH CA (``pki.ssh_ca``), the certificate
    must also be signed by it, and the signature must verify.
    """
    kind = check.get("kind", "host")
    days = check.get("min_days_left", 0)
    expected = f"a valid {kind} certificate in {check['path']}" + (f", at least {days} days left" if days else "")
    files = ctx.texts(check["path"])
    if not files:
        return _missing(check, FAIL, f"{check['path']} does not exist", expected)
    try:
        cert = serialization.load_ssh_public_identity(files[0]["text"].strip().encode())
    except (ValueError, UnsupportedAlgorithm) as error:
        return Outcome(FAIL, f"{check['path']}: not an OpenSSH certificate ({error})", expected)
    if not isinstance(cert, serialization.SSHCertificate):
        return Outcome(FAIL, f"{check['path']}: a plain public key, not a certificate", expected)
    found_kind = "host" if cert.type == serialization.SSHCertificateType.HOST else "user"
    until = "forever" if cert.valid_before >= FOREVER else _stamp(cert.valid_before)
    found = f"{found_kind} certificate serial {cert.serial}, valid {_stamp(cert.valid_after)} to {until}"
    if found_kind != kind:
        return Outcome(FAIL, found, expected, f"a {found_kind} certificate where a {kind} certificate belongs")
    now = ctx.now.timestamp()
    if now < cert.valid_after:
        return Outcome(FAIL, found, expected, "not valid yet")
    if cert.valid_before < FOREVER:
        left = _days_left(ctx, cert.valid_before)
        if left <= 0:
            return Outcome(FAIL, found, expected, f"expired at {until}")
        found += f" ({left:.1f} days left)"
        if left < days:
            return Outcome(FAIL, found, expected, f"expires within {days} days")
    trusted = _ssh_ca_keys(ctx)
    if trusted is None:
        return Outcome(PASS, found + "; signing CA not checked (the control plane gave no SSH CA)", expected)
    signer = cert.signature_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    if b" ".join(signer.split()[:2]) not in trusted:
        return Outcome(FAIL, found, expected, "not signed by the control plane's SSH CA")
    try:
        cert.verify_cert_signature()
    except (InvalidSignature, ValueError) as error:
        return Outcome(FAIL, found, expected, f"its signature does not verify ({type(error).__name__})")
    return Outcome(PASS, found + "; signed by the control plane's SSH CA", expected)


def _chain(ctx: CheckContext) -> list[x509.Certificate]:
    text = (ctx.store or {}).get(X509_CHAIN_FACT)
    if not text:
        raise MissingEvidence("the control plane has no X.509 CA to verify against (run `egov ca init`)")
    return x509.load_pem_x509_certificates(str(text).encode())


def _issued_by_chain(leaf: x509.Certificate, chain: list[x509.Certificate]) -> x509.Certificate | None:
    """The certificate of ``chain`` whose key signed ``leaf`` (None: none did)."""
    for issuer in chain:
        if issuer.subject != leaf.issuer:
            continue
        try:
            leaf.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return issuer
    return None


def check_tls_certificate(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """The certificate served on a local TCP port: issued by the control plane's CA, valid, enough days left.

    The collector fetches it from 127.0.0.1 without verifying (it has no
    trust to verify with); the control plane verifies the signature against
    its own intermediate/root (``pki.x509_chain``) and the validity against
    the scan time. The host name in the certificate is not checked here
    (the monitoring probes connect by name and check it).
    """
    port = int(check.get("port", 443))
    days = check.get("min_days_left", 0)
    expected = f"port {port} serves a certificate from the control plane's CA" + (
        f", at least {days} days left" if days else ""
    )
    served = (ctx.section("tls") or {}).get(str(port))
    if served is None:
        raise MissingEvidence(f"evidence has no TLS answer for port {port}")
    if not served.get("ok"):
        return Outcome(FAIL, f"port {port}: no TLS ({served.get('error') or 'no answer'})", expected)
    chain = _chain(ctx)
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(served["der"]))
    except (ValueError, KeyError) as error:
        return Outcome(FAIL, f"port {port}: unreadable certificate ({error})", expected)
    until = leaf.not_valid_after_utc.timestamp()
    found = (
        f"port {port}: {leaf.subject.rfc4514_string()}, issued by {leaf.issuer.rfc4514_string()}, "
        f"valid {_stamp(leaf.not_valid_before_utc.timestamp())} to {_stamp(until)}"
    )
    if _issued_by_chain(leaf, chain) is None:
        return Outcome(FAIL, found, expected, "not issued by the control plane's CA")
    if ctx.now.timestamp() < leaf.not_valid_before_utc.timestamp():
        return Outcome(FAIL, found, expected, "not valid yet")
    left = _days_left(ctx, until)
    if left <= 0:
        return Outcome(FAIL, found, expected, f"expired at {_stamp(until)}")
    found += f" ({left:.1f} days left)"
    if left < days:
        return Outcome(FAIL, found, expected, f"expires within {days} days")
    return Outcome(PASS, found, expected)
