"""Benchmark: harden the lab with the tuned settings and with ansible's defaults.

Run as root: ``python tests/bench/bench_harden.py [--config egov.yml] [--limit PATTERN] [--repeat N]``.
Without ``--config`` it uses the shared test lab (``/tmp/egov-test-lab``, the
one tests/integration/conftest.py manages: same config, same session
registration, taken down with ``--purge`` by the last user so later tests see
fresh hosts); run it under the lab-tests lock like any lab test:
``flock /tmp/egov-labtests.lock .venv/bin/python tests/bench/bench_harden.py``.

A first (changing) tuned run on fresh hosts is not comparable, so the hosts
are hardened once first (its time is printed too); then, on the same
hardened hosts: an ansible-defaults run and a tuned run (both converge, no
change) and their ratio (target: tuned >= 2x faster), and the time of a
no-change tuned run in check mode. ``--repeat N`` runs N alternating pairs
and compares the fastest of each profile; every run also prints the CPU time
of the local ansible processes, which other work on the machine hardly
changes (wall times on a shared two-core machine vary by tens of percent).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.automation.engine import PlaybookRequest, run_playbook
from controlplane.config import load_config
from controlplane.store import open_store

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make `tests` importable


@dataclass
class Timing:
    """One timed harden run: wall seconds, CPU seconds of the local ansible processes, status, changes."""

    wall: float
    cpu: float
    status: str
    changed: int


def timed(config, store, **kwargs) -> Timing:  # type: ignore[no-untyped-def]
    """Run harden once and measure it; print its figures and the machine's load.

    ``cpu`` is the user+system time of ansible-playbook and its workers (our
    reaped child processes): unlike wall time it hardly depends on what else
    the machine runs. The lab hosts' side (sshd, the modules' Python) is not
    in it: those processes belong to the lab.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    outcome = run_playbook(config, store, PlaybookRequest(kind="harden", actor="bench@cli", **kwargs))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    changed = sum(t.changed for t in outcome.hosts.values())
    label = kwargs.get("profile", "tuned") + (" --check" if kwargs.get("check") else "")
    # The lab shares this machine's CPUs: other work running meanwhile slows both profiles.
    print(
        f"  {label:<15} {wall:6.1f} s wall, {cpu:6.1f} s ansible CPU, {outcome.status}, {changed} changed "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    return Timing(wall, cpu, outcome.status, changed)


@contextlib.contextmanager
def shared_test_lab() -> Iterator[Path]:
    """Join the shared test lab as a session (bringing it up); leave it, down if we were the last.

    Yields the lab's config path. Follows tests/integration/conftest.py's
    protocol: its lock file, its session registry, ``egov lab up``, and
    ``lab down --purge`` by the last session (the hosts were hardened here).
    """
    import yaml

    from controlplane.lab import manager
    from tests.integration.conftest import TEST_LAB_DIR, _live_users, run_egov

    TEST_LAB_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    users = TEST_LAB_DIR / "sessions"
    users.mkdir(exist_ok=True)
    config_path = TEST_LAB_DIR / "egov.yml"
    folders = {name: str(REPO / name) for name in ("playbooks", "backup", "monitoring", "runbooks")}
    folders["inventory"] = str(REPO / "inventory" / "lab.yml")
    with open(TEST_LAB_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config_path.write_text(yaml.safe_dump({"folders": folders, "state": {"dir": "var"}}), encoding="utf-8")
        (users / str(os.getpid())).touch()
        up = run_egov(config_path, "lab", "up", timeout=600)
        if up.returncode != 0:
            (users / str(os.getpid())).unlink(missing_ok=True)
            raise SystemExit(f"egov lab up failed: {up.stderr.strip()}")
    try:
        yield config_path
    finally:
        with open(TEST_LAB_DIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            (users / str(os.getpid())).unlink(missing_ok=True)
            if not _live_users(users):
                manager.down(load_config(config_path), purge=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--config",
        default=os.environ.get("EGOV_LAB_CONFIG"),
        help="egov.yml of a lab that is up (default: EGOV_LAB_CONFIG, else the shared test lab)",
    )
    parser.add_argument("--limit", default=None)
    parser.add_argument("--repeat", type=int, default=1, help="defaults/tuned pairs to run (the fastest counts)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.config is None:
        with shared_test_lab() as config_path:
            return bench(config_path, args.limit, args.repeat)
    return bench(Path(args.config), args.limit, args.repeat)


def bench(config_path: Path, limit: Any, repeat: int = 1) -> int:
    """Time harden on the lab of ``config_path``: converge, ``repeat`` pairs of defaults/tuned, a check run.

    The pairs alternate (defaults, tuned, defaults, tuned...) so a burst of
    other work on the machine hits both profiles alike; with more than one
    pair the fastest run of each profile is compared (the run least disturbed
    by other work). Prints the figures; returns 0 when every run succeeded.
    """
    config = load_config(config_path)
    store = open_store(config)
    first = timed(config, store, limit=limit)
    print(f"first harden (tuned, converging): {first.wall:.1f} s, {first.status}, {first.changed} changed", flush=True)
    pairs = [
        (timed(config, store, limit=limit, profile="defaults"), timed(config, store, limit=limit, profile="tuned"))
        for _ in range(max(1, repeat))
    ]
    defaults = min(pair[0].wall for pair in pairs)
    tuned = min(pair[1].wall for pair in pairs)
    best = "" if len(pairs) == 1 else f" (fastest of {len(pairs)})"
    changed = sum(pair[0].changed + pair[1].changed for pair in pairs)
    print(f"ansible defaults: {defaults:.1f} s{best}")
    print(f"tuned:            {tuned:.1f} s{best} ({changed} changed in these runs = no-change runs)")
    print(f"ratio defaults/tuned: {defaults / tuned:.2f}x (target >= 2x)")
    cpu_d = min(pair[0].cpu for pair in pairs)
    cpu_t = min(pair[1].cpu for pair in pairs)
    print(f"ansible CPU defaults/tuned: {cpu_d:.1f} s / {cpu_t:.1f} s = {cpu_d / cpu_t:.2f}x")
    check = timed(config, store, limit=limit, check=True)
    print(f"no-change check run (tuned, --check): {check.wall:.1f} s ({check.status}, {check.changed} drifted)")
    runs = [first, check, *[timing for pair in pairs for timing in pair]]
    return 0 if all(timing.status == "succeeded" for timing in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
