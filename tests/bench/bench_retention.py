"""Benchmark: retention over 200,000 run output lines, 20,000 deliveries and 50,000 probe results on SQLite.

Seeds a fresh store in bulk (1,000 old finished runs of 200 lines each, half
the deliveries and probe history old), then times a dry run and a real run,
and the longest single batch transaction (how long SQLite's write lock is
held at once; a concurrent writer waits at most that long). Prints figures;
asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert

from controlplane import retention
from controlplane.config import load_config
from controlplane.monitoring.models import Delivery, ProbeHistory
from controlplane.store import open_store
from controlplane.store.models import Run, RunOutput, RunStatus, utcnow
from tests.conftest import write_config

RUNS, LINES = 1_000, 200
DELIVERIES, PROBES = 20_000, 50_000


def seed(store: Any) -> None:
    """Bulk rows: every run old and finished; half the deliveries and probe results old."""
    now = utcnow()
    old = now - dt.timedelta(days=200)
    with store.session() as session:
        runs = [
            {"kind": "scan", "target": "all", "actor": "bench", "trigger": "cli", "status": RunStatus.SUCCEEDED,
             "dry_run": False, "params": {}, "summary": {}, "created_at": old, "finished_at": old,
             "cancel_requested": False, "output_lines": LINES}
            for _ in range(RUNS)
        ]  # fmt: skip
        session.execute(insert(Run), runs)
        ids = [row[0] for row in session.query(Run.id).all()]
        for run_id in ids:
            session.execute(
                insert(RunOutput),
                [{"run_id": run_id, "seq": n, "created_at": old, "stream": "out", "text": f"line {n}"}
                 for n in range(1, LINES + 1)],
            )  # fmt: skip
        session.execute(
            insert(Delivery),
            [{"receiver": "oncall", "group_key": "g", "kind": "notify", "status": "sent", "payload": {},
              "attempts": 1, "created_at": old if n % 2 else now, "next_attempt_at": now}
             for n in range(DELIVERIES)],
        )  # fmt: skip
        session.execute(
            insert(ProbeHistory),
            [{"check": "ping", "host": f"h{n % 500}", "success": True, "duration": 0.01, "message": "",
              "samples": [], "at": old if n % 2 else now}
             for n in range(PROBES)],
        )  # fmt: skip


def main() -> None:
    from controlplane.cli.wiring import wire

    wire()  # retention thins the monitoring tables it is handed, as in every egov process
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(write_config(Path(folder)))
        store = open_store(config)
        started = time.perf_counter()
        seed(store)
        print(f"seeded {RUNS * LINES:,} output lines, {DELIVERIES:,} deliveries, {PROBES:,} probe results "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        policy = retention.RetentionPolicy.from_config(config)
        started = time.perf_counter()
        dry = retention.apply_retention(store, policy, dry_run=True)
        print(f"dry run: {time.perf_counter() - started:.2f} s; " + "; ".join(retention.describe(dry, policy)))
        longest = [0.0]
        real_session = store.session

        def timed_session() -> Any:
            """The store's session, timing each transaction (a batch holds the write lock this long)."""
            import contextlib

            @contextlib.contextmanager
            def wrapper() -> Any:
                began = time.perf_counter()
                with real_session() as session:
                    yield session
                longest[0] = max(longest[0], time.perf_counter() - began)

            return wrapper()

        store.session = timed_session  # type: ignore[method-assign]
        started = time.perf_counter()
        report = retention.apply_retention(store, policy)
        elapsed = time.perf_counter() - started
        print(f"real run: {elapsed:.2f} s ({report.removed / elapsed:,.0f} rows/s); longest transaction "
              f"{longest[0] * 1000:.0f} ms (batch {retention.BATCH})")  # fmt: skip
        print("; ".join(retention.describe(report, policy)))
        store.session = real_session  # type: ignore[method-assign]
        store.close()


if __name__ == "__main__":
    main()
