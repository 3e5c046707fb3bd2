"""Fixtures shared by every test: a site configuration in a temp folder, its store."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _wired_like_every_egov_process() -> None:
    """The hand-overs between rooms (controlplane.providers) that every egov command and the console make at start.

    Tests call engines and the core directly, without going through ``egov``:
    they get the same answers the processes do.
    """
    from controlplane.cli.wiring import wire

    wire()


def write_config(folder: Path, **overrides: object) -> Path:
    """Write an egov.yml in ``folder`` using the repository's lab inventory; return its path."""
    data: dict[str, object] = {
        "folders": {
            "inventory": str(REPO / "inventory" / "lab.yml"),
            "playbooks": str(REPO / "playbooks"),
            "backup": str(REPO / "backup"),
            "monitoring": str(REPO / "monitoring"),
            "runbooks": str(REPO / "runbooks"),
        },
        "state": {"dir": "var", "database": "sqlite:///var/egov.db"},
    }
    data.update(overrides)
    path = folder / "egov.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def egov(folder: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``egov ARGS`` for the site in ``folder`` as a user would (``python -m controlplane``); return it finished.

    The site's egov.yml is named by EGOV_CONFIG, the folder is the working
    directory, and a master key file from the caller's environment is dropped.
    """
    env = {**os.environ, "EGOV_CONFIG": str(folder / "egov.yml")}
    env.pop("EGOV_MASTER_KEY_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "controlplane", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        check=False,
        timeout=timeout,
    )


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """An egov.yml in a fresh temp folder (state under tmp_path/var)."""
    return write_config(tmp_path)


@pytest.fixture
def config(config_path: Path):  # type: ignore[no-untyped-def]
    """The loaded Config of ``config_path`` with its master key created."""
    from controlplane.config import load_config
    from controlplane.vault import create_key_file

    loaded = load_config(config_path)
    create_key_file(loaded.key_file)
    return loaded


@pytest.fixture
def store(config):  # type: ignore[no-untyped-def]
    """An open, migrated SQLite store for ``config``."""
    from controlplane.store import open_store

    opened = open_store(config)
    yield opened
    opened.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real, throwaway PostgreSQL server on a Unix socket; yields its SQLAlchemy URL.

    Started with Debian's binaries as the ``postgres`` user; skipped only when
    PostgreSQL is not installed (the set-up installs it) or we are not root.
    """
    bindir = _postgres_bin()
    if bindir is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries or root not available")
    # Not under pytest's tmp dir: that one is 0700 root, and postgres must enter it.
    folder = Path(tempfile.mkdtemp(prefix="egov-pg-"))
    data, sock = folder / "data", folder / "sock"
    sock.mkdir()
    shutil.chown(folder, "postgres")
    shutil.chown(sock, "postgres")
    folder.chmod(0o755)
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(folder / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [*as_postgres, str(bindir / "createdb"), "-h", str(sock), "-p", str(port), "egov"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@/egov?host={sock}&port={port}"
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)
