"""The root offline: exported encrypted, gone from the vault, rotation of the intermediate refused; and back."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from controlplane.errors import EXIT_BAD_INPUT, BadInputError
from controlplane.pki.authority import ROOT_KEY, RootOfflineError, open_authority, rotate_authority
from controlplane.pki.issue import issue_tls
from controlplane.pki.offline import bring_root_online, take_root_offline
from controlplane.vault import open_vault

PASSPHRASE = "correct horse battery staple"


def test_the_root_goes_offline_encrypted_and_comes_back(config, store, authority, tmp_path) -> None:
    out = tmp_path / "root.key"
    take_root_offline(config, store, out=out, passphrase=PASSPHRASE, requester="t")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in out.read_bytes()
    assert not open_vault(config, store).exists(ROOT_KEY)
    state = open_authority(config, store).status()
    assert state.root_online is False
    # day-to-day issuance needs only the intermediate
    issue_tls(open_authority(config, store), common_name="c", dns_names=["localhost"], ip_addresses=[],
              validity=dt.timedelta(days=1), requester="t")  # fmt: skip
    bring_root_online(config, store, source=out, passphrase=PASSPHRASE, requester="t")
    assert open_authority(config, store).status().root_online is True
    rotated = rotate_authority(config, store, "t", ssh=False, intermediate=True)
    rotated.intermediate.verify_directly_issued_by(authority.root)


def test_rotating_the_intermediate_while_the_root_is_offline_is_refused_saying_how_to_bring_it_back(
    config, store, authority, tmp_path
) -> None:
    take_root_offline(config, store, out=tmp_path / "root.key", passphrase=PASSPHRASE, requester="t")
    before = open_authority(config, store)
    with pytest.raises(RootOfflineError) as raised:
        rotate_authority(config, store, "t", ssh=True, intermediate=True)
    assert raised.value.exit_code == EXIT_BAD_INPUT
    assert "egov ca root-online --in FILE" in raised.value.message
    after = open_authority(config, store)
    assert after.ssh_ca_public_lines() == before.ssh_ca_public_lines()  # nothing half-rotated
    assert after.intermediate_pem() == before.intermediate_pem()
    rotate_authority(config, store, "t", ssh=True, intermediate=False)  # the SSH CA alone needs no root


def test_a_wrong_passphrase_or_another_key_leaves_the_root_offline(config, store, authority, tmp_path) -> None:
    out = tmp_path / "root.key"
    take_root_offline(config, store, out=out, passphrase=PASSPHRASE, requester="t")
    with pytest.raises(BadInputError, match="wrong passphrase"):
        bring_root_online(config, store, source=out, passphrase="not the passphrase", requester="t")
    from controlplane.pki.issue import encrypted_key_pem

    other = issue_tls(open_authority(config, store), common_name="c", dns_names=["localhost"], ip_addresses=[],
                      validity=dt.timedelta(days=1), requester="t")  # fmt: skip
    stranger = tmp_path / "other.key"
    stranger.write_bytes(encrypted_key_pem(other.key_pem, PASSPHRASE.encode()))
    with pytest.raises(BadInputError, match="another key"):
        bring_root_online(config, store, source=stranger, passphrase=PASSPHRASE, requester="t")
    assert not open_vault(config, store).exists(ROOT_KEY)


def test_the_export_refuses_a_short_passphrase_an_existing_file_and_a_second_export(
    config, store, authority, tmp_path
) -> None:
    with pytest.raises(BadInputError, match="at least 12"):
        take_root_offline(config, store, out=tmp_path / "a.key", passphrase="short", requester="t")
    existing = tmp_path / "exists.key"
    existing.write_text("keep me")
    with pytest.raises(BadInputError, match="never written over"):
        take_root_offline(config, store, out=existing, passphrase=PASSPHRASE, requester="t")
    assert existing.read_text() == "keep me"
    assert open_vault(config, store).exists(ROOT_KEY)
    take_root_offline(config, store, out=tmp_path / "b.key", passphrase=PASSPHRASE, requester="t")
    with pytest.raises(BadInputError, match="already offline"):
        take_root_offline(config, store, out=tmp_path / "c.key", passphrase=PASSPHRASE, requester="t")
