"""Retention: old records move to compressed, chained archives (never silently dropped) and still verify."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time

import pytest
from sqlalchemy import delete, func, select

from controlplane import audit
from controlplane.audit import archive
from controlplane.store.models import AuditRecord
from tests.unit.audit.conftest import fill


def _count(store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditRecord)))


def _split(store, old: int, new: int) -> dt.datetime:
    """``old`` records, then a cut-off time, then ``new`` records; return the cut-off."""
    fill(store, old)
    time.sleep(0.01)
    cutoff = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    fill(store, new)
    return cutoff


def test_records_older_than_the_cutoff_move_to_an_archive_and_the_whole_chain_verifies(store, config) -> None:
    cutoff = _split(store, 4, 3)
    made = archive.archive_before(config, store, cutoff)
    assert made is not None and (made.first_seq, made.last_seq, made.count) == (1, 4, 4)
    assert made.path.parent == config.audit_archive_dir and made.path.name.endswith(".jsonl.gz")
    assert _count(store) == 4  # 3 newer records and the record that vouches for the archive
    with gzip.open(made.path, "rt", encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    assert [line["seq"] for line in lines[1:-1]] == [1, 2, 3, 4]
    result = audit.verify(store)
    assert result.ok and result.count == 8 and result.archives == (made.path.name,)
    vouch = audit.list_records(store, limit=1)[0]
    assert vouch.action == archive.ARCHIVE_ACTION and json.loads(vouch.details)["sha256"] == made.sha256


def test_nothing_is_removed_when_the_archive_cannot_be_written(store, config) -> None:
    cutoff = _split(store, 3, 1)
    config.audit_archive_dir.parent.mkdir(parents=True, exist_ok=True)
    config.audit_archive_dir.write_text("a file where the folder should be")
    with pytest.raises(audit.AuditError, match="archive"):
        archive.archive_before(config, store, cutoff)
    assert _count(store) == 4 and audit.verify(store).ok


def test_an_edited_archive_is_detected(store, config) -> None:
    made = archive.archive_before(config, store, _split(store, 4, 1))
    with gzip.open(made.path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    record = json.loads(lines[2])
    record["actor"] = "mallory"
    lines[2] = json.dumps(record)
    with gzip.open(made.path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    result = audit.verify(store)
    assert not result.ok and made.path.name in result.reason


def test_a_missing_archive_is_trusted_through_the_keyed_record_that_vouches_for_it(store, config) -> None:
    made = archive.archive_before(config, store, _split(store, 4, 2))
    made.path.rename(made.path.with_name("moved-offline.gz"))
    result = audit.verify(store)
    assert result.ok and result.count == 3
    assert result.trusted_archive == made.path.name and "not found" in " ".join(result.notes)


def test_records_cut_off_the_front_without_an_archive_are_detected(store) -> None:
    fill(store, 6)
    with store.session() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq <= 3))
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 1 and "missing" in result.reason


def test_a_second_archive_continues_the_first_and_vouches_for_it(store, config) -> None:
    first = archive.archive_before(config, store, _split(store, 3, 0))
    second = archive.archive_before(config, store, _split(store, 2, 2))
    assert second.first_seq == first.last_seq + 1
    assert audit.verify(store).archives == (first.path.name, second.path.name)
    first.path.unlink()
    result = audit.verify(store)
    assert result.ok and result.trusted_archive == first.path.name


def test_a_cutoff_with_nothing_older_archives_nothing(store, config) -> None:
    fill(store, 2)
    assert archive.archive_before(config, store, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) is None
    assert _count(store) == 2


def test_retention_keys_have_defaults_and_appear_in_the_sample(config) -> None:
    from controlplane.config_schema import sample_yaml

    assert config.retention_audit_days == 365
    assert config.audit_archive_dir == config.state_dir / "audit" / "archive"
    sample = sample_yaml()
    assert "audit_days: 365" in sample and "audit_archive_dir" in sample


def test_the_consoles_quick_check_trusts_the_voucher_and_the_full_check_reads_the_file(store, config) -> None:
    made = archive.archive_before(config, store, _split(store, 3, 1))
    made.path.write_bytes(made.path.read_bytes()[:-8])  # a damaged archive
    quick = audit.verify(store, read_archives=False)
    assert quick.ok and quick.trusted_archive == made.path.name
    assert not audit.verify(store).ok
