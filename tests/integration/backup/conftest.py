"""A backup set-up on the real lab: its own store, vault and policies, the lab's hosts.

The session's ``lab`` fixture brings the lab up. For development against a
lab that is already up under another state folder, ``EGOV_LAB_CONFIG``
names that lab's egov.yml (the shared fixture then uses it, never brings it
down).

Each module gets fresh dataset names (``it-files-<token>`` ...), so
repositories of earlier sessions never interfere, and removes its
repositories and test data from the hosts afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.backup.context import BackupContext, open_context
from controlplane.config import load_config
from controlplane.lab import exec_in_host
from controlplane.store import open_store
from controlplane.tools import restic_path
from controlplane.vault import Vault, create_key_file

CENTER = "bc-backup-1"
SECONDARY = "dr-backup-1"
ROOT = "/srv/restic"


@dataclass
class BackupLab:
    """The lab config, our own config on it, the opened context and the dataset names."""

    lab_config: Any
    config: Any
    ctx: BackupContext
    token: str
    data: str

    def name(self, kind: str) -> str:
        """The module's dataset name of a kind (``files``, ``db``, ...)."""
        return f"it-{kind}-{self.token}"

    def sh(self, host: str, argv: list[str], input_text: str | None = None, timeout: float = 120) -> Any:
        """Run argv inside a lab host directly (nsenter, not through the engine)."""
        return exec_in_host(self.lab_config, host, argv, input_text=input_text, timeout=timeout)

    def restic_on_center(self, site: str, host: str, dataset: str, *args: str, center: str = CENTER) -> Any:
        """Run restic on a backup center against a repository folder directly (password on stdin)."""
        target = self.ctx.target(dataset, host)
        password = self.ctx.vault.get(target.password_secret)
        repo = f"{ROOT}/{site}/{host}/{dataset}"
        return self.sh(center, [restic_path(), "-r", repo, "--no-cache", *args], input_text=password + "\n")


def pg_dir(token: str) -> str:
    """The folder of the module's own PostgreSQL cluster on a lab host (data, socket, log)."""
    return f"/var/lib/egov-it-pg-{token}"


def _policy(token: str, data: str) -> dict[str, Any]:
    files = f"it-files-{token}"
    return {
        "centers": {
            "primary": {"host": CENTER, "root": ROOT, "chrooted": True},
            "secondary": {"host": SECONDARY, "root": ROOT, "chrooted": True},
        },
        "defaults": {
            "retention": {"keep_last": 3},
            "retry_lock": "30s",
            "restore_roots": ["/var/lib/egov/restore"],
        },
        "datasets": [
            {
                "name": files,
                "hosts": "mn-oa-1",
                "paths": [f"{data}/files"],
                "excludes": ["*.tmp"],
                "schedule": "0 */4 * * *",
                "rpo": "6h",
                "drill": {"target": "dr-app-1", "schedule": "30 5 * * sat"},
            },
            {
                "name": f"it-db-{token}",
                "hosts": "mn-db-1",
                "dump": {"command": ["sqlite3", f"{data}/db/edu.db", ".dump"], "filename": "edu.sql"},
                "schedule": "0 * * * *",
                "rpo": "2h",
                "drill": {
                    "target": "dr-app-1",
                    "verify": [
                        "sqlite3",
                        "-bail",
                        "{restore_dir}/check.db",
                        "-cmd",
                        ".read {restore_dir}/edu.sql",
                        "PRAGMA integrity_check",
                    ],
                },
            },
            {
                # The real PostgreSQL of the lab (a cluster the test starts on mn-db-1), dumped like
                # backup/databases.yml does: pg_dump as postgres over the cluster's socket folder.
                "name": f"it-pg-{token}",
                "hosts": "mn-db-1",
                "dump": {
                    "command": [
                        "runuser",
                        "-u",
                        "postgres",
                        "--",
                        "pg_dump",
                        "--format=custom",
                        f"--host={pg_dir(token)}/run",
                        "--dbname=edu",
                    ],
                    "filename": "edu.dump",
                },
                "schedule": "0 * * * *",
                "rpo": "2h",
            },
            {
                "name": f"it-slow-{token}",
                "hosts": "mn-db-1",
                "dump": {
                    "command": ["sh", "-c", "for i in $(seq 40); do head -c 1000000 /dev/urandom; sleep 0.5; done"],
                    "filename": "slow.bin",
                },
                "schedule": "0 * * * *",
                "rpo": "2h",
            },
            {
                "name": f"it-faildump-{token}",
                "hosts": "mn-db-1",
                "dump": {"command": ["sh", "-c", "echo partial; exit 7"], "filename": "fail.sql"},
                "schedule": "0 * * * *",
                "rpo": "2h",
            },
            {
                "name": f"it-missing-{token}",
                "hosts": "mn-oa-1",
                "paths": [f"{data}/does-not-exist"],
                "schedule": "0 * * * *",
                "rpo": "2h",
            },
            {
                "name": f"it-school-{token}",
                "hosts": "gd-school-1",
                "paths": [f"{data}/school"],
                "schedule": "0 * * * *",
                "rpo": "12h",
            },
        ],
    }


