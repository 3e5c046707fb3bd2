"""Time a compliance scan of every lab host against ansible's check mode of harden.yml and lynis.

Run as root with a lab up: ``.venv/bin/python tests/bench/bench_scan.py [LAB_EGOV_YML]``
(default: ``$EGOV_CONFIG``, else the test lab's ``/tmp/egov-test-lab/egov.yml``).
It only reads the lab: scans change nothing, ``ansible-playbook --check``
changes nothing, and lynis writes its log inside the lab host's own disk.

Printed, in one run:

* the scan of all hosts in process (cold SSH connections included) — target < 2 s;
* ``egov scan`` as a user runs it (Python start, inventory, store, report);
* ``ansible-playbook --check playbooks/harden.yml`` on the same hosts, when the playbook exists;
* ``lynis audit system --quick`` inside one lab host;
* the ratios (target: the scan at least 30x faster than the ansible check run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 2.0
TARGET_RATIO = 30.0
LYNIS_HOST = "gd-school-1"
CLI = (
    "import sys\nfrom controlplane.cli import COMMANDS, main\n"
    "COMMANDS.setdefault('scan', ('controlplane.cli.compliance', 'scan', 'Scan'))\nmain(sys.argv[1:])\n"
)


def scan_in_process(lab_config: Any) -> tuple[float, int, int, float]:
    """Scan every lab host with fresh SSH connections; return (seconds, hosts, results, slowest host seconds)."""
    from controlplane.compliance.evaluate import HostContext
    from controlplane.compliance.scanner import ScanTarget, scan
    from controlplane.compliance.service import plan_scan
    from controlplane.ssh import SSHPool, Target

    plan = plan_scan(lab_config)
    targets = [
        ScanTarget(Target.from_host(h, user=lab_config.ssh_user), HostContext(h.name, h.site, (h.role,), {}))
        for h in plan.hosts
    ]
    with SSHPool.from_config(lab_config) as pool:
        started = time.monotonic()
        result = scan(plan.catalog, targets, pool, waivers=plan.waivers)
        elapsed = time.monotonic() - started
    unreachable = [h.host.name for h in result.hosts if not h.reachable]
    if unreachable:
        sys.exit(f"bench_scan: hosts not assessed: {unreachable}")
    return elapsed, len(result.hosts), len(result.results), max(h.seconds for h in result.hosts)


def scan_cli(lab_config: Any) -> float:
    """``egov scan`` end to end on a throwaway site (own store) using the lab's key and pinned host keys."""
    with tempfile.TemporaryDirectory(prefix="egov-bench-scan-") as folder:
        config = Path(folder) / "egov.yml"
        config.write_text(
            f"folders:\n  inventory: {lab_config.inventory}\nstate:\n  dir: var\n"
            f"ssh:\n  key_file: {lab_config.ssh_key_file}\n  known_hosts: {lab_config.ssh_known_hosts}\n",
            encoding="utf-8",
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", CLI, "--config", str(config), "scan", "--json"],
            capture_output=True, text=True, check=False, timeout=300, cwd=REPO,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"bench_scan: egov scan exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed


def ansible_check(lab_config: Any, hosts: int) -> tuple[float | None, str]:
    """``ansible-playbook --check harden.yml`` on the lab hosts; (seconds, note) or (None, why not)."""
    playbook = REPO / "playbooks" / "harden.yml"
    if not playbook.exists():
        return None, "playbooks/harden.yml does not exist yet"
    program = Path(sys.executable).parent / "ansible-playbook"
    ssh_args = f"-o UserKnownHostsFile={lab_config.ssh_known_hosts} -o StrictHostKeyChecking=yes"
    argv = [
        str(program), "--check", "-i", str(lab_config.inventory), "--private-key", str(lab_config.ssh_key_file),
        "-u", lab_config.ssh_user, "-f", str(max(hosts, 5)), "-e", f"ansible_ssh_common_args='{ssh_args}'",
        str(playbook),
    ]  # fmt: skip
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800, cwd=REPO, env=env)
    elapsed = time.monotonic() - started
    recap = [line for line in done.stdout.splitlines() if "ok=" in line and "failed=" in line]
    note = f"exit {done.returncode}" + (f", {len(recap)} host recap lines" if recap else "")
    if done.returncode != 0:
        note += " (playbook errors: " + (done.stdout + done.stderr).strip().splitlines()[-1][:160] + ")"
    return elapsed, note


