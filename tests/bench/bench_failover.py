"""Client-visible outage of the portal during ``failover-portal``, seen through the VIP.

Run as root with the lab up: ``.venv/bin/python tests/bench/bench_failover.py``
(``EGOV_LAB_CONFIG=PATH/egov.yml`` names the lab's configuration;
default: the shared test lab's, ``/tmp/egov-test-lab/egov.yml``). It sets up
the test portal (see tests/integration/runbook/conftest.py), then, ROUNDS
times, drills ``failover-portal`` while an independent HTTP poller asks the
VIP for the portal page at 20 Hz. The outage of a round is the longest span
between the last good answer before a failed poll and the next good answer
(0 when no poll failed). The drill fails back at its end; only the failover
half is measured by the RTO, both halves by the poller.

Targets: outage under 2 s (keepalived's defaults give about 3.5 s).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

ROUNDS = 5
POLL_INTERVAL = 0.05  # 20 Hz
TARGET_OUTAGE_SECONDS = 2.0


def longest_outage(samples: list[tuple[float, bool]]) -> float:
    """Longest time from the last good poll before a failure to the next good poll (seconds)."""
    worst, last_good, failing = 0.0, None, False
    for at, good in samples:
        if good:
            if failing and last_good is not None:
                worst = max(worst, at - last_good)
            last_good, failing = at, False
        else:
            failing = True
    return worst


def main() -> int:
    """Run the benchmark, print one line per round and a summary; return the exit status."""
    if os.geteuid() != 0:
        print("bench_failover: needs root", file=sys.stderr)
        return 2
    from controlplane.config import load_config
    from controlplane.errors import EgovError
    from tests.integration.runbook.conftest import VIP, http_body, make_site, portal_service
    from tests.integration.runbook.test_portal_runbooks import execute

    config_path = Path(os.environ.get("EGOV_LAB_CONFIG", "/tmp/egov-test-lab/egov.yml"))
    if not config_path.exists():
        print(f"bench_failover: no lab configuration at {config_path}: run `egov lab up` first", file=sys.stderr)
        return 2
    lab_config = load_config(config_path)
    outages, rtos = [], []
    with tempfile.TemporaryDirectory(prefix="egov-bench-failover-") as folder:
        site = make_site(lab_config, Path(folder))
        try:
            with portal_service(site) as portal:
                for number in range(1, ROUNDS + 1):
                    samples: list[tuple[float, bool]] = []
                    stop = threading.Event()

                    def poll(samples: list[tuple[float, bool]] = samples, stop: threading.Event = stop) -> None:
                        while not stop.is_set():
                            samples.append((time.monotonic(), http_body(VIP, timeout=0.5) is not None))
                            stop.wait(POLL_INTERVAL)

                    poller = threading.Thread(target=poll, daemon=True)
                    poller.start()
                    result = execute(portal, "failover-portal", "drill")
                    time.sleep(0.5)
                    stop.set()
                    poller.join(5)
                    if not result.ok:
                        print(f"round {number}: drill {result.status}: {result.error}", file=sys.stderr)
                        return 1
                    outage = longest_outage(samples)
                    outages.append(outage)
                    rtos.append(result.figures["rto_seconds"])
                    failed = sum(1 for _at, good in samples if not good)
                    print(
                        f"round {number}: outage {outage:.3f} s ({failed}/{len(samples)} polls failed), "
                        f"RTO {result.figures['rto_seconds']:.3f} s"
                    )
        except EgovError as error:
            print(f"bench_failover: {error.message}", file=sys.stderr)
            return 1
    worst = max(outages)
    print(
        f"outage: median {statistics.median(outages):.3f} s, worst {worst:.3f} s "
        f"(target < {TARGET_OUTAGE_SECONDS:g} s): {'OK' if worst < TARGET_OUTAGE_SECONDS else 'MISSED'}"
    )
    print(f"runbook RTO (first step to verified): median {statistics.median(rtos):.3f} s, worst {max(rtos):.3f} s")
    return 0 if worst < TARGET_OUTAGE_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
