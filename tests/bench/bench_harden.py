"""Benchmark: harden the lab with the tuned settings and with ansible's defaults.

Run as root with the lab up (or let it start one): ``python tests/bench/bench_harden.py
[--config egov.yml] [--limit PATTERN]``. Prints the time of a first (changing)
tuned run on fresh hosts is not comparable, so the hosts are hardened once
first; then, on the same hardened hosts: ansible-defaults run, tuned run (both
converge, no change) and their ratio (target: tuned >= 2x faster), and the
time of a no-change tuned run in check mode.
"""

from __future__ import annotations

import argparse
import sys
import time

from controlplane.automation.engine import PlaybookRequest, run_playbook
from controlplane.config import load_config
from controlplane.store import open_store


def timed(config, store, **kwargs) -> tuple[float, str, int]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    outcome = run_playbook(config, store, PlaybookRequest(kind="harden", actor="bench@cli", **kwargs))
    changed = sum(t.changed for t in outcome.hosts.values())
    return time.monotonic() - started, outcome.status, changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="egov.yml")
    parser.add_argument("--limit", default=None)
    args = parser.parse_args()
    config = load_config(args.config)
    store = open_store(config)
    first, status, changed = timed(config, store, limit=args.limit)
    print(f"first harden (tuned, converging): {first:.1f} s, {status}, {changed} changed")
    defaults, status_d, _ = timed(config, store, limit=args.limit, profile="defaults")
    tuned, status_t, changed_t = timed(config, store, limit=args.limit, profile="tuned")
    print(f"ansible defaults: {defaults:.1f} s ({status_d})")
    print(f"tuned:            {tuned:.1f} s ({status_t}, {changed_t} changed = no-change run)")
    print(f"ratio defaults/tuned: {defaults / tuned:.2f}x (target >= 2x)")
    check, status_c, drift = timed(config, store, limit=args.limit, check=True)
    print(f"no-change check run (tuned, --check): {check:.1f} s ({status_c}, {drift} drifted)")
    return 0 if status_t == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
