"""Benchmark: a month's availability report for 1,000 services (target under 3 s), and the rollup per probe result.

1. Report: a fresh SQLite store holds a whole month (November 2026,
   Asia/Shanghai) of hour rollups for 1,000 services with 10 s slices
   (259,200 slices each; every tenth service had a 5-minute outage a day,
   every fiftieth a maintenance window cutting hours, so minute rows are
   read too). Times :func:`build_report` (data: figures, 30 days, burn-down,
   incidents, ranking) and the HTML of it, and prints the slices counted.
2. Rollup: 1,000 services probed every 10 s for 10 simulated minutes
   (60,000 results stored through the monitor's ``save_results``), rolled
   up every 10 s as the monitor does; prints the rollup's cost per result
   (and save_results' for comparison).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controlplane.inventory import Inventory, Site
from controlplane.monitoring.results import ProbeResult, save_results
from controlplane.monitoring.spec import MonitoringSpec
from controlplane.slo import timeslices as ts
from controlplane.slo.models import MaintenanceWindow, SloHour, SloMinute
from controlplane.slo.report import build_report
from controlplane.slo.rollup import Rollup
from controlplane.slo.site import SiteLevels
from controlplane.slo.spec import BurnRate, Service, SloSpec
from controlplane.store import Store, create_store_engine

SERVICES = 1000
SLICE = 10
ZONE = dt.timezone(dt.timedelta(hours=8))
MONTH_START = dt.datetime(2026, 11, 1, tzinfo=ZONE)
MONTH_END = dt.datetime(2026, 12, 1, tzinfo=ZONE)
PER_HOUR = 3600 // SLICE
FULL = ts.full_mask(SLICE)


def levels(count: int) -> SiteLevels:
    """1,000 services over 31 provinces and the ministry (an inventory of sites only)."""
    sites = {"ministry": Site("ministry", "ministry", None, "教育部")}
    for number in range(31):
        sites[f"province-{number}"] = Site(f"province-{number}", "province", "ministry", f"省 {number}")
    rates = (BurnRate(3600, 300, 14.4), BurnRate(21600, 1800, 6))
    services = tuple(
        Service(f"svc-{i}", "ministry" if i % 32 == 31 else f"province-{i % 32 % 31}",
                ((f"check-{i % 4}", f"host-{i}"),), (14.0,), 0.999, slice_seconds=SLICE, title_zh=f"系统 {i}",
                title_en=f"System {i}", burn_rates=rates)
        for i in range(count)
    )  # fmt: skip
    by_key = {service.checks[0]: (service.name,) for service in services}
    slo = SloSpec(Path("slo.yml"), services, "Asia/Shanghai", by_key)
    return SiteLevels(MonitoringSpec(Path(".")), slo, Inventory(Path("inventory"), [], sites))


def seed_month(store: Store, spec: SiteLevels) -> int:
    """Hour rows for the whole month, minute rows for the maintenance hours; return the rows written."""
    rng = random.Random(17)
    start, end = int(MONTH_START.timestamp()), int(MONTH_END.timestamp())
    hours, minutes, windows = [], [], []
    for index, service in enumerate(spec.slo.services):
        for hour in range(start, end, 3600):
            bad = 30 if index % 10 == 0 and (hour - start) % 86400 == 3 * 3600 else 0
            hours.append({"service": service.name, "hour": hour, "good": PER_HOUR - bad, "bad": bad,
                          "slice_seconds": SLICE})  # fmt: skip
        if index % 50 == 0:
            cut = start + 86400 * rng.randrange(28) + 1800  # a window from hh:30 to hh+1:30 cuts two hours
            windows.append({"site": service.site, "services": [service.name], "starts_at": ts.at(cut),
                            "ends_at": ts.at(cut + 3600), "reason": "bench", "kind": "planned", "created_by": "b",
                            "created_at": ts.at(cut - 86400), "silences": []})  # fmt: skip
            for minute in range(ts.hour_of(cut), ts.hour_of(cut) + 7200, 60):
                minutes.append({"service": service.name, "minute": minute, "good": FULL, "bad": 0,
                                "slice_seconds": SLICE})  # fmt: skip
    with store.engine.begin() as connection:
        connection.execute(SloHour.__table__.insert(), hours)
        connection.execute(SloMinute.__table__.insert(), minutes)
        connection.execute(MaintenanceWindow.__table__.insert(), windows)
    return len(hours) + len(minutes)


def bench_report(folder: Path) -> None:
    from controlplane.slo.render import html

    store = Store(create_store_engine(f"sqlite:///{folder}/report.db"))
    store.upgrade()
    spec = levels(SERVICES)
    began = time.perf_counter()
    rows = seed_month(store, spec)
    print(f"seeded {rows:,} rollup rows for {SERVICES:,} services in {time.perf_counter() - began:.1f} s")
    after = MONTH_END.astimezone(dt.UTC) + dt.timedelta(hours=1)
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        report = build_report(store, spec, "2026-11", now=after)
        timings.append(time.perf_counter() - began)
    slices = sum(s["elapsed_seconds"] for s in report["services"]) / SLICE
    print(f"report 2026-11, {SERVICES:,} services, {slices / SERVICES:,.0f} slices each ({slices:,.0f} in all): "
          f"best {min(timings):.2f} s, worst {max(timings):.2f} s (target < 3 s)")  # fmt: skip
    began = time.perf_counter()
    page = html(report, "zh")
    took = time.perf_counter() - began
    print(f"its HTML (zh, 2 SVG charts per service): {took:.2f} s, {len(page) / 1e6:.1f} MB")
    worst = report["regions"][0]
    print(f"ranking: {len(report['regions'])} regions, worst {worst['region']} at {worst['availability'] * 100:.4f} %")
    store.close()


def bench_rollup(folder: Path) -> None:
    store = Store(create_store_engine(f"sqlite:///{folder}/rollup.db"))
    store.upgrade()
    spec = levels(SERVICES)
    rollup = Rollup(spec.slo)
    start = MONTH_START.astimezone(dt.UTC)
    saving = rolling = 0.0
    results = 0
    for tick in range(60):
        moment = start + dt.timedelta(seconds=SLICE * tick)
        batch = [
            ProbeResult(s.checks[0][0], "http", s.checks[0][1], s.site, "r", tick % 30 != 7 or i % 5 != 0, 0.01, "ok",
                        at=moment + dt.timedelta(milliseconds=i))
            for i, s in enumerate(spec.slo.services)
        ]  # fmt: skip
        began = time.perf_counter()
        with store.session() as session:
            save_results(session, batch, history=200)
        saving += time.perf_counter() - began
        began = time.perf_counter()
        with store.session() as session:
            rollup.run(session, moment + dt.timedelta(seconds=3))
        rolling += time.perf_counter() - began
        results += len(batch)
    with store.session() as session:
        minutes = session.query(SloMinute).count()
    print(f"rollup: {results:,} results of {SERVICES:,} services over 10 min, rolled up every {SLICE} s: "
          f"{rolling / results * 1e6:.0f} µs per result ({rolling / 60 * 1000:.0f} ms per run); "
          f"save_results {saving / results * 1e6:.0f} µs per result; {minutes:,} minute rows")  # fmt: skip
    store.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="egov-bench-slo-") as folder:
        bench_report(Path(folder))
        bench_rollup(Path(folder))


if __name__ == "__main__":
    main()
