"""The vault: AES-256-GCM / SM4-GCM at rest, wrong keys refused, rotation crash-safe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select, update

from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import Secret
from controlplane.vault import Vault, VaultKeyError, create_key_file, read_key_file, sm4_available


def test_a_secret_round_trips_and_is_not_stored_in_clear(config, store) -> None:
    vault = Vault(store, config.key_file)
    vault.set("db.password", "s3cr3t-中文")
    assert vault.get("db.password") == "s3cr3t-中文"
    with store.session() as session:
        row = session.get(Secret, "db.password")
        assert b"s3cr3t" not in row.ciphertext
        assert len(row.nonce) == 12
    assert vault.names() == ["db.password"]


def test_every_write_uses_a_fresh_nonce(config, store) -> None:
    vault = Vault(store, config.key_file)
    nonces = set()
    for _ in range(5):
        vault.set("token", "same value")
        with store.session() as session:
            nonces.add(session.get(Secret, "token").nonce)
    assert len(nonces) == 5


def test_a_ciphertext_moved_to_another_name_does_not_decrypt(config, store) -> None:
    vault = Vault(store, config.key_file)
    vault.set("a", "alpha")
    vault.set("b", "beta")
    with store.session() as session:
        a = session.get(Secret, "a")
        session.execute(update(Secret).where(Secret.name == "b").values(nonce=a.nonce, ciphertext=a.ciphertext))
    with pytest.raises(VaultKeyError, match="does not decrypt"):
        vault.get("b")


def test_a_wrong_master_key_is_refused_with_a_clear_message(config, store, tmp_path: Path) -> None:
    Vault(store, config.key_file).set("x", "value")
    other = tmp_path / "other.key"
    create_key_file(other)
    with pytest.raises(VaultKeyError, match="is not the key of this vault"):
        Vault(store, other)


def test_a_key_file_readable_by_others_is_refused(config) -> None:
    os.chmod(config.key_file, 0o644)
    with pytest.raises(VaultKeyError, match="chmod 600"):
        read_key_file(config.key_file)


def test_a_missing_key_file_says_how_to_create_one(store, tmp_path: Path) -> None:
    with pytest.raises(VaultKeyError, match="egov init"):
        Vault(store, tmp_path / "nothing.key")


def test_key_rotation_re_encrypts_everything_under_a_new_key(config, store) -> None:
    vault = Vault(store, config.key_file)
    for index in range(10):
        vault.set(f"s{index}", f"value {index}")
    old_key = read_key_file(config.key_file)
    assert vault.rotate_key() == 10
    assert read_key_file(config.key_file) != old_key
    reopened = Vault(store, config.key_file)
    assert [reopened.get(f"s{index}") for index in range(10)] == [f"value {index}" for index in range(10)]
    assert not config.key_file.with_name(config.key_file.name + ".new").exists()


def test_a_rotation_interrupted_after_commit_is_finished_on_next_open(config, store) -> None:
    vault = Vault(store, config.key_file)
    vault.set("keep", "me")
    with pytest.raises(EgovError, match="simulated crash"):
        vault.rotate_key(fail_after_commit=True)
    # The database now uses the new key; the old key file is still in place.
    reopened = Vault(store, config.key_file)
    assert reopened.get("keep") == "me"
    assert not config.key_file.with_name(config.key_file.name + ".new").exists()


def test_a_rotation_interrupted_before_commit_keeps_the_old_key(config, store, monkeypatch) -> None:
    vault = Vault(store, config.key_file)
    vault.set("keep", "me")
    old_key = read_key_file(config.key_file)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(Vault, "_write", crash)
    with pytest.raises(RuntimeError):
        vault.rotate_key()
    monkeypatch.undo()
    reopened = Vault(store, config.key_file)
    assert reopened.get("keep") == "me"
    assert read_key_file(config.key_file) == old_key


@pytest.mark.skipif(not sm4_available(), reason="OpenSSL without SM4")
def test_sm4_gcm_round_trips_and_mixes_with_aes_rows(config, store) -> None:
    Vault(store, config.key_file, "aes-256-gcm").set("aes", "one")
    sm4 = Vault(store, config.key_file, "sm4-gcm")
    sm4.set("sm4", "two")
    assert sm4.get("aes") == "one" and sm4.get("sm4") == "two"
    with store.session() as session:
        assert session.scalars(select(Secret.cipher).where(Secret.name == "sm4")).one() == "sm4-gcm"


def test_hostile_secret_names_are_refused(config, store) -> None:
    vault = Vault(store, config.key_file)
    for name in ("; rm -rf /", "$(reboot)", "../../etc/shadow", "a\nb", "", "x" * 200):
        with pytest.raises(BadInputError):
            vault.set(name, "v")


def test_unknown_secret_is_a_clear_error(config, store) -> None:
    with pytest.raises(BadInputError, match="no secret named"):
        Vault(store, config.key_file).get("missing")


def test_a_reference_resolves_to_its_value(config, store) -> None:
    vault = Vault(store, config.key_file)
    vault.set("hook.token", "abc")
    assert vault.resolve("secret:hook.token") == "abc"
    with pytest.raises(BadInputError):
        vault.resolve("abc")
