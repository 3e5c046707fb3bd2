"""RTO of ``egov recover`` on the lab: the ministry's control plane back on dr-app-1, with its parts.

Run as root with the lab up: ``.venv/bin/python tests/bench/bench_recover.py``
(``EGOV_LAB_CONFIG=PATH/egov.yml`` names the lab's configuration; default:
the shared test lab's, ``/tmp/egov-test-lab/egov.yml``). It builds the lost
ministry's site as the lab test does (tests/integration/recovery/conftest.py:
backups of its database and keys, a 2-of-3 kit, its console stopped), then
ROUNDS times runs ``egov recover`` inside dr-app-1 with two shares on stdin,
prints the RTO with its parts (fetch, restore, verify, start) and the RPO,
and tears the copy down.

Target: RTO under 5 minutes (300 s).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

ROUNDS = 3
TARGET_SECONDS = 300.0


def main() -> int:
    """Measure and print; exit 1 when the median RTO misses the target."""
    from controlplane.config import load_config
    from controlplane.recovery.remote import egov_argv
    from tests.integration.recovery.conftest import ministry_site

    if os.geteuid() != 0:
        print("bench_recover: needs root and the lab up")
        return 2
    lab = load_config(os.environ.get("EGOV_LAB_CONFIG", "/tmp/egov-test-lab/egov.yml"))
    totals = []
    with tempfile.TemporaryDirectory(prefix="bench-recover-") as folder, ministry_site(lab, Path(folder)) as site:
        kit = site.kit.read_text(encoding="utf-8")
        for number in range(1, ROUNDS + 1):
            where = f"/var/lib/egov-bench-recover-{site.token}-{number}"
            site.on("dr-app-1", ["install", "-d", "-m", "0700", where])
            site.on("dr-app-1", ["dd", f"of={where}/kit.egovkit", "status=none"], input_text=kit)
            result = site.on("dr-app-1", [*egov_argv(), "recover", "--kit", f"{where}/kit.egovkit", "--into",
                                          f"{where}/site", "--drill", "--port", "8092", "--json"],
                             input_text=site.shares[0] + site.shares[1])  # fmt: skip
            try:
                if result.exit_code != 0:
                    print(f"round {number}: egov recover failed: {result.stderr.strip()[-500:]}")
                    return 1
                outcome = json.loads(result.stdout)
                parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome["parts"].items())
                rto, rpo = outcome["rto_seconds"], outcome["rpo_seconds"]
                print(f"round {number}: RTO {rto:.1f} s ({parts}); RPO {rpo:.0f} s")
                totals.append(outcome["rto_seconds"])
            finally:
                site.on("dr-app-1", [*egov_argv(), "--config", f"{where}/site/egov.yml", "recovery", "stop"])
                site.on("dr-app-1", ["rm", "-rf", "--one-file-system", where])
    median = statistics.median(totals)
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(f"egov recover RTO: median {median:.1f} s over {ROUNDS} rounds, {verdict} the {TARGET_SECONDS:.0f} s target")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
