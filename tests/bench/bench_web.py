"""Benchmark: the real console (`egov serve`) under 20 concurrent clients, 1,000 hosts, 100,000 runs.

Seeds a site in a temp folder: a generated inventory (the ministry, 10
provinces, 10 schools under each; 1,000 hosts), 100,000 finished runs
inserted in bulk, and two operators (ministry level: every site; province
level: one province and its schools). Then starts ``egov serve`` on a free
127.0.0.1 port exactly as in production (waitress, default thread count),
once per process count in ``--workers`` (1 and 2), and, per page (dashboard,
hosts list, runs list), has 20 client threads, each with its own logged-in
``requests.Session``, send REQUESTS GETs in total: first with no new runs,
then while five new runs land every second (which makes the console recompute
what it keeps). The dashboard opens with the health picture: the site's
store holds what the monitor and a scan would have stored (two probe results
per host, one host in 40 failing a check; a scan of CONTROLS controls on
every host; an alert on every tenth school), and a new probe result every
second changes what the picture shows. Prints p50/p95 per page and user
against the target (p95 < 150 ms), and the time to read the health of every
site with a cold cache (its sources and measures) with a backup policy over
every host. The clients
run on the same machine and take CPU from the
server: the figures are a floor, not a ceiling. A figures script, not a
test: it asserts only that every answer was a 200.

    .venv/bin/python tests/bench/bench_web.py [--requests 400] [--clients 20] [--workers 1,2] [--churn 0.2]

Nothing leaves the machine: the server binds 127.0.0.1 and no run executes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import requests
import yaml

from tests.conftest import REPO, write_config

PROVINCES = 10
SCHOOLS_PER_PROVINCE = 10
HOSTS_PER_SCHOOL = 9
HOSTS_PER_PROVINCE = 9
MINISTRY_HOSTS = 10
RUNS = 100_000
TARGET_P95_MS = 150.0
PASSWORD = "bench password 1"
PAGES = (("dashboard", "/"), ("hosts list", "/hosts"), ("runs list", "/runs"))
CONTROLS = 20  # compliance results per host in the seeded scan
USERS = (("ministry-ops", []), ("province-ops", ["province-03"]))


def inventory_data() -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Return an Ansible YAML inventory of 1,000 hosts in 111 sites and the (host, site) pairs."""
    groups: dict[str, Any] = {}
    hosts: list[tuple[str, str]] = []

    def site_group(name: str, level: str, parent: str | None, title: str, members: list[str], role: str) -> None:
        variables = {"site": name, "site_level": level, "site_title_zh": title}
        if parent:
            variables["site_parent"] = parent
        groups[name.replace("-", "_")] = {
            "vars": variables,
            "hosts": {
                # Loopback addresses: nothing in the console may reach a generated host on a real network.
                host: {"ansible_host": f"127.{100 + len(groups) // 250}.{len(groups) % 250}.{index + 1}", "role": role}
                for index, host in enumerate(members)
            },
        }
        hosts.extend((host, name) for host in members)

    site_group("ministry", "ministry", None, "教育部", [f"mn-{i:02d}" for i in range(MINISTRY_HOSTS)], "portal")
    for p in range(PROVINCES):
        province = f"province-{p:02d}"
        members = [f"p{p:02d}-edu-{i}" for i in range(HOSTS_PER_PROVINCE)]
        site_group(province, "province", "ministry", f"第{p + 1}省教育厅", members, "office")
        for s in range(SCHOOLS_PER_PROVINCE):
            school = f"school-{p:02d}-{s:02d}"
            members = [f"p{p:02d}-s{s:02d}-{i}" for i in range(HOSTS_PER_SCHOOL)]
            site_group(school, "school", province, f"第{p + 1}省第{s + 1}中学", members, "school")
    return {"all": {"children": groups}}, hosts


def seed_runs(store: Any, hosts: list[tuple[str, str]], count: int) -> None:
    """Insert ``count`` finished runs spread over the hosts, in bulk (one transaction per 10,000)."""
    from controlplane.store.models import Run

    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    table = Run.__table__
    batch: list[dict[str, Any]] = []
    for index in range(count):
        host, site = hosts[(index * 7919) % len(hosts)]
        at = start + dt.timedelta(minutes=5 * index)
        batch.append(
            {
                "kind": ("ping", "backup", "harden", "scan")[index % 4],
                "target": host,
                "site": site,
                "actor": "bench",
                "trigger": "schedule",
                "status": ("succeeded", "succeeded", "succeeded", "failed", "partial")[index % 5],
                "dry_run": False,
                "params": {},
                "summary": {},
                "exit_code": 0,
                "created_at": at,
                "started_at": at,
                "finished_at": at + dt.timedelta(seconds=30 + index % 90),
                "cancel_requested": False,
                "output_lines": 0,
            }
        )
        if len(batch) == 10_000:
            with store.engine.begin() as connection:
                connection.execute(table.insert(), batch)
            batch = []
    if batch:
        with store.engine.begin() as connection:
            connection.execute(table.insert(), batch)


