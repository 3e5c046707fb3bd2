"""The audit chain detects an edited, deleted, reordered or truncated record."""

from __future__ import annotations

import threading

from sqlalchemy import delete, text, update

from controlplane import audit
from controlplane.store.models import AuditRecord


def _fill(store, count: int = 6) -> None:
    for index in range(count):
        audit.append(store, actor="alice", action="run.start", target=f"host-{index}", details={"n": index})


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
