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


def test_a_vault_opened_before_a_rotation_writes_under_the_new_key_after_it(config, store) -> None:
    """A console or monitor opened the vault long ago; another process rotated: its writes follow the new key."""
    from controlplane.vault import key_id

    long_running = Vault(store, config.key_file)
    Vault(store, config.key_file).rotate_key()
    long_running.set("written.after", "rotation")
    with store.session() as session:
        assert session.get(Secret, "written.after").key_id == key_id(read_key_file(config.key_file))
    assert Vault(store, config.key_file).get("written.after") == "rotation"


def test_a_vault_opened_before_a_rotation_reads_what_the_rotation_re_encrypted(config, store) -> None:
    long_running = Vault(store, config.key_file)
    long_running.set("kept", "value")
    Vault(store, config.key_file).rotate_key()
    assert long_running.get("kept") == "value"


def test_the_pending_key_of_a_rotation_in_progress_is_never_removed_by_an_opening_process(
    config, store, monkeypatch
) -> None:
    """KEY.new of a rotation that holds the key lock is left alone: the opener waits (here: gives up) instead."""
    from controlplane import vault_keys

    Vault(store, config.key_file).set("keep", "me")
    pending = config.key_file.with_name(config.key_file.name + ".new")
    monkeypatch.setattr(vault_keys, "LOCK_TIMEOUT", 0.3)
    with vault_keys.key_lock(config.key_file) as locked:  # a rotation, between writing KEY.new and its swap
        assert locked
        create_key_file(pending)
        with pytest.raises(VaultKeyError, match="a key rotation"):
            Vault(store, config.key_file)
        assert pending.exists()
    # Once the lock is free again, a KEY.new whose rotation never committed is known abandoned and discarded.
    assert Vault(store, config.key_file).get("keep") == "me"
    assert not pending.exists()


def test_a_machine_whose_key_file_was_not_rotated_refuses_to_write_under_the_retired_key(
    config, store, tmp_path: Path
) -> None:
    """Two machines on one database, each with a copy of the key: a rotation on one stops the other's writes."""
    import shutil

    copy = tmp_path / "other-machine" / "master.key"
    copy.parent.mkdir()
    shutil.copy2(config.key_file, copy)
    other_machine = Vault(store, copy)
    Vault(store, config.key_file).rotate_key()
    with pytest.raises(VaultKeyError, match="is not the key of this vault"):
        other_machine.set("written.elsewhere", "lost under the old key")
    assert not Vault(store, config.key_file).exists("written.elsewhere")


# -- rotation against other live processes ------------------------------------------------------------------------

# A process that writes secrets in a loop: "keep" opens the vault once (a console, the monitor), "reopen" opens it
# anew for every write (a scheduled backup, a CLI command). It writes until the stop file exists, reports its
# progress in a file, and prints the last value it wrote to each of its secrets.
WRITER = r"""
import json, sys, time
from pathlib import Path
from controlplane.config import load_config
from controlplane.store import open_store
from controlplane.vault import Vault

config_path, name, mode, folder = sys.argv[1:5]
config = load_config(config_path)
store = open_store(config, upgrade=False, recover=False)
stop, progress = Path(folder) / "stop", Path(folder) / f"progress-{name}"
vault = Vault(store, config.key_file)
last, count = {}, 0
while not stop.exists():
    if mode == "reopen":
        vault = Vault(store, config.key_file)
    secret, value = f"{name}.s{count % 5}", f"{name} value {count}"
    vault.set(secret, value)
    last[secret], count = value, count + 1
    progress.write_text(str(count))
    time.sleep(0.005)  # a gap between transactions, as real writers leave: SQLite's lock is not fair
print(json.dumps(last))
"""


def _progress(folder: Path, names: list[str]) -> dict[str, int]:
    counts = {}
    for name in names:
        try:
            counts[name] = int((folder / f"progress-{name}").read_text() or 0)
        except (FileNotFoundError, ValueError):
            counts[name] = 0
    return counts


def _wait_for_progress(folder: Path, names: list[str], since: dict[str, int], cli: dict[str, object]) -> None:
    """Wait (at most a minute) until every writer, the CLI loop included, wrote again since ``since``."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = _progress(folder, names)
        if all(now[n] >= since.get(n, 0) + 2 for n in names) and int(cli["count"]) >= int(since.get("cli", 0)) + 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"the writers made no progress: {now} cli={cli['count']}")


def test_rotations_while_other_processes_open_the_vault_and_write_lose_nothing(
    config, store, config_path: Path, tmp_path: Path
) -> None:
    """Several rotations (in this process and by `egov secrets rotate-key`) while real processes write secrets."""
    import json
    import subprocess
    import sys
    import threading

    from tests.conftest import egov

    vault = Vault(store, config.key_file)
    for index in range(200):  # enough rows that a rotation's transaction takes a while
        vault.set(f"seed.s{index}", f"seed {index}")
    folder = tmp_path / "writers"
    folder.mkdir()
    modes = {"keep": "keep", "reopen-1": "reopen", "reopen-2": "reopen"}
    writers = {
        name: subprocess.Popen(
            [sys.executable, "-c", WRITER, str(config_path), name, mode, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, mode in modes.items()
    }
    cli: dict[str, object] = {"count": 0, "last": None, "errors": []}

    def cli_loop() -> None:  # `egov secrets set` as an operator (or a cron job) runs it
        while not (folder / "stop").exists():
            value = f"cli value {cli['count']}"
            done = egov(config_path.parent, "secrets", "set", "cli.secret", stdin=value)
            if done.returncode != 0:
                cli["errors"].append(done.stderr)  # type: ignore[union-attr]
                return
            cli["last"], cli["count"] = value, int(cli["count"]) + 1

    looping = threading.Thread(target=cli_loop)
    looping.start()
    key_ids = set()
    try:
        for round_number in range(3):
            before = {**_progress(folder, list(modes)), "cli": int(cli["count"])}
            _wait_for_progress(folder, list(modes), before, cli)
            if round_number % 2:
                rotated = egov(config_path.parent, "secrets", "rotate-key")
                assert rotated.returncode == 0, rotated.stderr
            else:
                assert Vault(store, config.key_file).rotate_key() >= 200
            key_ids.add(read_key_file(config.key_file))
        _wait_for_progress(folder, list(modes), _progress(folder, list(modes)), cli)
    finally:
        (folder / "stop").write_text("")
        looping.join(timeout=120)
        outcomes = {name: process.communicate(timeout=120) for name, process in writers.items()}
    for name, (_out, err) in outcomes.items():
        assert writers[name].returncode == 0, f"{name} failed: {err}"
    assert cli["errors"] == [], cli["errors"]
    assert len(key_ids) == 3
    final_key = read_key_file(config.key_file)
    final = Vault(store, config.key_file)
    expected = {"cli.secret": cli["last"]}
    for out, _err in outcomes.values():
        expected.update(json.loads(out))
    expected.update({f"seed.s{index}": f"seed {index}" for index in range(200)})
    assert {name: final.get(name) for name in expected} == expected
    from controlplane.vault import key_id

    with store.session() as session:
        assert set(session.scalars(select(Secret.key_id).distinct())) == {key_id(final_key)}
    assert not config.key_file.with_name(config.key_file.name + ".new").exists()
