"""``audit.hash: sm3``: the chain is made with SM3 (HMAC-SM3), still detects tampering, and mixes with SHA-256."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from controlplane import audit
from controlplane.audit import archive
from controlplane.audit.keys import keyring_for
from controlplane.config import Config, load_config
from controlplane.store import Store, open_store
from controlplane.store.models import AuditRecord
from tests.unit.audit.conftest import fill

pytestmark = pytest.mark.skipif(not audit.hash_available("sm3"), reason="this OpenSSL offers no SM3")


def _rows(store: Store) -> list[AuditRecord]:
    with store.session() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def _use_hash(store: Store, config: Config, algorithm: str) -> None:
    """What restarting the control plane with another ``audit.hash`` does to the store's writers."""
    store.config = dataclasses.replace(config, audit_hash=algorithm)


@pytest.fixture
def sm3_store(store: Store, config: Config) -> Iterator[Store]:
    _use_hash(store, config, "sm3")
    yield store


def test_the_setting_defaults_to_sha256_and_accepts_sm3(config_path, config) -> None:
    assert config.audit_hash == "sha256"
    config_path.write_text(config_path.read_text() + "\naudit:\n  hash: sm3\n")
    assert load_config(config_path).audit_hash == "sm3"


def test_an_unknown_hash_is_refused_by_the_configuration(config_path) -> None:
    from controlplane.errors import ConfigError

    config_path.write_text(config_path.read_text() + "\naudit:\n  hash: md5\n")
    with pytest.raises(ConfigError, match=r"audit\.hash"):
        load_config(config_path)


def test_an_sm3_chain_starts_with_the_record_that_names_its_hash_and_verifies(sm3_store: Store) -> None:
    fill(sm3_store, 4)
    rows = _rows(sm3_store)
    assert rows[0].action == audit.HASH_ACTION
    assert json.loads(rows[0].details) == {"hash": "sm3", "previous": "sha256"}
    assert [row.action for row in rows[1:]] == ["run.start"] * 4
    result = audit.verify(sm3_store)
    assert result.ok and result.count == 5
    assert any("sm3" in note for note in result.notes)


def test_an_sm3_record_is_the_hmac_sm3_of_its_content_with_the_audit_key(sm3_store: Store) -> None:
    fill(sm3_store, 1)
    row = _rows(sm3_store)[-1]
    key = keyring_for(sm3_store).get(row.key_id)
    body = {name: getattr(row, name) for name in (*audit.FIELDS, "site", "key_id")}
    message = (row.prev_hash + "\n" + audit.canonical_json(body)).encode("utf-8")
    assert row.hash == hmac.new(key, message, "sm3").hexdigest()
    assert row.hash != hmac.new(key, message, hashlib.sha256).hexdigest()


def test_an_edited_sm3_record_is_named(sm3_store: Store) -> None:
    fill(sm3_store, 5)
    with sm3_store.session() as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(actor="mallory"))
    result = audit.verify(sm3_store)
    assert not result.ok and result.bad_seq == 3 and "modified" in result.reason


def test_a_switch_record_rewritten_to_claim_sha256_is_detected(sm3_store: Store) -> None:
    fill(sm3_store, 2)
    with sm3_store.session() as session:
        session.execute(
            update(AuditRecord).where(AuditRecord.seq == 1).values(details='{"hash":"sha256","previous":"sha256"}')
        )
    result = audit.verify(sm3_store)
    assert not result.ok and result.bad_seq == 1


def test_a_chain_switched_from_sha256_to_sm3_and_back_verifies_unchanged(store: Store, config: Config) -> None:
    fill(store, 3)
    before = [(row.seq, row.hash) for row in _rows(store)]
    _use_hash(store, config, "sm3")
    fill(store, 3)
    _use_hash(store, config, "sha256")
    fill(store, 2)
    rows = _rows(store)
    assert [(row.seq, row.hash) for row in rows[:3]] == before  # no migration of the old records
    switches = [json.loads(row.details) for row in rows if row.action == audit.HASH_ACTION]
    assert switches == [{"hash": "sm3", "previous": "sha256"}, {"hash": "sha256", "previous": "sm3"}]
    result = audit.verify(store)
    assert result.ok and result.count == len(rows) == 10


def test_a_record_of_a_mixed_chain_edited_after_the_switch_is_named(store: Store, config: Config) -> None:
    fill(store, 2)
    _use_hash(store, config, "sm3")
    fill(store, 3)
    with store.session() as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 5).values(target="elsewhere"))
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 5


def test_the_hash_in_force_is_found_after_an_archived_prefix_that_is_not_at_hand(store: Store, config: Config) -> None:
    _use_hash(store, config, "sm3")
    fill(store, 3)
    time.sleep(0.01)
    cutoff = datetime.now(UTC)
    time.sleep(0.01)
    fill(store, 2)
    made = archive.archive_before(config, store, cutoff)
    assert made is not None and made.first_seq == 1  # the audit.hash record went to the archive
    made.path.rename(made.path.with_name("offline.gz"))
    result = audit.verify(store)
    assert result.ok and result.trusted_archive == made.path.name


def test_evidence_digests_carry_their_hash_and_check_against_it() -> None:
    data = b"report bytes"
    sm3 = audit.evidence_digest(data, "sm3")
    assert sm3 == "sm3:" + hashlib.new("sm3", data).hexdigest()
    assert audit.evidence_digest(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert audit.check_evidence_digest(data, sm3)
    assert not audit.check_evidence_digest(data + b".", sm3)
    assert not audit.check_evidence_digest(data, "md5:" + hashlib.md5(data, usedforsecurity=False).hexdigest())


def test_a_store_opened_with_sm3_writes_sm3(config: Config) -> None:
    opened = open_store(dataclasses.replace(config, audit_hash="sm3"))
    try:
        audit.append(opened, actor="alice", action="x", target="y")
        assert _rows(opened)[0].action == audit.HASH_ACTION and audit.verify(opened).ok
    finally:
        opened.close()


def test_egov_audit_verify_checks_a_chain_switched_to_sm3_and_names_a_tampered_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from tests.conftest import egov, write_config

    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    assert egov(tmp_path, "secrets", "set", "a", stdin="value").returncode == 0
    write_config(tmp_path, audit={"hash": "sm3"})  # the operator changes the setting
    assert egov(tmp_path, "secrets", "set", "b", stdin="value").returncode == 0
    result = egov(tmp_path, "audit", "verify", "--local-only")
    assert result.returncode == 0, result.stderr
    # init's, the CA's (pki.init), a, the switch to sm3, b (sm3)
    assert result.stdout.startswith("ok: 5 records, chain intact")
    assert "records hashed with sha256 and sm3" in result.stdout
    with sqlite3.connect(tmp_path / "var" / "egov.db") as connection:
        connection.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 5")
    broken = egov(tmp_path, "audit", "verify", "--local-only")
    assert broken.returncode == 1 and "BROKEN at record 5" in broken.stderr