def seed_health(store: Any, hosts: list[tuple[str, str]]) -> None:
    """Store what the health picture reads: latest probe results, a scan of every host, some firing alerts."""
    from controlplane.compliance.models import ComplianceResult, ComplianceScan
    from controlplane.monitoring.models import AlertRecord, ProbeLatest
    from controlplane.store.models import utcnow

    now = utcnow()
    probes = [
        {"check": check, "host": host, "site": site, "role": "school", "type": check, "success": check == "ssh" or
         index % 40 != 0, "duration": 0.01, "message": "", "samples": [], "at": now}
        for index, (host, site) in enumerate(hosts)
        for check in ("ssh", "health")
    ]  # fmt: skip
    results = [
        {"host": host, "site": site, "control_id": f"control-{c}", "severity": "high",
         "status": "fail" if (index + c) % 50 == 0 else "pass", "found": "", "expected": "", "message": "",
         "remediation": {}}
        for index, (host, site) in enumerate(hosts)
        for c in range(CONTROLS)
    ]  # fmt: skip
    with store.engine.begin() as connection:
        connection.execute(ProbeLatest.__table__.insert(), probes)
        scan = {"catalog_version": "bench", "scope": "all sites", "hosts": {}, "summary": {}, "waivers": [],
                "trigger": "cli", "actor": "bench", "started_at": now, "finished_at": now}  # fmt: skip
        scan_id = connection.execute(ComplianceScan.__table__.insert().values(**scan)).inserted_primary_key[0]
        connection.execute(ComplianceResult.__table__.insert(), [{**row, "scan_id": scan_id} for row in results])
        schools = sorted({site for _host, site in hosts if site.startswith("school-")})
        connection.execute(AlertRecord.__table__.insert(), [
            {"fingerprint": f"{index:016x}", "source": "engine", "state": "firing", "labels": {"alertname": "Bench",
             "site": site}, "annotations": {}, "transitions": [], "fired_at": now, "active_since": now,
             "last_seen": now, "generator_url": ""}
            for index, site in enumerate(schools[::10])
        ])  # fmt: skip


def health_computation_ms(config_path: Path, hosts: list[tuple[str, str]]) -> tuple[float, int]:
    """Milliseconds of reading every source of the health picture (a cold cache), with a backup policy over every host.

    Run in this process on a copy of the site whose backup folder has one
    dataset on every host, so the DR readiness rows of 1,000 hosts count
    too; returns (milliseconds, backup units).
    """
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.store import open_store
    from controlplane.web.health import read_sources, site_health
    from controlplane.web.policy import Scope

    policies = config_path.parent / "bench-backup"
    policies.mkdir(exist_ok=True)
    centers = {"centers": {"primary": {"host": "mn-00", "root": "/srv/restic"}}}
    (policies / "centers.yml").write_text(yaml.safe_dump(centers))
    (policies / "data.yml").write_text(yaml.safe_dump({"datasets": [
        {"name": "data", "hosts": "all", "paths": ["/srv/data"], "schedule": "0 3 1 1 *", "rpo": "1d",
         "retention": {"keep_daily": 7}}]}))  # fmt: skip
    config = dataclasses.replace(load_config(config_path), backup=policies)
    inventory = load_inventory(config.inventory)
    store = open_store(config)
    try:
        read_sources(config, store, inventory)  # warm: imports, policy parser
        started = time.perf_counter()
        sites = site_health(inventory, Scope(True, frozenset()), read_sources(config, store, inventory))
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        store.close()
    return elapsed, sum(site.measures["backups"].total for site in sites)


def prepare(folder: Path) -> Path:
    """Write the site (inventory, egov.yml, store, users, runs) into ``folder``; return egov.yml."""
    from controlplane import users
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import create_key_file

    data, hosts = inventory_data()
    inventory = folder / "inventory.yml"
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    # Empty backup, monitoring and runbook folders: the console measured alone, with no probe loop or
    # backup schedule for the generated hosts running beside it.
    empty = folder / "empty"
    empty.mkdir()
    folders = {
        "inventory": str(inventory),
        "playbooks": str(REPO / "playbooks"),
        "backup": str(empty),
        "monitoring": str(empty),
        "runbooks": str(empty),
    }
    path = write_config(folder, folders=folders)
    config = load_config(path)
    create_key_file(config.key_file)
    store = open_store(config)
    try:
        started = time.perf_counter()
        seed_runs(store, hosts, RUNS)
        seed_health(store, hosts)
        print(f"seeded {len(hosts)} hosts in {1 + PROVINCES * (1 + SCHOOLS_PER_PROVINCE)} sites, ", end="")
        print(f"{RUNS} runs, {2 * len(hosts)} probe results, {CONTROLS * len(hosts)} compliance results ", end="")
        print(f"in {time.perf_counter() - started:.1f} s")
        with store.session() as session:
            for name, sites in USERS:
                users.create_user(session, name=name, role="operator", password=PASSWORD, sites=sites)
    finally:
        store.close()
    return path