def _lab_config(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("lab").config


@pytest.fixture(scope="module")
def bk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackupLab]:
    """Our own store, vault and policies on the lab; the accounts set up; test data on the hosts."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab_config = _lab_config(request)
    token = secrets.token_hex(3)
    folder = tmp_path_factory.mktemp("backup")
    (folder / "policy").mkdir()
    data = f"/srv/it-{token}"
    (folder / "policy" / "lab.yml").write_text(yaml.safe_dump(_policy(token, data), sort_keys=False))
    config_path = folder / "egov.yml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "folders": {"inventory": str(lab_config.inventory), "backup": str(folder / "policy")},
                "state": {"dir": str(lab_config.state_dir), "database": f"sqlite:///{folder / 'egov.db'}"},
                "vault": {"key_file": str(folder / "master.key")},
                "ssh": {"key_file": str(lab_config.ssh_key_file), "known_hosts": str(lab_config.ssh_known_hosts)},
            }
        )
    )
    config = load_config(config_path)
    create_key_file(Path(config.key_file))
    store = open_store(config)
    ctx = open_context(config, store, Vault(store, config.key_file), actor="pytest", trigger="cli")
    setup = BackupLab(lab_config, config, ctx, token, data)
    _make_data(setup)
    from controlplane.backup.setup import setup as backup_setup

    backup_setup(ctx)
    try:
        yield setup
    finally:
        _clean(setup)
        ctx.close()
        store.close()


# Runs inside a host as ``python3 - BASE``: files (one excluded, one symlink) and an SQLite database.
MAKE_DATA = """
import os, sqlite3, sys
base = sys.argv[1]
os.makedirs(base + "/files/docs/deep", exist_ok=True)
os.makedirs(base + "/school", exist_ok=True)
os.makedirs(base + "/db", exist_ok=True)
with open(base + "/files/docs/report.bin", "wb") as f:
    f.write(os.urandom(2_000_000))
with open(base + "/files/docs/deep/公文.txt", "w", encoding="utf-8") as f:
    f.write("教育部 通知\\n" * 100)
with open(base + "/files/scratch.tmp", "w") as f:
    f.write("excluded")
os.symlink("docs/report.bin", base + "/files/link")
with open(base + "/school/timetable.csv", "w") as f:
    f.write("mon,math\\n")
db = sqlite3.connect(base + "/db/edu.db")
db.execute("create table students (id integer primary key, name text)")
db.executemany("insert into students (name) values (?)", [("student %d" % n,) for n in range(500)])
db.commit()
"""


def _make_data(setup: BackupLab) -> None:
    for host in ("mn-oa-1", "mn-db-1", "gd-school-1"):
        result = setup.sh(host, ["python3", "-", setup.data], input_text=MAKE_DATA)
        assert result.exit_code == 0, result.stderr


def _clean(setup: BackupLab) -> None:
    for host in ("mn-oa-1", "mn-db-1", "gd-school-1", "dr-app-1"):
        setup.sh(host, ["rm", "-rf", "--one-file-system", setup.data, f"/var/lib/egov/restore/it-{setup.token}"])
    for site, host in (("ministry", "mn-oa-1"), ("ministry", "mn-db-1"), ("school-gd-1", "gd-school-1")):
        for center in (CENTER, SECONDARY):
            setup.sh(center, ["sh", "-c", f"rm -rf --one-file-system {ROOT}/{site}/{host}/it-*-{setup.token}"])
