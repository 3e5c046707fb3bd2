"""Benchmark: `egov --help` cold start against `python -c pass` (target: under 300 ms more).

Run with `make bench` or `.venv/bin/python tests/bench/bench_cli.py`. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15


def median_seconds(argv: list[str]) -> float:
    """Run argv RUNS times (after one warm-up) and return the median wall time."""
    subprocess.run(argv, capture_output=True, check=True)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    egov = str(Path(sys.executable).parent / "egov")
    baseline = median_seconds([sys.executable, "-c", "pass"])
    help_time = median_seconds([egov, "--help"])
    sub_help = median_seconds([egov, "secrets", "--help"])
    print(f"python -c pass:        {baseline * 1000:7.1f} ms (median of {RUNS})")
    print(f"egov --help:           {help_time * 1000:7.1f} ms")
    print(f"egov secrets --help:   {sub_help * 1000:7.1f} ms")
    print(f"egov --help overhead:  {(help_time - baseline) * 1000:7.1f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
