"""Benchmark: harden the lab with the tuned settings and with ansible's defaults.

Run as root: ``python tests/bench/bench_harden.py [--config egov.yml] [--limit PATTERN]``.
Without ``--config`` it uses the shared test lab (``/tmp/egov-test-lab``, the
one tests/integration/conftest.py manages: same config, same session
registration, taken down with ``--purge`` by the last user so later tests see
fresh hosts); run it under the lab-tests lock like any lab test:
``flock /tmp/egov-labtests.lock .venv/bin/python tests/bench/bench_harden.py``.

A first (changing) tuned run on fresh hosts is not comparable, so the hosts
are hardened once first (its time is printed too); then, on the same
hardened hosts: an ansible-defaults run and a tuned run (both converge, no
change) and their ratio (target: tuned >= 2x faster), and the time of a
no-change tuned run in check mode.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from controlplane.automation.engine import PlaybookRequest, run_playbook
from controlplane.config import load_config
from controlplane.store import open_store

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script: make `tests` importable


def timed(config, store, **kwargs) -> tuple[float, str, int]:  # type: ignore[no-untyped-def]
    """Run harden once; return (wall seconds, run status, changed tasks) and print the machine's load."""
    started = time.monotonic()
    outcome = run_playbook(config, store, PlaybookRequest(kind="harden", actor="bench@cli", **kwargs))
    changed = sum(t.changed for t in outcome.hosts.values())
    # The lab shares this machine's CPUs: other work running meanwhile slows both profiles.
    print(f"  (load average after this run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)", flush=True)
    return time.monotonic() - started, outcome.status, changed


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
    parser.add_argument("--config", default=None, help="egov.yml of a lab that is up (default: the shared test lab)")
    parser.add_argument("--limit", default=None)
    args = parser.parse_args()
    if args.config is None:
        with shared_test_lab() as config_path:
            return bench(config_path, args.limit)
    return bench(Path(args.config), args.limit)


def bench(config_path: Path, limit: Any) -> int:
    """Run the four timed harden runs on the lab of ``config_path`` and print the figures."""
    config = load_config(config_path)
    store = open_store(config)
    args = argparse.Namespace(limit=limit)
    first, status, changed = timed(config, store, limit=args.limit)
    print(f"first harden (tuned, converging): {first:.1f} s, {status}, {changed} changed", flush=True)
    defaults, status_d, _ = timed(config, store, limit=args.limit, profile="defaults")
    tuned, status_t, changed_t = timed(config, store, limit=args.limit, profile="tuned")
    print(f"ansible defaults: {defaults:.1f} s ({status_d})", flush=True)
    print(f"tuned:            {tuned:.1f} s ({status_t}, {changed_t} changed = no-change run)")
    print(f"ratio defaults/tuned: {defaults / tuned:.2f}x (target >= 2x)")
    check, status_c, drift = timed(config, store, limit=args.limit, check=True)
    print(f"no-change check run (tuned, --check): {check:.1f} s ({status_c}, {drift} drifted)")
    return 0 if status_t == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
