"""Revocation: the register, the KRL that ssh-keygen reads as REVOKED, refusals, the audit record."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from controlplane.errors import BadInputError
from controlplane.pki import records
from controlplane.pki.authority import rotate_authority
from controlplane.pki.issue import issue_tls, sign_host_key, sign_user_key
from controlplane.pki.keys import ssh_fingerprint
from controlplane.pki.revocation import is_revoked, krl_path, revoke
from controlplane.store.models import AuditRecord

from .conftest import ssh_keygen

WEEKS4 = dt.timedelta(weeks=4)


def _cert_file(tmp_path, issued, name="cert"):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}-cert.pub"
    path.write_text(issued.certificate_line + "\n")
    return path


def test_init_writes_an_empty_krl_that_revokes_nothing(config, authority, new_key_line, tmp_path) -> None:
    issued = sign_host_key(authority, new_key_line(), host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    result = ssh_keygen("-Q", "-f", krl_path(config), _cert_file(tmp_path, issued))
    assert result.returncode == 0 and ": ok" in result.stdout


def test_a_krl_made_by_revoke_is_read_by_ssh_keygen_as_revoked(config, store, authority, new_key_line, tmp_path):
    kept = sign_host_key(authority, new_key_line(), host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    gone = sign_user_key(authority, new_key_line(), user="bob", principals=["site:ministry"],
                         validity=dt.timedelta(hours=8), requester="t")  # fmt: skip
    assert revoke(config, store, serial=gone.serial, reason="left the ministry", requester="t") == [gone.serial]
    revoked = ssh_keygen("-Q", "-l", "-f", krl_path(config), _cert_file(tmp_path, gone, "gone"))
    assert revoked.returncode == 1 and "REVOKED" in revoked.stdout
    assert f"serial: {gone.serial}" in revoked.stdout
    assert "PRIVATE" not in revoked.stdout
    fine = ssh_keygen("-Q", "-f", krl_path(config), _cert_file(tmp_path, kept, "kept"))
    assert fine.returncode == 0
    assert is_revoked(store, serial=gone.serial, fingerprint="SHA256:x")
    assert not is_revoked(store, serial=kept.serial, fingerprint="SHA256:x")


def test_revoking_a_key_revokes_every_certificate_of_it_in_the_krl(config, store, authority, new_key_line, tmp_path):
    line = new_key_line()
    first = sign_host_key(authority, line, host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    second = sign_host_key(authority, line, host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    fingerprint = ssh_fingerprint(line)
    assert sorted(revoke(config, store, fingerprint=fingerprint, reason="stolen", requester="t")) == sorted(
        [first.serial, second.serial]
    )
    key_file = tmp_path / "key.pub"
    key_file.write_text(line + "\n")
    for path in (_cert_file(tmp_path, first, "a"), key_file):
        result = ssh_keygen("-Q", "-f", krl_path(config), path)
        assert result.returncode == 1 and "REVOKED" in result.stdout, path
    assert is_revoked(store, serial=None, fingerprint=fingerprint)


def test_a_key_never_certified_can_be_revoked(config, store, authority, new_key_line) -> None:
    fingerprint = ssh_fingerprint(new_key_line())
    assert revoke(config, store, fingerprint=fingerprint, reason="old pinned key", requester="t") == []
    assert is_revoked(store, serial=None, fingerprint=fingerprint)


def test_revoked_serials_stay_revoked_under_the_previous_ssh_ca_after_a_rotation(
    config, store, authority, new_key_line, tmp_path
) -> None:
    issued = sign_host_key(authority, new_key_line(), host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    revoke(config, store, serial=issued.serial, reason="r", requester="t")
    rotate_authority(config, store, "t", ssh=True, intermediate=False)
    result = ssh_keygen("-Q", "-f", krl_path(config), _cert_file(tmp_path, issued))
    assert result.returncode == 1 and "REVOKED" in result.stdout


def test_revoking_a_tls_certificate_marks_the_register(config, store, authority) -> None:
    issued = issue_tls(authority, common_name="c", dns_names=["localhost"], ip_addresses=[], validity=WEEKS4,
                       requester="t")  # fmt: skip
    revoke(config, store, serial=issued.serial, reason="key leaked", requester="t")
    row = records.by_serial(store, issued.serial)
    assert row is not None and row.revoked and row.revoked_reason == "key leaked"


def test_revocation_is_audited_with_the_serials_and_the_reason(config, store, authority, new_key_line) -> None:
    issued = sign_host_key(authority, new_key_line(), host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    revoke(config, store, serial=issued.serial, reason="host rebuilt", requester="op@cli")
    with store.session() as session:
        record = session.scalars(select(AuditRecord).where(AuditRecord.action == "pki.revoke")).one()
    details = json.loads(record.details)
    assert record.actor == "op@cli"
    assert details["serials"] == [issued.serial] and details["reason"] == "host rebuilt"


def test_revoking_twice_changes_nothing_the_second_time(config, store, authority, new_key_line) -> None:
    issued = sign_host_key(authority, new_key_line(), host="h1", principals=["h1"], validity=WEEKS4, requester="t")
    assert revoke(config, store, serial=issued.serial, reason="first", requester="t") == [issued.serial]
    assert revoke(config, store, serial=issued.serial, reason="second", requester="t") == []
    assert records.by_serial(store, issued.serial).revoked_reason == "first"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("selector", "reason", "message"),
    [
        ({"serial": 12345}, "r", "no certificate with serial"),
        ({}, "r", "one of them"),
        ({"serial": 1, "fingerprint": "SHA256:" + "A" * 43}, "r", "one of them"),
        ({"fingerprint": "MD5:aa:bb"}, "r", "SHA256:"),
        ({"fingerprint": "SHA256:" + "A" * 43}, "", "needs a reason"),
        ({"fingerprint": "SHA256:" + "A" * 43}, "line\nbreak", "needs a reason"),
    ],
)
def test_bad_revocations_are_bad_input(config, store, authority, selector, reason, message) -> None:
    with pytest.raises(BadInputError, match=message):
        revoke(config, store, reason=reason, requester="t", **selector)


def test_the_ca_itself_is_rotated_not_revoked(config, store, authority) -> None:
    root_serial = authority.root.serial_number
    with pytest.raises(BadInputError, match="egov ca rotate"):
        revoke(config, store, serial=root_serial, reason="r", requester="t")
    ssh_ca = ssh_fingerprint(authority.ssh_ca_public_lines()[0])
    with pytest.raises(BadInputError, match="egov ca rotate"):
        revoke(config, store, fingerprint=ssh_ca, reason="r", requester="t")