def start_console(config_path: Path, workers: int = 1) -> tuple[subprocess.Popen[str], str]:
    """Start ``egov serve`` with ``workers`` processes on a free loopback port; return the process and its URL."""
    env = {**os.environ, "EGOV_CONFIG": str(config_path), "PYTHONUNBUFFERED": "1"}
    argv = ["serve", "--host", "127.0.0.1", "--port", "0", "--workers", str(workers), "--plain-http"]
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", *argv],
        stdout=subprocess.PIPE,
        stderr=(config_path.parent / "serve.log").open("w"),
        text=True,
        env=env,
        cwd=config_path.parent,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("console: "):
            return process, line.split(" ", 1)[1].strip()
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"the console did not start:\n{(config_path.parent / 'serve.log').read_text()}")


def logged_in(url: str, name: str) -> requests.Session:
    """Return a session logged in through the login form."""
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=60).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the login page"
    answer = session.post(
        f"{url}/login",
        data={"name": name, "password": PASSWORD, "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/", (answer.status_code, answer.text[:200])
    return session


def hammer(url: str, path: str, sessions: list[requests.Session], total: int) -> list[float]:
    """GET ``path`` ``total`` times from len(sessions) threads at once; return the latencies (s)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(sessions))
    share = [total // len(sessions) + (1 if i < total % len(sessions) else 0) for i in range(len(sessions))]

    def client(session: requests.Session, count: int) -> None:
        barrier.wait()
        for _ in range(count):
            started = time.perf_counter()
            response = session.get(f"{url}{path}", timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {path}")

    threads = [threading.Thread(target=client, args=(s, n)) for s, n in zip(sessions, share, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]
    return latencies


class Churn:
    """While active, adds one finished run to the store every ``interval`` seconds (as a busy network does).

    Every new run changes the console's runs version, so its short view cache
    is recomputed: with churn the figures include those recomputations.
    """

    def __init__(self, config_path: Path, interval: float) -> None:
        from controlplane.config import load_config
        from controlplane.store import open_store

        self.interval, self.added = interval, 0
        self.store = open_store(load_config(config_path))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from controlplane.monitoring.models import ProbeLatest
        from controlplane.runs import create_run, finish_run
        from controlplane.store.models import utcnow

        while not self.stop.wait(self.interval):
            with self.store.session() as session:
                run = create_run(session, kind="ping", target="p03-s07-1", actor="bench", site="school-03-07")
                finish_run(session, run, "succeeded")
                if self.added % 5 == 0:  # a new probe result every second: the health picture changes too
                    row = session.get(ProbeLatest, ("health", "p03-s07-1"))
                    if row is not None:
                        row.success, row.at = not row.success, utcnow()
            self.added += 1

    def __enter__(self) -> Churn:
        if self.interval > 0:
            self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.store.close()


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def measure(url: str, config_path: Path, clients: int, requests_per_page: int, churn: float) -> None:
    """Print p50/p95 per user and page with ``clients`` concurrent sessions (and a run every ``churn`` s)."""
    condition = f"a new run every {churn:g} s" if churn else "no new runs"
    for name, sites in USERS:
        sessions = [logged_in(url, name) for _ in range(clients)]
        scope = ", ".join(sites) or "every site"
        print(f"  {name} ({scope}), {clients} concurrent clients, {requests_per_page} GETs per page, {condition}:")
        for label, path in PAGES:
            hammer(url, path, sessions[:2], 2 * len(sessions[:2]))  # warm up (templates, caches)
            with Churn(config_path, churn) as writer:
                wall = time.perf_counter()
                samples = hammer(url, path, sessions, requests_per_page)
                wall = time.perf_counter() - wall
            p50, p95 = percentile(samples, 0.50) * 1000, percentile(samples, 0.95) * 1000
            verdict = "ok" if p95 < TARGET_P95_MS else "MISSED"
            print(
                f"    {label:11s}: p50 {p50:5.0f} ms, p95 {p95:5.0f} ms (target p95 < {TARGET_P95_MS:.0f} ms:"
                f" {verdict}); mean {statistics.fmean(samples) * 1000:.0f} ms,"
                f" {len(samples) / wall:.0f} req/s" + (f", {writer.added} runs added" if churn else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="GETs per page and user (default 400)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument(
        "--churn",
        type=float,
        default=0.2,
        help="also measure while a new run lands every CHURN seconds (default 0.2; 0: skip)",
    )
    parser.add_argument(
        "--workers", default="1,2", help="console process counts to measure, comma-separated (default 1,2)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="egov-bench-web-") as folder:
        config_path = prepare(Path(folder))
        milliseconds, units = health_computation_ms(config_path, inventory_data()[1])
        print(f"health of every site read in {milliseconds:.0f} ms (a cold cache; {units} backup units)")
        for workers in [int(word) for word in args.workers.split(",")]:
            started = time.perf_counter()
            process, url = start_console(config_path, workers)
            print(f"egov serve --workers {workers} up in {time.perf_counter() - started:.1f} s at {url};", end="")
            print(f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
            try:
                for churn in (0.0, args.churn) if args.churn > 0 else (0.0,):
                    measure(url, config_path, args.clients, args.requests, churn)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)


if __name__ == "__main__":
    main()
