"""Make the recorded test PKI of the certificate controls (run once; its output is committed next to it).

An SSH CA (Ed25519) and a host certificate for mn-portal-1; an X.509 root and
intermediate (ECDSA P-256, as the control plane's CA) and a TLS leaf for it;
a look-alike leaf signed by another key. Validity 2026-01-01 .. 2028-01-01 covers the
recordings' scan time (2026-11-24) by more than 14 days.

    .venv/bin/python tests/unit/compliance/evidence/pki/make.py
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)


def openssh(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def ssh_files() -> None:
    ca, host = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    cert = (
        serialization.SSHCertificateBuilder()
        .public_key(host.public_key())
        .serial(4242)
        .type(serialization.SSHCertificateType.HOST)
        .key_id(b"mn-portal-1")
        .valid_principals([b"mn-portal-1", b"10.198.0.11"])
        .valid_after(int(START.timestamp()))
        .valid_before(int(END.timestamp()))
        .sign(ca)
    )
    (HERE / "ssh_ca.pub").write_bytes(openssh(ca.public_key()) + b" egov-ssh-ca\n")
    (HERE / "ssh_host_ed25519_key-cert.pub").write_bytes(cert.public_bytes() + b" mn-portal-1\n")
    user_cert = (  # a user certificate where a host certificate belongs: must not pass
        serialization.SSHCertificateBuilder()
        .public_key(host.public_key())
        .serial(4243)
        .type(serialization.SSHCertificateType.USER)
        .key_id(b"alice")
        .valid_principals([b"site:ministry"])
        .valid_after(int(START.timestamp()))
        .valid_before(int(END.timestamp()))
        .sign(ca)
    )
    (HERE / "user-cert.pub").write_bytes(user_cert.public_bytes() + b"\n")


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey,
                ca: bool) -> x509.Certificate:  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def tls_files() -> None:
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = certificate("Test EduGov Root CA", root_key, "Test EduGov Root CA", root_key, True)
    mid = certificate("Test EduGov Intermediate CA", mid_key, "Test EduGov Root CA", root_key, True)
    leaf = certificate("mn-portal-1", leaf_key, "Test EduGov Intermediate CA", mid_key, False)
    pem = serialization.Encoding.PEM
    (HERE / "chain.pem").write_bytes(mid.public_bytes(pem) + root.public_bytes(pem))
    der = leaf.public_bytes(serialization.Encoding.DER)
    (HERE / "leaf.der.b64").write_text(base64.b64encode(der).decode() + "\n")
    # A look-alike from another CA with the same names: must not pass.
    other_mid = ec.generate_private_key(ec.SECP256R1())
    forged = certificate("mn-portal-1", leaf_key, "Test EduGov Intermediate CA", other_mid, False)
    forged_der = forged.public_bytes(serialization.Encoding.DER)
    (HERE / "forged.der.b64").write_text(base64.b64encode(forged_der).decode() + "\n")


if __name__ == "__main__":
    ssh_files()
    tls_files()
