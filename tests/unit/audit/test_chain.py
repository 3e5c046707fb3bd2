"""The audit chain detects an edited, deleted, reordered or truncated record, even one forged by a DB writer."""

from __future__ import annotations

import threading

from sqlalchemy import delete, text, update

from controlplane import audit
from controlplane.store.models import AuditRecord
from tests.unit.audit.conftest import fill as _fill
from tests.unit.audit.conftest import forge_from


def test_an_intact_chain_verifies(store) -> None:
    _fill(store)
    result = audit.verify(store)
    assert result.ok and result.count == 6 and result.bad_seq is None


def test_an_empty_log_verifies(store) -> None:
    assert audit.verify(store).ok


def test_an_edited_record_is_named(store) -> None:
    _fill(store)
    with store.session() as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(actor="mallory"))
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 3 and "modified" in result.reason


def test_a_deleted_record_is_named(store) -> None:
    _fill(store)
    with store.session() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 4))
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 4 and "missing" in result.reason


def test_a_deleted_and_renumbered_record_is_named(store) -> None:
    _fill(store)
    with store.session() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 4))
        for seq in (5, 6):
            session.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(seq=seq - 1))
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 4


def test_reordered_records_are_named(store) -> None:
    _fill(store)
    with store.session() as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(seq=-2))
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(seq=2))
        session.execute(update(AuditRecord).where(AuditRecord.seq == -2).values(seq=3))
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 2


def test_records_cut_off_the_end_are_detected(store) -> None:
    _fill(store)
    with store.session() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq >= 5))
    result = audit.verify(store)
    assert not result.ok and "removed" in result.reason


def test_a_recomputed_forgery_without_the_head_is_detected(store) -> None:
    _fill(store)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM settings WHERE key = 'audit.head'"))
    assert not audit.verify(store).ok


def test_concurrent_writers_keep_one_chain(store) -> None:
    def writer(name: str) -> None:
        for index in range(15):
            audit.append(store, actor=name, action="x", target=str(index))

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = audit.verify(store)
    assert result.ok and result.count == 60


def test_hostile_strings_are_stored_as_data(store) -> None:
    audit.append(store, actor="$(reboot)", action="; rm -rf /", target="../..\nx", details={"k": "<script>"})
    record = audit.list_records(store, limit=1)[0]
    assert record.actor == "$(reboot)" and record.target == "../..\nx"
    assert audit.verify(store).ok


def test_a_record_rewritten_with_every_later_hash_recomputed_is_detected(store) -> None:
    _fill(store, 8)
    forge_from(store, 3, actor="mallory")
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 3


def test_a_forgery_that_keeps_the_key_ids_is_detected_too(store) -> None:
    _fill(store, 8)
    forge_from(store, 5, drop_key=False, target="elsewhere")
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 5 and "modified" in result.reason


def test_the_whole_chain_recomputed_unkeyed_is_detected(store) -> None:
    _fill(store, 5)
    forge_from(store, 1, actor="mallory")
    result = audit.verify(store)
    assert not result.ok


def test_the_fast_record_encoder_writes_exactly_canonical_json() -> None:
    from controlplane.audit.chain import body_json

    body = {"seq": 7, "actor": "王\u2028\x00$(x)", "target": '"\\\n', "site": None, "details": '{"a":1}', "n": -1}
    assert body_json(body) == audit.canonical_json(body)


def test_a_hostile_site_is_stored_as_data_and_filters_exactly(store) -> None:
    audit.append(store, actor="a", action="x", target="t", site="school-gd-1'; DROP TABLE audit_log; --\n$(x)")
    audit.append(store, actor="a", action="x", target="t", site="school-gd-1")
    assert [r.site for r in audit.list_records(store, sites={"school-gd-1"})] == ["school-gd-1"]
    assert audit.list_records(store, sites=set()) == []
    assert audit.verify(store).ok
