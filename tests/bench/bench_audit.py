"""Benchmark: `audit verify` over 100,000 records, unkeyed and keyed (target under 2 s each).

Seeds two fresh SQLite stores with 100,000 chained records in bulk through the
same hash functions the log uses: unkeyed SHA-256 records (an older store),
and HMAC-SHA256 records keyed with the site's vault key (a store since
migration 0010, with a local anchor every 1,000 records as the scheduled job
would leave). Times verification of each, then appends, and an archive run
that moves the oldest half out. Prints figures; asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controlplane import audit
from controlplane.audit import anchor, archive
from controlplane.audit.keys import keyring_for
from controlplane.config import load_config
from controlplane.store import Store, create_store_engine, open_store
from controlplane.store.models import AuditRecord, Setting
from controlplane.vault import create_key_file
from tests.conftest import write_config

RECORDS = 100_000
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def seed(store: Store, count: int, key: bytes | None = None, key_id: str | None = None) -> list[tuple[int, str]]:
    """Insert ``count`` valid chained records in bulk (keyed when given a key); return (seq, hash) every 1,000."""
    prev = audit.GENESIS
    rows, marks = [], []
    for seq in range(1, count + 1):
        record = {
            "seq": seq,
            "at": (START + dt.timedelta(seconds=seq)).isoformat(timespec="microseconds"),
            "actor": f"user{seq % 50}",
            "action": "run.start",
            "target": f"host-{seq % 1000}",
            "outcome": "ok",
            "client": "127.0.0.1",
            "details": audit.canonical_json({"run": seq}),
            "site": f"school-{seq % 20}" if key else None,
            "key_id": key_id,
        }
        digest = audit.keyed_hash(key, prev, record) if key else audit.record_hash(prev, record)
        rows.append({**record, "prev_hash": prev, "hash": digest})
        prev = digest
        if seq % 1000 == 0:
            marks.append((seq, digest))
    with store.engine.begin() as connection:
        connection.execute(AuditRecord.__table__.insert(), rows)
        connection.execute(Setting.__table__.insert(), [{"key": audit.HEAD_KEY, "value": f"{count}:{prev}"}])
    return marks


def timed_verify(store: Store) -> tuple[float, audit.Verification]:
    started = time.perf_counter()
    result = audit.verify(store)
    return time.perf_counter() - started, result


def unkeyed(folder: str) -> None:
    store = Store(create_store_engine(f"sqlite:///{folder}/bench.db"))
    store.upgrade()
    started = time.perf_counter()
    seed(store, RECORDS)
    seeded = time.perf_counter() - started
    elapsed, result = timed_verify(store)
    started = time.perf_counter()
    for index in range(200):
        audit.append(store, actor="bench", action="x", target=str(index))
    append_ms = (time.perf_counter() - started) / 200 * 1000
    print(f"seeded {RECORDS:,} records in {seeded:.2f} s")
    print(f"audit verify over {result.count:,} records: {elapsed:.2f} s (target < 2 s), ok={result.ok}")
    print(f"audit append: {append_ms:.2f} ms per record (SQLite, one transaction each)")
    store.close()


def keyed(folder: Path) -> None:
    config = load_config(write_config(folder))
    create_key_file(config.key_file)
    store = open_store(config)
    keyring = keyring_for(store)
    key_id, _created = keyring.reuse_or_create()
    for seq, digest in seed(store, RECORDS, keyring.get(key_id), key_id):
        anchor.append_local(config, seq, digest)
    elapsed, result = timed_verify(store)
    print(
        f"keyed audit verify (HMAC-SHA256, {len(anchor.read_local(config)[0])} local anchors) over "
        f"{result.count:,} records: {elapsed:.2f} s (target < 2 s), ok={result.ok}"
    )
    started = time.perf_counter()
    for index in range(200):
        audit.append(store, actor="bench", action="x", target=str(index), site="school-1")
    append_ms = (time.perf_counter() - started) / 200 * 1000
    print(f"keyed audit append: {append_ms:.2f} ms per record (SQLite, one transaction each)")
    started = time.perf_counter()
    made = archive.archive_before(config, store, START + dt.timedelta(seconds=RECORDS // 2 + 1))
    archived = time.perf_counter() - started
    size = made.path.stat().st_size if made else 0
    print(f"audit archive of {made.count if made else 0:,} records: {archived:.2f} s, {size / 1e6:.1f} MB gzip")
    elapsed, result = timed_verify(store)
    print(f"keyed audit verify across archive + database ({result.count:,} records): {elapsed:.2f} s, ok={result.ok}")
    store.close()


def main() -> None:
    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (figures scale with it)")
    with tempfile.TemporaryDirectory() as folder:
        unkeyed(folder)
    with tempfile.TemporaryDirectory() as folder:
        keyed(Path(folder))


if __name__ == "__main__":
    main()
