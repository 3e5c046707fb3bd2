"""Time ``egov lab up`` (cold), a second ``up`` and ``egov lab down`` of the default lab.

Run as root: ``.venv/bin/python tests/bench/bench_lab.py``. Uses a throwaway
state folder (fresh keys and host disks, so the first ``up`` is cold) and
runs the real CLI, start-up included. Refuses to run while another lab is up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 10.0


def egov(config: Path, *args: str) -> float:
    """Run ``egov --config CONFIG ARGS``; return seconds taken; exit on failure."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "controlplane", "--config", str(config), *args],
        capture_output=True, text=True, check=False, timeout=300, cwd=REPO,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"egov {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return elapsed


def main() -> int:
    """Run the benchmark and print one line per step; return the exit status."""
    if os.geteuid() != 0:
        print("bench_lab: needs root", file=sys.stderr)
        return 2
    if Path("/sys/class/net/egov-br0").exists():
        print("bench_lab: a lab is already up; run `egov lab down` first", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="egov-bench-lab-"))
    config = folder / "egov.yml"
    config.write_text(
        f"folders:\n  inventory: {REPO / 'inventory' / 'lab.yml'}\nstate:\n  dir: var\n", encoding="utf-8"
    )
    try:
        cold = egov(config, "lab", "up", "--json")
        hosts = len(list((folder / "var" / "lab" / "hosts").iterdir()))
        verdict = "ok" if cold < TARGET_SECONDS else "TOO SLOW"
        print(f"lab up ({hosts} hosts, cold): {cold:.1f} s (target < {TARGET_SECONDS:.0f} s) {verdict}")
        print(f"lab up again (no-op): {egov(config, 'lab', 'up', '--json'):.1f} s")
        print(f"lab down: {egov(config, 'lab', 'down'):.1f} s")
    finally:
        if Path("/sys/class/net/egov-br0").exists():
            subprocess.run([sys.executable, "-m", "controlplane", "--config", str(config), "lab", "down"], check=False)
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if cold < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
