"""Benchmark backups on the lab: the project's backup against bare restic, no-change, restore-and-verify, all at once.

Run: ``.venv/bin/python tests/bench/bench_backup.py [--lab-config PATH] [--size-mib 1024] [--host mn-oa-1]``.

On one generated dataset (about ``--size-mib`` MiB of mixed files on a lab
host: a few large random files, many medium ones, thousands of small text
files), in one run:

1. **bare restic**: the same ``restic backup`` argv (same options, same
   SSH/SFTP path to bc-backup-1) started directly over SSH into a fresh
   repository, without the engine; bare and project take turns for
   :data:`ROUNDS` rounds and the fastest of each is compared;
2. **project backup**: ``engine.backup`` of the same files into another fresh
   repository, with the manifest off (the engine's own overhead: runs, lock,
   vault, output parsing; target < 3 %) and then with the SHA-256 manifest
   (reported separately: it reads the data a second time on purpose);
3. **no-change second backup** of the same files, by bare restic and by the
   project (manifest off), side by side (target: within 0.3 s of bare);
4. **restore-and-verify**: a drill onto dr-app-1 (restore + SHA-256 of every
   file against the manifest), as MiB/s;
5. **all datasets at once**: every default-lab dataset kind (portal
   content, office data, school data, a database dump) on its lab hosts,
   started together, with small generated data.

``--lab-config`` uses a lab that is already up; without it a throwaway lab is
brought up and down (skipped while another lab is up). Traffic goes only to
the lab's own subnet. Everything it made on the hosts and the center is
removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

OVERHEAD_TARGET = 0.03
NOCHANGE_TARGET = 0.3  # seconds a no-change project backup may take beyond bare restic's
# Rounds of bare and project backups, alternating which goes first, each into a fresh repository: the
# fastest of each is compared, so that another process's load on the machine does not decide the figure.
ROUNDS = 3
CENTER, ROOT = "bc-backup-1", "/srv/restic"
GENERATE = """
import os, sys
base, total = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
os.makedirs(base, exist_ok=True)
# 60 % in large random files, 30 % in 1 MiB files (half random, half text), 10 % in 10 KiB text files.
large, medium, small = int(total * 0.6), int(total * 0.3), int(total * 0.1)
chunk = 64 * 1024 * 1024
for n in range(max(1, large // chunk)):
    with open(f"{base}/large-{n}.bin", "wb") as f:
        f.write(os.urandom(chunk))
os.makedirs(base + "/docs", exist_ok=True)
text = ("教育部 office document line %d\\n" * 1).encode()
for n in range(medium // (1024 * 1024)):
    with open(f"{base}/docs/doc-{n}.dat", "wb") as f:
        f.write(os.urandom(1024 * 1024) if n % 2 else (text * 40000)[: 1024 * 1024])
for n in range(small // 10240):
    folder = f"{base}/small/{n // 500}"
    os.makedirs(folder, exist_ok=True)
    with open(f"{folder}/s-{n}.txt", "wb") as f:
        f.write((b"record %d " % n) * 1024)
"""


def _policy(token: str, data: str, host: str) -> dict[str, Any]:
    def files(name: str, hosts: str, paths: list[str], manifest: bool = True, drill: bool = False) -> dict[str, Any]:
        item: dict[str, Any] = {
            "name": name,
            "hosts": hosts,
            "paths": paths,
            "schedule": "0 * * * *",
            "rpo": "2h",
            "manifest": manifest,
        }
        if drill:
            item["drill"] = {"target": "dr-app-1"}
        return item

    return {
        "centers": {"primary": {"host": CENTER, "root": ROOT, "chrooted": True}},
        "defaults": {"retention": {"keep_last": 3}, "retry_lock": "1m"},
        "datasets": [
            *(files(f"bench-bare{n}-{token}", host, [f"{data}/set"], manifest=False) for n in range(ROUNDS)),
            *(files(f"bench-plain{n}-{token}", host, [f"{data}/set"], manifest=False) for n in range(ROUNDS)),
            files(f"bench-full-{token}", host, [f"{data}/set"], drill=True),
            files(f"bench-portal-{token}", "portal", [f"{data}/portal"]),
            files(f"bench-oa-{token}", "office", [f"{data}/oa"]),
            files(f"bench-school-{token}", "school", [f"{data}/school"]),
            {
                "name": f"bench-db-{token}",
                "hosts": "database",
                "schedule": "0 * * * *",
                "rpo": "2h",
                "dump": {"command": ["sqlite3", f"{data}/db/edu.db", ".dump"], "filename": "edu.sql"},
            },
        ],
    }


class Bench:
    """The bench's own config, store, vault and context on a lab."""

    def __init__(self, lab: Any, folder: Path, host: str) -> None:
        from controlplane.backup.context import open_context
        from controlplane.config import load_config
        from controlplane.store import open_store
        from controlplane.vault import Vault, create_key_file

        self.lab, self.host = lab, host
        self.token = secrets.token_hex(3)
        self.data = f"/srv/egov-bench-{self.token}"
        (folder / "policy").mkdir()
        (folder / "policy" / "bench.yml").write_text(yaml.safe_dump(_policy(self.token, self.data, host)))
        (folder / "egov.yml").write_text(
            yaml.safe_dump(
                {
                    "folders": {"inventory": str(lab.inventory), "backup": str(folder / "policy")},
                    "state": {"dir": str(lab.state_dir), "database": f"sqlite:///{folder / 'egov.db'}"},
                    "vault": {"key_file": str(folder / "master.key")},
                    "ssh": {"key_file": str(lab.ssh_key_file), "known_hosts": str(lab.ssh_known_hosts)},
                }
            )
        )
        config = load_config(folder / "egov.yml")
        create_key_file(Path(config.key_file))
        self.store = open_store(config)
        self.ctx = open_context(config, self.store, Vault(self.store, config.key_file), actor="bench")

    def sh(self, host: str, argv: list[str], input_text: str | None = None, timeout: float = 3600) -> Any:
        from controlplane.lab import exec_in_host

        return exec_in_host(self.lab, host, argv, input_text=input_text, timeout=timeout)

    def name(self, kind: str) -> str:
        return f"bench-{kind}-{self.token}"

    def clean(self) -> None:
        hosts = {t.host for d in self.ctx.policy.datasets for t in self.ctx.targets(d)} | {"dr-app-1"}
        for host in sorted(hosts):
            self.sh(host, ["rm", "-rf", "--one-file-system", self.data])
        self.sh(CENTER, ["sh", "-c", f"rm -rf --one-file-system {ROOT}/*/*/bench-*-{self.token}"])
        self.ctx.close()
        self.store.close()


def bare_backup(bench: Bench, *, init: bool = True, kind: str = "bare0") -> float:
    """The same restic backup argv as the engine's, run over SSH without the engine; return seconds."""
    from controlplane.backup import commands
    from controlplane.backup.engine import backup_argv

    target = bench.ctx.target(bench.name(kind), bench.host)
    password = bench.ctx.password(target, create=True)
    executor = bench.ctx.executor(target.host)
    if init:
        made = executor.run(commands.init(bench.ctx.repo(target)), input_text=password + "\n", secrets=[password])
        assert made.exit_code == 0, made.stderr
    started = time.monotonic()
    result = executor.run(backup_argv(bench.ctx, target, target.host), input_text=password + "\n", secrets=[password])
    seconds = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    return seconds


def project_backup(bench: Bench, kind: str, *, init: bool = True) -> tuple[float, dict[str, Any]]:
    """engine.backup of one bench dataset (its repository initialised first, like the bare one)."""
    from controlplane.backup import commands, engine

    target = bench.ctx.target(bench.name(kind), bench.host)
    password = bench.ctx.password(target, create=True)
    if init:
        bench.ctx.executor(target.host).run(
            commands.init(bench.ctx.repo(target)), input_text=password + "\n", secrets=[password]
        )
    started = time.monotonic()
    result = engine.backup(bench.ctx, target)
    seconds = time.monotonic() - started
    assert result.ok, result.message
    return seconds, result.summary


def all_at_once(bench: Bench) -> tuple[float, list[tuple[str, str, float]]]:
    """Every default-lab dataset kind on all its hosts, started together; return wall time and per-unit results."""
    from controlplane.backup import engine

    units = [t for kind in ("portal", "oa", "school", "db") for t in bench.ctx.select(bench.name(kind))]
    results: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def one(target: Any) -> None:
        started = time.monotonic()
        result = engine.backup(bench.ctx, target)
        with lock:
            results.append((f"{target.dataset.name}@{target.host}", result.status, time.monotonic() - started))

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(unit,)) for unit in units]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, sorted(results)


SMALL_DATA = """
import os, sqlite3, sys
base = sys.argv[1]
for kind in ("portal", "oa", "school"):
    os.makedirs(f"{base}/{kind}", exist_ok=True)
    for n in range(200):
        with open(f"{base}/{kind}/f{n}.html", "wb") as f:
            f.write(os.urandom(20000))
os.makedirs(base + "/db", exist_ok=True)
db = sqlite3.connect(base + "/db/edu.db")
db.execute("create table if not exists t (id integer primary key, v text)")
db.executemany("insert into t (v) values (?)", [("row %d" % n,) for n in range(20000)])
db.commit()
"""


def measure(lab: Any, size_mib: int, host: str) -> bool:
    """Run every part on a lab that is up; print the figures; return whether the overhead target was met."""
    from controlplane.backup import restore
    from controlplane.backup.setup import setup

    folder = Path(tempfile.mkdtemp(prefix="egov-bench-backup-"))
    bench = Bench(lab, folder, host)
    try:
        setup(bench.ctx)
        print(f"generating {size_mib} MiB of mixed files on {host} ...", flush=True)
        made = bench.sh(host, ["python3", "-", f"{bench.data}/set", str(size_mib)], input_text=GENERATE)
        assert made.exit_code == 0, made.stderr
        hosts = {t.host for kind in ("portal", "oa", "school", "db") for t in bench.ctx.select(bench.name(kind))}
        for other in sorted(hosts):
            bench.sh(other, ["python3", "-", bench.data], input_text=SMALL_DATA)
        bench.sh(host, ["sh", "-c", f"cat $(find {bench.data}/set -type f) > /dev/null"])  # warm the page cache
        bares, plains = [], []
        for n in range(ROUNDS):
            if n % 2:
                plains.append(project_backup(bench, f"plain{n}"))
                bares.append(bare_backup(bench, kind=f"bare{n}"))
            else:
                bares.append(bare_backup(bench, kind=f"bare{n}"))
                plains.append(project_backup(bench, f"plain{n}"))
        bare = min(bares)
        plain, summary = min(plains, key=lambda pair: pair[0])
        print(f"rounds: bare {[round(b, 2) for b in bares]} s, project {[round(p, 2) for p, _s in plains]} s")
        full, _summary = project_backup(bench, "full")
        # No-change: bare and project alternate on their own (already filled) repositories.
        bare_agains, agains = [], []
        for _n in range(2 * ROUNDS):  # a no-change backup takes a second or two: more rounds, less noise
            bare_agains.append(bare_backup(bench, init=False))
            agains.append(project_backup(bench, "plain0", init=False))
        bare_again = min(bare_agains)
        again, again_summary = min(agains, key=lambda pair: pair[0])
        print(
            f"no-change rounds: bare {[round(b, 2) for b in bare_agains]} s, "
            f"project {[round(p, 2) for p, _s in agains]} s"
        )
        mib = summary["bytes_processed"] / 2**20
        overhead = (plain - bare) / bare
        nochange = again - bare_again
        print(f"dataset: {mib:.0f} MiB, {summary['files_new']} files on {host}")
        print(f"bare restic backup:            {bare:7.2f} s  ({mib / bare:6.1f} MiB/s)")
        print(
            f"project backup (no manifest):  {plain:7.2f} s  overhead {overhead:+.1%} (target < {OVERHEAD_TARGET:.0%})"
        )
        print(f"project backup (with SHA-256 manifest): {full:7.2f} s  (+{full - plain:.1f} s for the manifest)")
        print(f"no-change bare restic backup:  {bare_again:7.2f} s")
        print(
            f"no-change project backup:      {again:7.2f} s  ({again_summary['bytes_added']} bytes added), "
            f"{nochange:+.2f} s against bare (target < {NOCHANGE_TARGET} s)"
        )
        drill = restore.drill(bench.ctx, bench.ctx.target(bench.name("full"), host))
        assert drill.ok, drill.message
        rto = drill.summary["rto_seconds"]
        print(
            f"restore-and-verify (drill on dr-app-1): {rto:.1f} s = {mib / rto:.1f} MiB/s, "
            f"restore alone {drill.summary['restore_seconds']:.1f} s"
        )
        wall, results = all_at_once(bench)
        print(f"all default-lab dataset kinds at once ({len(results)} units): {wall:.1f} s wall")
        for unit, status, seconds in results:
            print(f"    {unit:<40} {status:<10} {seconds:6.1f} s")
        print(
            json.dumps(
                {
                    "bare_s": bare,
                    "project_s": plain,
                    "overhead": overhead,
                    "manifest_s": full - plain,
                    "nochange_s": again,
                    "bare_nochange_s": bare_again,
                    "nochange_difference_s": nochange,
                    "restore_verify_mib_s": mib / rto,
                    "all_at_once_s": wall,
                }
            )
        )
        met = overhead < OVERHEAD_TARGET and nochange < NOCHANGE_TARGET
        return met and all(status == "succeeded" for _u, status, _s in results)
    finally:
        bench.clean()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    """Parse arguments, find or bring up a lab, run the parts; exit 0 when the targets were met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-config", type=Path, help="egov.yml of a lab that is already up")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the generated dataset (default 1024)")
    parser.add_argument("--host", default="mn-oa-1", help="lab host holding the dataset (default mn-oa-1)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("backup bench: skipped (needs root for the lab)")
        return 0
    from controlplane.config import load_config

    own = None
    lab_config = args.lab_config
    if lab_config is None:
        if Path("/sys/class/net/egov-br0").exists():
            print("backup bench: skipped (a lab is up: pass its --lab-config to use it)")
            return 0
        own = Path(tempfile.mkdtemp(prefix="egov-bench-backup-lab-"))
        lab_config = own / "egov.yml"
        lab_config.write_text(
            f"folders:\n  inventory: {REPO / 'inventory' / 'lab.yml'}\nstate:\n  dir: var\n", encoding="utf-8"
        )
        subprocess.run(
            [sys.executable, "-m", "controlplane", "--config", str(lab_config), "lab", "up"],
            check=True,
            capture_output=True,
        )
    try:
        return 0 if measure(load_config(lab_config), args.size_mib, args.host) else 1
    finally:
        if own is not None:
            subprocess.run(
                [sys.executable, "-m", "controlplane", "--config", str(lab_config), "lab", "down"],
                check=False,
                capture_output=True,
            )
            shutil.rmtree(own, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
