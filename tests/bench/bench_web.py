"""Benchmark: the console on a store with 20,000 runs (in-process, Flask's test client).

Times app creation, then the median latency of the pages and API calls an
operator uses most (dashboard, runs list, host detail, /api/v1/runs,
/metrics) as a ministry-level user and as a province-scoped one. No network:
everything runs inside this process. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import write_config

RUNS = 20_000
REPEAT = 30
SITES = [
    ("gd-school-1", "school-gd-1"),
    ("gd-edu-1", "province-gd"),
    ("mn-portal-1", "ministry"),
    ("dr-app-1", "dr-center"),
]


def seed(store: object, count: int) -> None:
    """Insert ``count`` finished runs spread over four hosts, in bulk."""
    import datetime as dt

    from controlplane.store.models import Run

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = []
    for index in range(count):
        host, site = SITES[index % len(SITES)]
        at = start + dt.timedelta(minutes=index)
        rows.append(
            {
                "kind": ("ping", "backup", "harden")[index % 3],
                "target": host,
                "site": site,
                "actor": "bench",
                "trigger": "cli",
                "status": ("succeeded", "failed", "partial")[index % 3],
                "dry_run": False,
                "params": {},
                "summary": {},
                "created_at": at,
                "started_at": at,
                "finished_at": at + dt.timedelta(seconds=30),
                "cancel_requested": False,
                "output_lines": 0,
            }
        )
    with store.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(Run.__table__.insert(), rows)


def timed(client: object, path: str, headers: dict[str, str]) -> float:
    """Median seconds of REPEAT GETs of ``path``."""
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(path, headers=headers)  # type: ignore[attr-defined]
        response.get_data()
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples)


def main() -> None:
    from controlplane import users
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.store import open_store
    from controlplane.vault import create_key_file
    from controlplane.web import create_app, shutdown

    with tempfile.TemporaryDirectory() as folder:
        config = load_config(write_config(Path(folder)))
        create_key_file(config.key_file)
        store = open_store(config)
        seed(store, RUNS)
        inventory = load_inventory(config.inventory)
        started = time.perf_counter()
        app = create_app(config, {"EGOV_INVENTORY": inventory})
        created = time.perf_counter() - started
        started = time.perf_counter()
        create_app(config, {"EGOV_INVENTORY": inventory, "EGOV_STORE": store})
        recreated = time.perf_counter() - started
        tokens = {}
        with store.session() as session:
            for name, sites in (("ministry-ops", []), ("province-ops", ["province-gd"])):
                user = users.create_user(session, name=name, role="operator", password="bench password 1", sites=sites)
                tokens[name] = users.create_token(session, user, "bench")[1]
        client = app.test_client()
        print(f"runs in store: {RUNS}")
        print(f"create_app (opens store): {created * 1000:.0f} ms; on an open store: {recreated * 1000:.0f} ms")
        for name, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            for path in (
                "/",
                "/runs",
                "/runs?status=failed&page=20",
                "/hosts/gd-school-1",
                "/api/v1/runs",
                "/api/v1/dashboard",
                "/metrics",
            ):
                print(f"{name:13s} GET {path:32s} median {timed(client, path, headers) * 1000:7.1f} ms")
        shutdown(app)
        store.close()


if __name__ == "__main__":
    main()
