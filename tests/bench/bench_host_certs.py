"""Time certifying every lab host (sign + install + sshd -t + reload) against signing with ``ssh-keygen -s``.

Run as root with a lab up, under the lab lock:
``flock /tmp/team/lab.lock .venv/bin/python tests/bench/bench_host_certs.py [LAB_EGOV_YML]``
(default: ``$EGOV_CONFIG``, else the test lab's ``/tmp/egov-test-lab/egov.yml``).

It uses a throwaway site (own state folder, store and CA) that reaches the
lab's hosts with the lab's key and pins, and takes the certificates off
every host at the end, so the lab is left as it was. Printed, side by side:

* ``certify_hosts`` on all hosts (in parallel: read the host key, sign in
  process with the CA from the vault, record + audit, install the files,
  ``sshd -t``, reload): wall time, and per host mean / slowest;
* the same pipeline with the signature made by ``ssh-keygen -s`` (a CA key
  file in a temporary folder, one subprocess per host), installing the
  same files the same way;
* signing alone: ``sign_host_key`` (signature + register row + audit
  record) against one ``ssh-keygen -s`` run, per host.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def lab_config_path() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    return Path(os.environ.get("EGOV_CONFIG", "/tmp/egov-test-lab/egov.yml"))


def throwaway_site(lab_config: Any, folder: Path) -> tuple[Any, Any]:
    """A site of its own (state, store, CA) reaching the lab with the lab's key and pinned host keys."""
    from controlplane.config import load_config
    from controlplane.pki.authority import init_authority
    from controlplane.store import open_store
    from controlplane.vault import create_key_file

    (folder / "egov.yml").write_text(
        f"folders:\n  inventory: {lab_config.inventory}\nstate:\n  dir: var\n"
        f"ssh:\n  key_file: {lab_config.ssh_key_file}\n  known_hosts: {lab_config.ssh_known_hosts}\n",
        encoding="utf-8",
    )
    config = load_config(folder / "egov.yml")
    create_key_file(config.key_file)
    store = open_store(config)
    init_authority(config, store, requester="bench")
    return config, store


def keygen_pipeline(config: Any, store: Any, hosts: list[Any], pool: Any, ca_key: Path, work: Path) -> list[float]:
    """Per host (in parallel): read the key, ``ssh-keygen -s`` it, install the same files; seconds per host."""
    from controlplane.automation import certify
    from controlplane.inventory import load_inventory
    from controlplane.pki.authority import open_authority
    from controlplane.ssh import Target

    inventory = load_inventory(config.inventory)
    ca_lines = open_authority(config, store).ssh_ca_public_lines()
    krl = certify.read_krl(config)

    def one(host: Any) -> float:
        started = time.monotonic()
        target = Target.from_host(host)
        line = certify.public_key_line(pool.run(target, ["cat", certify.HOST_KEY_PATH]).stdout, host.name)
        pub = work / f"{host.name}.pub"
        pub.write_text(line + "\n")
        subprocess.run(["ssh-keygen", "-q", "-s", str(ca_key), "-h", "-I", f"bench {host.name}",
                        "-n", f"{host.name},{host.address}", "-V", "-5m:+4w", str(pub)], check=True)  # fmt: skip
        cert_line = (work / f"{host.name}-cert.pub").read_text()
        files = certify.host_files(host, inventory, cert_line, ca_lines, krl)
        done = pool.run(target, certify.remote_argv("install"), input_text=certify.bundle(files), timeout=60)
        if not done.ok:
            raise SystemExit(f"bench_host_certs: install on {host.name} failed: {done.stderr}")
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(hosts)) as workers:
        return list(workers.map(one, hosts))


def signing_only(config: Any, store: Any, hosts: list[Any], ca_key: Path, work: Path) -> tuple[float, float]:
    """Mean seconds per host: ``sign_host_key`` in process vs one ``ssh-keygen -s`` subprocess (sequential)."""
    from controlplane.pki.authority import open_authority
    from controlplane.pki.issue import sign_host_key

    authority = open_authority(config, store)
    lines = [(work / f"{host.name}.pub").read_text().strip() for host in hosts]
    started = time.monotonic()
    for host, line in zip(hosts, lines, strict=True):
        sign_host_key(authority, line, host=host.name, principals=[host.name, host.address],
                      validity=dt.timedelta(weeks=4), requester="bench")  # fmt: skip
    ours = (time.monotonic() - started) / len(hosts)
    started = time.monotonic()
    for host in hosts:
        subprocess.run(["ssh-keygen", "-q", "-s", str(ca_key), "-h", "-I", f"bench {host.name}",
                        "-n", f"{host.name},{host.address}", "-V", "-5m:+4w", str(work / f"{host.name}.pub")],
                       check=True)  # fmt: skip
    keygen = (time.monotonic() - started) / len(hosts)
    return ours, keygen


def main() -> int:
    from controlplane.automation import certify
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.ssh import SSHPool, Target

    if os.geteuid() != 0:
        sys.exit("bench_host_certs: run as root with the lab up")
    lab_config = load_config(lab_config_path())
    with tempfile.TemporaryDirectory(prefix="egov-bench-certs-") as temp:
        folder = Path(temp)
        config, store = throwaway_site(lab_config, folder)
        hosts = load_inventory(config.inventory).hosts
        work = folder / "keygen"
        work.mkdir()
        ca_key = work / "ca"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca_key)], check=True)
        try:
            with SSHPool.from_config(config) as pool:
                for host in hosts:  # every connection open (and imports done) before either side is timed
                    pool.run(Target.from_host(host), ["true"])
                started = time.monotonic()
                outcomes = certify.certify_hosts(config, store, hosts, requester="bench", pool=pool)
                ours_wall = time.monotonic() - started
                failed = [o for o in outcomes if not o.ok]
                if failed:
                    sys.exit(f"bench_host_certs: certify failed: {[o.message for o in failed]}")
                started = time.monotonic()
                keygen_times = keygen_pipeline(config, store, hosts, pool, ca_key, work)
                keygen_wall = time.monotonic() - started
            sign_ours, sign_keygen = signing_only(config, store, hosts, ca_key, work)
        finally:
            with SSHPool(config.ssh_key_file, config.ssh_known_hosts) as plain:
                certify.uncertify_hosts(config, hosts, pool=plain)
            store.close()
    ours_times = [o.seconds for o in outcomes]
    n = len(hosts)
    print(f"bench_host_certs: {n} lab hosts, certify + install (sshd -t, reload) in parallel, warm SSH connections")
    print(f"{'':34}{'wall s':>9}{'per host mean s':>17}{'slowest host s':>16}")
    print(f"{'egov (in-process CA, audited)':34}{ours_wall:9.3f}{statistics.mean(ours_times):17.3f}"
          f"{max(ours_times):16.3f}")  # fmt: skip
    print(f"{'ssh-keygen -s per host':34}{keygen_wall:9.3f}{statistics.mean(keygen_times):17.3f}"
          f"{max(keygen_times):16.3f}")  # fmt: skip
    print(f"signing alone, per host (sequential): egov sign_host_key {sign_ours * 1000:.1f} ms "
          "(signature + register row + audit record),")  # fmt: skip
    print(f"                                      ssh-keygen -s {sign_keygen * 1000:.1f} ms (one subprocess)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