def lynis_quick(lab_config: Any) -> tuple[float | None, str]:
    """``lynis audit system --quick`` inside one lab host; (seconds, note) or (None, why not)."""
    from controlplane.lab.manager import exec_in_host

    if not Path("/usr/sbin/lynis").exists():
        return None, "lynis is not installed (apt-get install lynis)"
    started = time.monotonic()
    done = exec_in_host(
        lab_config, LYNIS_HOST, ["/usr/sbin/lynis", "audit", "system", "--quick", "--no-colors"], timeout=1800
    )
    elapsed = time.monotonic() - started
    # Leave the lab host as it was: lynis writes its log and report data into the host's /var/log.
    exec_in_host(lab_config, LYNIS_HOST, ["/bin/rm", "-f", "/var/log/lynis.log", "/var/log/lynis-report.dat"])
    index = next((line.strip() for line in done.stdout.splitlines() if "Hardening index" in line), "")
    return elapsed, f"exit {done.exit_code}" + (f", {index}" if index else "")


def main() -> int:
    """Run every step, print the figures and ratios; exit 0 when the scan meets its targets."""
    from controlplane.config import find_config_path, load_config

    if os.geteuid() != 0:
        print("bench_scan: needs root (the lab)", file=sys.stderr)
        return 2
    explicit = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EGOV_CONFIG") or "/tmp/egov-test-lab/egov.yml"
    lab_config = load_config(find_config_path(explicit))
    if not Path("/sys/class/net/egov-br0").exists():
        print("bench_scan: no lab is up: run `egov lab up` first", file=sys.stderr)
        return 2
    seconds, hosts, results, slowest = scan_in_process(lab_config)
    verdict = "ok" if seconds < TARGET_SECONDS else "TOO SLOW"
    print(f"scan, in process: {hosts} hosts x {results // hosts} controls = {results} results in {seconds:.2f} s "
          f"(slowest host {slowest:.2f} s; target < {TARGET_SECONDS:.0f} s) {verdict}")  # fmt: skip
    cli = scan_cli(lab_config)
    print(f"egov scan --json (CLI start, inventory, store, report): {cli:.2f} s")
    ansible, note = ansible_check(lab_config, hosts)
    ratio_ok = True
    if ansible is None:
        print(f"ansible-playbook --check harden.yml: skipped ({note})")
    else:
        ratio = ansible / seconds
        ratio_ok = ratio >= TARGET_RATIO
        print(f"ansible-playbook --check harden.yml ({hosts} hosts): {ansible:.1f} s, {note}")
        print(f"ratio ansible check / scan: {ratio:.0f}x (target >= {TARGET_RATIO:.0f}x) "
              f"{'ok' if ratio_ok else 'TOO SLOW'}; / egov scan CLI: {ansible / cli:.0f}x")  # fmt: skip
    lynis, lynis_note = lynis_quick(lab_config)
    if lynis is None:
        print(f"lynis audit system --quick: skipped ({lynis_note})")
    else:
        print(f"lynis audit system --quick (1 host, {LYNIS_HOST}): {lynis:.1f} s, {lynis_note}")
        print(f"ratio lynis (1 host) / scan ({hosts} hosts): {lynis / seconds:.0f}x; "
              f"/ slowest single-host collection: {lynis / slowest:.0f}x")  # fmt: skip
    return 0 if seconds < TARGET_SECONDS and ratio_ok else 1


if __name__ == "__main__":
    sys.exit(main())
