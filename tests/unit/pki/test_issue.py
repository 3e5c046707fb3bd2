"""Issuance: TLS chains verify, SSH certificates read right by ssh-keygen, every issuance registered and audited."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from sqlalchemy import select

from controlplane.errors import BadInputError
from controlplane.pki import records
from controlplane.pki.issue import encrypted_key_pem, issue_tls, sign_host_key, sign_user_key
from controlplane.pki.keys import ssh_fingerprint
from controlplane.pki.revocation import revoke
from controlplane.store.models import AuditRecord, utcnow

from .conftest import ssh_keygen

WEEKS4 = dt.timedelta(weeks=4)


def _tls(authority, **overrides):  # type: ignore[no-untyped-def]
    arguments = {
        "common_name": "console.egov.lab",
        "dns_names": ["console.egov.lab", "localhost"],
        "ip_addresses": ["127.0.0.1", "10.77.0.1"],
        "validity": dt.timedelta(days=90),
        "requester": "tester",
    }
    return issue_tls(authority, **{**arguments, **overrides})


def test_a_tls_certificate_chains_to_the_root_for_its_names_and_addresses(authority) -> None:
    issued = _tls(authority)
    leaf = x509.load_pem_x509_certificate(issued.certificate_pem)
    chain = x509.load_pem_x509_certificates(issued.chain_pem)
    verifier = (
        PolicyBuilder()
        .store(Store([authority.root]))
        .time(utcnow())
        .build_server_verifier(x509.DNSName("console.egov.lab"))
    )
    verified = verifier.verify(leaf, chain[:1])
    assert verified[-1] == authority.root
    ip_verifier = (
        PolicyBuilder()
        .store(Store([authority.root]))
        .time(utcnow())
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address("10.77.0.1")))
    )
    ip_verifier.verify(leaf, chain[:1])
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_openssl_verifies_the_tls_chain_with_the_exported_root(authority, tmp_path) -> None:
    issued = _tls(authority)
    (tmp_path / "leaf.pem").write_bytes(issued.certificate_pem)
    (tmp_path / "root.pem").write_bytes(authority.root_pem())
    (tmp_path / "intermediate.pem").write_bytes(authority.intermediate_pem())
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", tmp_path / "root.pem", "-untrusted", tmp_path / "intermediate.pem",
         "-purpose", "sslserver", "-verify_hostname", "localhost", tmp_path / "leaf.pem"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_tls_certificate_is_refused_for_a_name_it_does_not_carry(authority) -> None:
    issued = _tls(authority)
    leaf = x509.load_pem_x509_certificate(issued.certificate_pem)
    verifier = (
        PolicyBuilder()
        .store(Store([authority.root]))
        .time(utcnow())
        .build_server_verifier(x509.DNSName("portal.egov.lab"))
    )
    with pytest.raises(VerificationError):
        verifier.verify(leaf, [authority.intermediate])


def test_the_tls_key_comes_back_unencrypted_in_memory_and_encrypts_for_files(authority) -> None:
    issued = _tls(authority)
    assert b"BEGIN PRIVATE KEY" in issued.key_pem
    assert "PRIVATE" not in repr(issued)
    locked = encrypted_key_pem(issued.key_pem, b"a long passphrase")
    assert b"ENCRYPTED PRIVATE KEY" in locked
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(locked, password=None)
    key = serialization.load_pem_private_key(locked, password=b"a long passphrase")
    leaf = x509.load_pem_x509_certificate(issued.certificate_pem)
    assert key.public_key() == leaf.public_key()
    with pytest.raises(BadInputError):
        encrypted_key_pem(issued.key_pem, b"")


@pytest.mark.parametrize("names", [{"dns_names": ["bad name"]}, {"ip_addresses": ["10.0.0.300"]},
                                   {"dns_names": [], "ip_addresses": []}])  # fmt: skip
def test_bad_tls_names_are_bad_input(authority, names) -> None:
    with pytest.raises(BadInputError):
        _tls(authority, **names)


def test_ssh_keygen_reads_a_host_certificate_with_its_principals_validity_and_type(
    authority, new_key_line, tmp_path
) -> None:
    issued = sign_host_key(authority, new_key_line(), host="mn-web-1", principals=["mn-web-1", "10.77.1.10"],
                           validity=WEEKS4, requester="tester")  # fmt: skip
    path = tmp_path / "host-cert.pub"
    path.write_text(issued.certificate_line + "\n")
    shown = ssh_keygen("-L", "-f", path)
    assert shown.returncode == 0, shown.stderr
    assert "host certificate" in shown.stdout
    assert f"Serial: {issued.serial}" in shown.stdout
    assert f'Key ID: "{issued.key_id}"' in shown.stdout and "mn-web-1" in issued.key_id
    principals = shown.stdout.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["mn-web-1", "10.77.1.10"]
    start = issued.not_before.strftime("%Y-%m-%dT%H:%M:%S")
    end = issued.not_after.strftime("%Y-%m-%dT%H:%M:%S")
    assert f"Valid: from {start} to {end}" in shown.stdout
    assert issued.not_after - issued.not_before == WEEKS4 + dt.timedelta(minutes=5)
    assert ssh_fingerprint(authority.ssh_ca_public_lines()[0]) in shown.stdout


def test_ssh_keygen_reads_a_user_certificate_with_the_usual_extensions(authority, new_key_line, tmp_path) -> None:
    issued = sign_user_key(authority, new_key_line(), user="alice", principals=["site:province-gd"],
                           validity=dt.timedelta(hours=8), requester="alice@console")  # fmt: skip
    path = tmp_path / "id-cert.pub"
    path.write_text(issued.certificate_line + "\n")
    shown = ssh_keygen("-L", "-f", path)
    assert "user certificate" in shown.stdout
    assert "site:province-gd" in shown.stdout
    for extension in ("permit-pty", "permit-port-forwarding", "permit-agent-forwarding"):
        assert extension in shown.stdout
    assert "permit-X11-forwarding" not in shown.stdout
    assert issued.not_after - issued.not_before == dt.timedelta(hours=8, minutes=5)


def test_a_short_validity_is_backdated_by_at_most_a_quarter(authority, new_key_line) -> None:
    issued = sign_host_key(authority, new_key_line(), host="h", principals=["h"], validity=dt.timedelta(minutes=2),
                           requester="t")  # fmt: skip
    assert issued.not_after - issued.not_before == dt.timedelta(minutes=2, seconds=30)


def test_every_issuance_is_registered_and_audited_with_its_serial_and_no_key_material(
    store, authority, new_key_line
) -> None:
    line = new_key_line()
    host = sign_host_key(authority, line, host="h1", principals=["h1"], validity=WEEKS4, requester="op@cli")
    tls = _tls(authority)
    row = records.by_serial(store, host.serial)
    assert row is not None and row.kind == "ssh-host" and row.subject == "h1" and row.principals == ["h1"]
    assert row.fingerprint == ssh_fingerprint(line) and row.requester == "op@cli"
    assert row.not_after == host.not_after
    assert records.by_serial(store, tls.serial).kind == "tls"  # type: ignore[union-attr]
    with store.session() as session:
        audited = list(session.scalars(select(AuditRecord).where(AuditRecord.action == "pki.issue")))
    details = [json.loads(record.details) for record in audited]
    assert [d["serial"] for d in details] == [host.serial, tls.serial]
    assert details[0]["kind"] == "ssh-host" and details[0]["principals"] == ["h1"]
    assert details[0]["requester"] == "op@cli" and details[0]["not_after"] == host.not_after.isoformat()
    for record in audited:
        text = record.details
        assert "PRIVATE" not in text and line.split()[1] not in text
        assert tls.key_pem.decode().splitlines()[1] not in text


@pytest.mark.parametrize(
    "principals", [[], ["a,b"], ["with space"], ["new\nline"], ["-flag"], "h1"], ids=lambda p: repr(p)[:20]
)
def test_principals_that_would_widen_or_break_a_certificate_are_bad_input(authority, new_key_line, principals):
    with pytest.raises(BadInputError):
        sign_host_key(authority, new_key_line(), host="h1", principals=principals, validity=WEEKS4, requester="t")


@pytest.mark.parametrize("line", ["", "ssh-ed25519", "ssh-ed25519 !!!!", "ssh-dss AAAAB3NzaC1kc3MAAACBAP== x",
                                  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x\nssh-rsa AAAA"])  # fmt: skip
def test_malformed_public_key_lines_are_bad_input(authority, line) -> None:
    with pytest.raises(BadInputError):
        sign_host_key(authority, line, host="h1", principals=["h1"], validity=WEEKS4, requester="t")


def test_hostile_subjects_and_validities_are_bad_input(authority, new_key_line) -> None:
    for host in ("", "a b", "../etc", "x\x1b[2J"):
        with pytest.raises(BadInputError):
            sign_host_key(authority, new_key_line(), host=host, principals=["h"], validity=WEEKS4, requester="t")
    for validity in (dt.timedelta(0), dt.timedelta(seconds=-1), dt.timedelta(days=4000)):
        with pytest.raises(BadInputError):
            sign_host_key(authority, new_key_line(), host="h", principals=["h"], validity=validity, requester="t")


def test_a_revoked_key_is_not_certified_again(config, store, authority, new_key_line) -> None:
    line = new_key_line()
    sign_host_key(authority, line, host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    revoke(config, store, fingerprint=ssh_fingerprint(line), reason="stolen", requester="t")
    with pytest.raises(BadInputError, match="revoked"):
        sign_host_key(authority, line, host="h1", principals=["h1"], validity=WEEKS4, requester="t")


def test_serials_are_distinct_positive_63_bit_numbers(authority, new_key_line) -> None:
    serials = [
        sign_host_key(authority, new_key_line(), host="h", principals=["h"], validity=WEEKS4, requester="t").serial
        for _ in range(20)
    ]
    assert len(set(serials)) == 20
    assert all(0 < serial < 2**63 for serial in serials)
