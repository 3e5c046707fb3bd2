"""Time a verify of the lab's whole reachability matrix against a naive sequential nmap-style scan of it.

Run as root with a zoned lab up (best after ``egov provision``, so the
gateways drop what the flows do not allow):
``.venv/bin/python tests/bench/bench_network_verify.py [LAB_EGOV_YML] [--budget SECONDS]``
(default config: ``$EGOV_CONFIG``, else the test lab's ``/tmp/egov-test-lab/egov.yml``).
It only reads the lab: it opens TCP connections and sends echo requests, and
reads the gateways' rulesets; nothing is changed.

Printed, in one run:

* the verify in process: every zone's source to every named service, every
  sampled port and ICMP, gateways read before and after, cold SSH
  connections included — target < 5 s;
* ``egov network verify --json`` as a user runs it (Python start, inventory,
  store, run, report) on a throwaway site using the lab's keys;
* the same TCP paths checked the naive way: from each source in turn, one
  connect at a time with the same 1 s timeout (what ``nmap -sT -Pn
  --max-parallelism 1`` per source does), over one SSH command per source.
  Most paths are denied, so each costs the whole timeout: the naive scan is
  measured for ``--budget`` seconds (default 30) and the whole matrix
  extrapolated from the paths it finished (printed as an estimate), unless
  ``--budget 0`` lets it run to the end (about 15 minutes on the lab);
* the ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
TARGET_SECONDS = 5.0
TIMEOUT = 1.0
# The naive prober: one blocking connect after the other (stdin: [[address, port], ...]; stdout: one word each).
SEQUENTIAL = (
    "import json, socket, sys\n"
    "for address, port in json.load(sys.stdin):\n"
    "    try:\n"
    f"        socket.create_connection((address, port), timeout={TIMEOUT}).close(); word = 'open'\n"
    "    except ConnectionRefusedError:\n        word = 'refused'\n"
    "    except OSError:\n        word = 'timeout'\n"
    "    print(word, flush=True)\n"
)


def verify_in_process(lab_config: Any) -> tuple[float, Any]:
    """The whole matrix with fresh SSH connections; (seconds, report)."""
    from controlplane.network.verify import execute_verify, plan_verify
    from controlplane.ssh import SSHPool

    plan = plan_verify(lab_config)
    with SSHPool.from_config(lab_config) as pool:
        started = time.monotonic()
        report = execute_verify(plan, pool, ssh_user=lab_config.ssh_user)
        elapsed = time.monotonic() - started
    return elapsed, report


def verify_cli(lab_config: Any) -> tuple[float, int]:
    """``egov network verify --json`` end to end on a throwaway site (own store), the lab's key and host keys."""
    with tempfile.TemporaryDirectory(prefix="egov-bench-verify-") as folder:
        config = Path(folder) / "egov.yml"
        config.write_text(
            f"folders:\n  inventory: {lab_config.inventory}\nstate:\n  dir: var\n"
            f"ssh:\n  key_file: {lab_config.ssh_key_file}\n  known_hosts: {lab_config.ssh_known_hosts}\n",
            encoding="utf-8",
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "controlplane", "--config", str(config), "network", "verify", "--json"],
            capture_output=True, text=True, check=False, timeout=300, cwd=REPO,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"bench_network_verify: egov network verify exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed, done.returncode


def naive_scan(lab_config: Any, budget: float) -> tuple[float, int, int]:
    """Sequential connects, source after source; (seconds, paths checked, TCP paths in the matrix)."""
    from controlplane.network.matrix import CONTROL_PLANE
    from controlplane.network.verify import plan_verify
    from controlplane.ssh import SSHPool, Target

    plan = plan_verify(lab_config)
    rows = [
        (source, [[p.address, p.port] for p in source.paths if p.protocol == "tcp"])
        for source in plan.sources
        if source.name != CONTROL_PLANE
    ]
    total = sum(len(checks) for _, checks in rows)
    checked = 0
    started = time.monotonic()
    with SSHPool.from_config(lab_config) as pool:
        for source, checks in rows:
            left = budget - (time.monotonic() - started) if budget else None
            if left is not None and left <= 0:
                break
            if left is not None:  # only as many connects as the budget can still pay for (each costs <= 1 s)
                checks = checks[: max(1, int(left / TIMEOUT))]
            target = Target.from_host(plan.inventory.host(source.name), user=lab_config.ssh_user)
            result = pool.run(target, ["/usr/bin/python3", "-I", "-c", SEQUENTIAL], input_text=json.dumps(checks),
                              timeout=len(checks) * (TIMEOUT + 1) + 30)  # fmt: skip
            checked += len(result.stdout.split())
    return time.monotonic() - started, checked, total


def main() -> int:
    """Run every step, print the figures and the ratio; exit 0 when the verify meets its target."""
    from controlplane.config import find_config_path, load_config

    if os.geteuid() != 0:
        print("bench_network_verify: needs root (the lab)", file=sys.stderr)
        return 2
    args = sys.argv[1:]
    budget = 30.0
    if "--budget" in args:
        index = args.index("--budget")
        budget = float(args[index + 1])
        del args[index : index + 2]
    explicit = args[0] if args else os.environ.get("EGOV_CONFIG") or "/tmp/egov-test-lab/egov.yml"
    lab_config = load_config(find_config_path(explicit))
    if not Path("/sys/class/net/egov-br0").exists():
        print("bench_network_verify: no lab is up: run `egov lab up` first", file=sys.stderr)
        return 2
    seconds, report = verify_in_process(lab_config)
    tcp = sum(1 for path in report.paths if path.protocol == "tcp")
    verdict = "ok" if seconds < TARGET_SECONDS else "TOO SLOW"
    print(f"verify, in process: {len(report.paths)} paths ({tcp} tcp, {len(report.paths) - tcp} icmp) from "
          f"{len(report.sources)} sources, {len(report.gateways)} gateways read twice, in {seconds:.2f} s "
          f"(target < {TARGET_SECONDS:.0f} s) {verdict}")  # fmt: skip
    hint = "" if report.ok else " (provision the lab for a clean matrix)"
    print(f"  found: {len(report.violations)} violation(s), {len(report.breakages)} breakage(s), "
          f"{len(report.findings)} finding(s){hint}")  # fmt: skip
    cli, code = verify_cli(lab_config)
    print(f"egov network verify --json (CLI start, inventory, store, run, report): {cli:.2f} s, exit {code}")
    naive, checked, total = naive_scan(lab_config, budget)
    if checked >= total:
        estimate, label = naive, "measured"
    else:
        estimate, label = naive / max(checked, 1) * total, f"estimated from {checked} paths in {naive:.0f} s"
    print(f"naive sequential scan (one connect at a time, {TIMEOUT:.0f} s timeout, tcp only): {total} paths, "
          f"{estimate:.0f} s ({label})")  # fmt: skip
    print(f"ratio naive / verify: {estimate / seconds:.0f}x (and the verify also sent {len(report.paths) - tcp} "
          "ICMP probes and read every gateway's counters twice)")  # fmt: skip
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
