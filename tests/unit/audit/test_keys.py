"""The chain is keyed with an HMAC key held in the vault; an older unkeyed chain is vouched for by a checkpoint."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from controlplane import audit
from controlplane.audit import anchor
from controlplane.store import open_store
from controlplane.store.models import AuditRecord
from controlplane.vault import open_vault
from tests.unit.audit.conftest import fill, forge_from, wipe


def _rows(store) -> list[AuditRecord]:
    with store.session() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def test_records_are_keyed_with_a_key_that_lives_only_in_the_vault(store, config) -> None:
    fill(store, 2)
    rows = _rows(store)
    assert rows[0].key_id and {row.key_id for row in rows} == {rows[0].key_id}
    name = f"{audit.KEY_SECRET_PREFIX}{rows[0].key_id}"
    vault = open_vault(config, store)
    assert name in vault.names()
    key_hex = vault.get(name)
    database = Path(config.database_url.removeprefix("sqlite:///"))
    store.engine.dispose()
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert key_hex.encode() not in stored and bytes.fromhex(key_hex) not in stored


def test_an_unkeyed_chain_is_keyed_by_a_checkpoint_that_vouches_for_its_prefix(legacy_store, store) -> None:
    fill(legacy_store, 4)
    assert {row.key_id for row in _rows(legacy_store)} == {None}
    audit.append(store, actor="bob", action="user.create", target="carol")
    rows = _rows(store)
    checkpoint = rows[4]
    assert (checkpoint.seq, checkpoint.action, checkpoint.actor) == (5, audit.CHECKPOINT_ACTION, "system")
    details = json.loads(checkpoint.details)
    assert details["unkeyed_records"] == 4 and details["unkeyed_head"] == rows[3].hash
    assert details["unkeyed_verified"] is True and checkpoint.prev_hash == rows[3].hash
    assert rows[5].actor == "bob" and rows[5].key_id == checkpoint.key_id
    result = audit.verify(store)
    assert result.ok and result.count == 6 and result.keyed_since == 5 and result.unkeyed_prefix == 4


def test_the_vouched_prefix_cannot_be_rewritten_afterwards(legacy_store, store) -> None:
    fill(legacy_store, 4)
    audit.append(store, actor="bob", action="x", target="y")
    forge_from(store, 2, drop_key=False, actor="mallory")
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 5  # record 2..4 recomputed: the keyed checkpoint no longer follows


def test_a_prefix_already_broken_at_upgrade_is_written_into_the_checkpoint(legacy_store, store) -> None:
    fill(legacy_store, 4)
    with legacy_store.session() as session:
        session.get(AuditRecord, 2).actor = "edited before the upgrade"
    audit.append(store, actor="bob", action="x", target="y")
    details = json.loads(_rows(store)[4].details)
    assert details["unkeyed_verified"] is False and "record 2" in details["unkeyed_problem"]
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 2


def test_a_process_without_the_vault_cannot_extend_a_keyed_chain(store, legacy_store) -> None:
    fill(store, 2)
    with pytest.raises(audit.AuditError, match="key"):
        audit.append(legacy_store, actor="x", action="y", target="z")
    assert audit.verify(store).ok


def test_a_record_whose_key_is_gone_from_the_vault_cannot_be_vouched_for(store, config) -> None:
    fill(store, 2)
    vault = open_vault(config, store)
    name = next(n for n in vault.names() if n.startswith(audit.KEY_SECRET_PREFIX))
    vault.delete(name)
    audit.forget_keys(store)
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 1 and "key" in result.reason
    with pytest.raises(audit.AuditError):
        audit.append(store, actor="x", action="y", target="z")


def test_keyed_records_removed_while_the_vault_keeps_their_key_is_detected(store, config) -> None:
    fill(store, 3)
    wipe(store)
    anchor.local_log_path(config).unlink()
    result = audit.verify(store)
    assert not result.ok and "vault holds" in result.reason


def test_processes_keying_a_chain_at_once_agree_on_one_key(config) -> None:
    stores = [open_store(config) for _ in range(3)]

    def writer(opened, name: str) -> None:
        for index in range(10):
            audit.append(opened, actor=name, action="x", target=str(index))

    threads = [threading.Thread(target=writer, args=(s, f"p{n}")) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = audit.verify(stores[0])
    rows = _rows(stores[0])
    vault = open_vault(config, stores[0])
    keys = [n for n in vault.names() if n.startswith(audit.KEY_SECRET_PREFIX)]
    for opened in stores:
        opened.close()
    assert result.ok and result.count == 30
    assert len({row.key_id for row in rows}) == 1 and len(keys) == 1
