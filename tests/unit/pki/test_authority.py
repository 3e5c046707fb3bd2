"""The CA: init creates root, intermediate and SSH CA once; keys only in the vault; rotation; staged keys."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from controlplane.errors import EXIT_BAD_INPUT, BadInputError, EgovError
from controlplane.pki import authority as ca
from controlplane.pki.issue import issue_tls, sign_host_key, sign_user_key
from controlplane.pki.keys import new_ed25519_key, private_pem, ssh_public_line
from controlplane.pki.published import write_public
from controlplane.pki.revocation import revocation_checker
from controlplane.pki.verify import HostCertificateError, check_host_certificate
from controlplane.store.models import AuditRecord, utcnow
from controlplane.vault import open_vault


def test_open_authority_before_init_tells_the_operator_to_run_egov_ca_init(config, store) -> None:
    with pytest.raises(ca.CANotInitialisedError) as raised:
        ca.open_authority(config, store)
    assert raised.value.exit_code == EXIT_BAD_INPUT
    assert "egov ca init" in raised.value.message
    assert ca.authority_status(config, store).initialised is False


def test_init_keeps_private_keys_in_the_vault_and_publishes_only_public_files(config, store, authority) -> None:
    vault = open_vault(config, store)
    assert {ca.ROOT_KEY, ca.INTERMEDIATE_KEY, ca.SSH_CA_KEY} <= set(vault.names())
    folder = config.state_dir / "pki"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for name in ("root.pem", "intermediate.pem", "chain.pem", "ssh_ca.pub", "revoked.krl"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644, name
    assert (folder / "chain.pem").read_bytes() == authority.intermediate_pem() + authority.root_pem()
    assert (folder / "ssh_ca.pub").read_text().splitlines() == authority.ssh_ca_public_lines()


def test_init_twice_keeps_the_existing_ca_and_says_so_in_the_audit_log(config, store, authority) -> None:
    again = ca.init_authority(config, store, "tester@test")
    assert again.root_pem() == authority.root_pem()
    assert again.intermediate_pem() == authority.intermediate_pem()
    assert again.ssh_ca_public_lines() == authority.ssh_ca_public_lines()
    with store.session() as session:
        outcomes = list(session.scalars(select(AuditRecord.outcome).where(AuditRecord.action == "pki.init")))
    assert outcomes == ["ok", "unchanged"]


def test_the_root_is_a_ca_with_pathlen_1_and_the_intermediate_one_with_pathlen_0(authority) -> None:
    root, intermediate = authority.root, authority.intermediate
    for certificate, pathlen in ((root, 1), (intermediate, 0)):
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca and constraints.value.path_length == pathlen
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
        certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = intermediate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski
    intermediate.verify_directly_issued_by(root)
    assert root.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]


def test_no_private_key_is_on_disk_under_the_state_folder_after_init_and_issuance(
    config, store, authority, new_key_line
) -> None:
    sign_host_key(authority, new_key_line(), host="h1", principals=["h1"], validity=dt.timedelta(weeks=4),
                  requester="t")  # fmt: skip
    issued = issue_tls(authority, common_name="console", dns_names=["localhost"], ip_addresses=["127.0.0.1"],
                       validity=dt.timedelta(days=90), requester="t")  # fmt: skip
    ssh_seed = authority.ssh_ca_key().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    leaf_scalar = serialization.load_pem_private_key(issued.key_pem, None).private_numbers().private_value  # type: ignore[union-attr]
    files = [path for path in config.state_dir.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in files)  # the vault's ciphertext is among what is scanned
    for path in files:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        assert ssh_seed not in data, path
        assert leaf_scalar.to_bytes(32, "big") not in data, path


def _host_cert(authority, line: str):  # type: ignore[no-untyped-def]
    return sign_host_key(authority, line, host="h1", principals=["h1", "10.0.0.5"], validity=dt.timedelta(hours=1),
                         requester="t")  # fmt: skip


def test_rotation_keeps_the_previous_ssh_ca_trusted_until_the_next_rotation(config, store, authority, new_key_line):
    first_line = authority.ssh_ca_public_lines()[0]
    old = _host_cert(authority, new_key_line())
    rotated = ca.rotate_authority(config, store, "t", ssh=True, intermediate=False)
    assert rotated.ssh_ca_public_lines()[1] == first_line
    assert rotated.ssh_ca_public_lines()[0] != first_line
    assert (config.state_dir / "pki" / "ssh_ca.pub").read_text().splitlines() == rotated.ssh_ca_public_lines()

    def check(issued, trusted):  # type: ignore[no-untyped-def]
        check_host_certificate(issued.certificate_line.encode(), host="h1", address="10.0.0.5",
                               trusted_ca_lines=trusted, revoked=revocation_checker(store), now=utcnow())  # fmt: skip

    check(old, rotated.ssh_ca_public_lines())  # still trusted during the rotation
    check(_host_cert(rotated, new_key_line()), rotated.ssh_ca_public_lines())  # new ones by the new CA
    again = ca.rotate_authority(config, store, "t", ssh=True, intermediate=False)
    assert first_line not in again.ssh_ca_public_lines()
    with pytest.raises(HostCertificateError, match="not signed by the control plane's CA"):
        check(old, again.ssh_ca_public_lines())


def test_the_previous_ssh_ca_private_key_is_not_kept(config, store, authority) -> None:
    ca.rotate_authority(config, store, "t", ssh=True, intermediate=False)
    names = open_vault(config, store).names()
    assert [name for name in names if name.startswith("pki.ssh_ca")] == [ca.SSH_CA_KEY]


def test_rotating_the_intermediate_keeps_the_root_and_signs_with_the_new_one(config, store, authority) -> None:
    rotated = ca.rotate_authority(config, store, "t", ssh=False, intermediate=True)
    assert rotated.root_pem() == authority.root_pem()
    assert rotated.intermediate_pem() != authority.intermediate_pem()
    assert rotated.ssh_ca_public_lines() == authority.ssh_ca_public_lines()
    rotated.intermediate.verify_directly_issued_by(rotated.root)
    issued = issue_tls(rotated, common_name="c", dns_names=["localhost"], ip_addresses=[],
                       validity=dt.timedelta(days=1), requester="t")  # fmt: skip
    x509.load_pem_x509_certificate(issued.certificate_pem).verify_directly_issued_by(rotated.intermediate)


def test_rotating_nothing_is_bad_input(config, store, authority) -> None:
    with pytest.raises(BadInputError):
        ca.rotate_authority(config, store, "t", ssh=False, intermediate=False)


def test_a_key_staged_by_an_interrupted_rotation_is_promoted_when_it_matches_the_published_part(
    config, store, authority
) -> None:
    vault = open_vault(config, store)
    new_key = new_ed25519_key()
    vault.set(ca.SSH_CA_KEY + ".next", private_pem(new_key))  # the rotation died after publishing, before moving
    write_public(store, {ca.SSH_LINES: ssh_public_line(new_key) + "\n"})
    reopened = ca.open_authority(config, store)
    assert ssh_public_line(reopened.ssh_ca_key()) == ssh_public_line(new_key)
    assert not vault.exists(ca.SSH_CA_KEY + ".next")


def test_a_vault_key_that_does_not_match_the_published_ca_is_refused(config, store, authority) -> None:
    open_vault(config, store).set(ca.SSH_CA_KEY, private_pem(new_ed25519_key()))
    with pytest.raises(EgovError, match="does not match"):
        ca.open_authority(config, store).ssh_ca_key()


def test_sign_user_key_uses_the_same_ssh_ca(authority, new_key_line) -> None:
    issued = sign_user_key(authority, new_key_line(), user="alice", principals=["site:ministry"],
                           validity=dt.timedelta(hours=8), requester="t")  # fmt: skip
    certificate = serialization.load_ssh_public_identity(issued.certificate_line.encode())
    signer = certificate.signature_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert authority.ssh_ca_public_lines()[0].startswith(signer.decode())
