"""Benchmark: `audit verify` over 100,000 records (target under 2 s).

Seeds a fresh SQLite store with 100,000 chained records (through the same
hash function the log uses, in bulk), then times verification. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controlplane import audit
from controlplane.store import Store, create_store_engine
from controlplane.store.models import AuditRecord, Setting

RECORDS = 100_000


def seed(store: Store, count: int) -> None:
    """Insert ``count`` valid chained records in bulk."""
    prev = audit.GENESIS
    rows = []
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for seq in range(1, count + 1):
        record = {
            "seq": seq,
            "at": (start + dt.timedelta(seconds=seq)).isoformat(timespec="microseconds"),
            "actor": f"user{seq % 50}",
            "action": "run.start",
            "target": f"host-{seq % 1000}",
            "outcome": "ok",
            "client": "127.0.0.1",
            "details": audit.canonical_json({"run": seq}),
        }
        digest = audit.record_hash(prev, record)
        rows.append({**record, "prev_hash": prev, "hash": digest})
        prev = digest
    with store.engine.begin() as connection:
        connection.execute(AuditRecord.__table__.insert(), rows)
        connection.execute(Setting.__table__.insert(), [{"key": audit.HEAD_KEY, "value": f"{count}:{prev}"}])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(create_store_engine(f"sqlite:///{folder}/bench.db"))
        store.upgrade()
        started = time.perf_counter()
        seed(store, RECORDS)
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        result = audit.verify(store)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        for index in range(200):
            audit.append(store, actor="bench", action="x", target=str(index))
        append_ms = (time.perf_counter() - started) / 200 * 1000
        print(f"seeded {RECORDS:,} records in {seeded:.2f} s")
        print(f"audit verify over {result.count:,} records: {elapsed:.2f} s (target < 2 s), ok={result.ok}")
        print(f"audit append: {append_ms:.2f} ms per record (SQLite, one transaction each)")
        store.close()


if __name__ == "__main__":
    main()
