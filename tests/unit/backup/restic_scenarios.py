"""Real restic runs through the argv builders, against a local repository.

Used twice: by ``test_restic_local.py`` (end to end, proving the builders
produce working commands) and by ``python -m tests.unit.backup.restic_scenarios``,
which records the outputs as the fixtures the parser tests read
(``fixtures/*.json``, temp paths replaced by ``$TMP``). Only local files and
local processes: no network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from controlplane import execute
from controlplane.backup import commands, jsonout
from controlplane.backup.policy import Retention

PASSWORD = "correct horse battery staple"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Recorded:
    """One restic run: what was run and what it left."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str


def _run(argv: list[str], password: str = PASSWORD, timeout: float = 120) -> Recorded:
    result = execute.run(argv, input_text=password + "\n", timeout=timeout, secrets=[password])
    return Recorded(argv=argv, exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def make_source(root: Path) -> Path:
    """Create a small folder to back up: files, a subfolder, a symlink, an excluded file."""
    source = root / "src"
    (source / "docs").mkdir(parents=True)
    (source / "index.html").write_text("<h1>教育部 portal</h1>\n", encoding="utf-8")
    (source / "docs" / "report.txt").write_bytes(os.urandom(4096))
    (source / "docs" / "scratch.tmp").write_text("excluded\n")
    (source / "link").symlink_to("index.html")
    return source


def run_all(root: Path, restic: str) -> dict[str, Recorded]:
    """Run every scenario in ``root`` (a fresh folder) with the restic at ``restic``."""
    source = make_source(root)
    repo = commands.Repo(location=str(root / "repo"), restic=restic, cache_dir=str(root / "cache"))
    locked_repo = commands.Repo(location=repo.location, restic=restic, cache_dir=repo.cache_dir)
    tags = ("egov", "portal-content")
    out: dict[str, Recorded] = {}
    out["init"] = _run(commands.init(repo))
    out["backup_paths"] = _run(
        commands.backup_paths(repo, [str(source)], host="mn-portal-1", excludes=["*.tmp"], tags=tags)
    )
    out["backup_paths_unchanged"] = _run(
        commands.backup_paths(repo, [str(source)], host="mn-portal-1", excludes=["*.tmp"], tags=tags)
    )
    out["backup_missing_path"] = _run(
        commands.backup_paths(repo, [str(root / "does-not-exist")], host="mn-portal-1", tags=tags)
    )
    out["backup_dump"] = _run(
        commands.backup_dump(
            repo,
            ["sh", "-c", "cat; printf 'dump-data\\n'"],
            filename="edu.dump",
            host="mn-db-1",
            tags=("egov", "edu-db"),
        )
    )
    out["backup_dump_fails"] = _run(
        commands.backup_dump(repo, ["sh", "-c", "echo partial; exit 3"], filename="bad.dump", host="mn-db-1")
    )
    out["backup_dump_empty"] = _run(commands.backup_dump(repo, ["true"], filename="empty.dump", host="mn-db-1"))
    empty = jsonout.parse_stream(out["backup_dump_empty"].stdout.splitlines()).summary
    if empty is not None and empty.snapshot_id:
        out["forget_empty_dump"] = _run(commands.forget_snapshots(repo, [empty.snapshot_id]))
    out["snapshots"] = _run(commands.snapshots(repo))
    out["snapshots_host"] = _run(commands.snapshots(repo, host="mn-portal-1", tags=["portal-content"]))
    out["restore"] = _run(
        commands.restore(repo, target=str(root / "restored"), host="mn-portal-1", includes=[str(source)])
    )
    out["restore_dump"] = _run(
        commands.restore(repo, target=str(root / "restored-dump"), host="mn-db-1", includes=["/edu.dump"])
    )
    out["ls"] = _run(commands.ls(repo, host="mn-portal-1"))
    out["stats"] = _run(commands.stats(repo))
    out["forget_prune"] = _run(commands.forget(repo, Retention(keep_last=1), host="mn-portal-1"))
    out["check"] = _run(commands.check(repo))
    out["check_subset"] = _run(commands.check(repo, read_data_subset="50%"))
    out["wrong_password"] = _run(commands.snapshots(repo), password="not the password")
    missing = commands.Repo(location=str(root / "no-such-repo"), restic=restic, cache_dir=repo.cache_dir)
    out["repo_missing"] = _run(commands.snapshots(missing))
    out["locked"] = _locked(repo, locked_repo)
    out["unlock"] = _run(commands.unlock(repo))
    return out


def _locked(repo: commands.Repo, other: commands.Repo) -> Recorded:
    """Hold a lock with a backup whose dump command sleeps, and record ``forget --prune`` failing on it (exit 11).

    A sleeping dump holds restic's lock for as long as we like, so there is no
    race with a fast operation finishing before the lock is observed (a busy
    CI machine made the earlier SIGSTOP-a-check approach flaky).
    """
    locks = Path(repo.location) / "locks"
    # A test-only process: execute.start gives no stdin, and restic needs the password on a pipe.
    process = subprocess.Popen(
        commands.backup_dump(repo, ["sleep", "120"], filename="hold.dump", host="lock-holder"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdin is not None
        process.stdin.write((PASSWORD + "\n").encode())
        process.stdin.close()
        deadline = time.monotonic() + 60
        while not any(locks.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return _run(commands.forget(other, Retention(keep_last=1)))
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def record(restic: str) -> None:
    """Run every scenario in a temp folder and write the fixtures."""
    import tempfile

    FIXTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        results = run_all(Path(folder), restic)
        for name, recorded in results.items():
            text = json.dumps(asdict(recorded), ensure_ascii=False, indent=1).replace(folder, "$TMP")
            (FIXTURES / f"{name}.json").write_text(text + "\n", encoding="utf-8")
            print(f"{name}: exit {recorded.exit_code}")


if __name__ == "__main__":
    from controlplane.tools import restic_path

    record(sys.argv[1] if len(sys.argv) > 1 else restic_path())
