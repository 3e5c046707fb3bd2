"""One real lab for the whole test session, in a temporary state folder.

Two labs cannot coexist on one machine (same subnet, bridge and namespace
names), so the lab is session-scoped, and a lab already up from another
state folder is brought down only when it is a leftover of an earlier test
run (its folder is gone or none of its hosts runs); a live lab of another
state folder makes the session fail with a message instead of being destroyed.

``EGOV_LAB_CONFIG=PATH/egov.yml`` points every lab test (and the lab
benchmarks) at a lab that is already up, e.g. the one of ``make run``: it is
brought up if needed (``egov lab up`` is idempotent) and never taken down.
Every feature's lab fixture goes through :func:`lab`, so this one setting
serves them all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Lab:
    """The session's lab: its config file, loaded Config and the first `lab up` result."""

    config_path: Path
    config: Any
    first_up: subprocess.CompletedProcess[str]
    first_up_seconds: float

    def egov(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``egov --config ... ARGS`` as a user would; return the finished process."""
        return run_egov(self.config_path, *args, timeout=timeout)


def run_egov(config_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``egov --config CONFIG_PATH ARGS`` in a child process; return it finished."""
    return subprocess.run(
        [sys.executable, "-m", "controlplane", "--config", str(config_path), *args],
        capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip


def _stale_owner(owner: str) -> bool:
    """Whether the lab on the machine is a leftover we may remove.

    It is when its state folder is gone, or when no lab init runs any more
    (a crashed session left only namespaces and links). A live lab of another
    state folder, a developer's or a parallel session's, is never destroyed.
    """
    from controlplane.lab import probe

    return not Path(owner).exists() or not any(p.is_lab_init for p in probe.processes())


# One fixed state folder for the test lab, shared by every test session on
# this machine: concurrent sessions (a developer's and a helper's, say) reuse
# the same lab instead of fighting over the bridge, and the last session to
# finish takes it down. Not under pytest's tmp dirs, which are rotated away.
TEST_LAB_DIR = Path(os.environ.get("EGOV_TEST_LAB_DIR", "/tmp/egov-test-lab"))


def _live_users(users: Path) -> list[Path]:
    """Registered session files whose process still runs (stale ones are removed)."""
    live = []
    for entry in users.glob("*"):
        if entry.name.isdigit() and Path(f"/proc/{entry.name}").exists():
            live.append(entry)
        else:
            entry.unlink(missing_ok=True)
    return live


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """Bring the default lab up once (through the CLI); the last session using it takes it down."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, mounts)")
    import fcntl
    import time

    from controlplane.config import load_config
    from controlplane.lab import manager, names, probe

    existing = os.environ.get("EGOV_LAB_CONFIG")
    if existing:
        started = time.monotonic()
        first_up = run_egov(Path(existing), "lab", "up")
        if first_up.returncode != 0:
            pytest.fail(f"EGOV_LAB_CONFIG={existing}: `egov lab up` failed: {first_up.stderr.strip()}")
        yield Lab(Path(existing), load_config(existing), first_up, time.monotonic() - started)
        return
    TEST_LAB_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    users = TEST_LAB_DIR / "sessions"
    users.mkdir(exist_ok=True)
    config_path = TEST_LAB_DIR / "egov.yml"
    with open(TEST_LAB_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config_path.write_text(
            yaml.safe_dump(
                {
                    "folders": {
                        "inventory": str(REPO / "inventory" / "lab.yml"),
                        "playbooks": str(REPO / "playbooks"),
                        "backup": str(REPO / "backup"),
                        "monitoring": str(REPO / "monitoring"),
                        "runbooks": str(REPO / "runbooks"),
                    },
                    "state": {"dir": "var"},
                }
            ),
            encoding="utf-8",
        )
        config = load_config(config_path)
        alias = probe.link_alias(names.BRIDGE)
        if alias and alias != manager.owner_tag(config.lab_dir.resolve()):
            owner = alias.removeprefix("egov-lab ")
            if not _stale_owner(owner):
                pytest.fail(
                    f"another lab is up on this machine ({owner}): run `egov lab down` with its config first, "
                    "or set EGOV_LAB_CONFIG to its egov.yml to run the tests on it"
                )
            manager.down(config)
        (users / str(os.getpid())).touch()
        started = time.monotonic()
        first_up = run_egov(config_path, "lab", "up")
        elapsed = time.monotonic() - started
    try:
        yield Lab(config_path, config, first_up, elapsed)
    finally:
        with open(TEST_LAB_DIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            (users / str(os.getpid())).unlink(missing_ok=True)
            if not _live_users(users):
                manager.down(config, purge=True)
