"""A backup site on the shared lab for the runbook lab tests (restore-to-dr, backup-center-failover).

One egov.yml with its own store, vault and backup policy (a fresh dataset
name per test, data under ``/srv/<name>`` on the source host, both centers),
the shipped runbooks, and the lab's SSH key. :func:`backup_site` sets up the
centers' accounts, takes one backup and removes everything afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
PRIMARY, SECONDARY, ROOT = "bc-backup-1", "dr-backup-1", "/srv/restic"
RESTORE_ROOT = "/var/lib/egov/restore"


@dataclass
class BackupSite:
    """The lab, our config and what the test made: dataset, source host and its data folder."""

    lab_config: Any
    config_path: Path
    config: Any
    dataset: str
    host: str
    site: str
    data: str
    content: str

    def sh(self, host: str, argv: list[str], input_text: str | None = None, timeout: float = 60) -> Any:
        """Run argv inside a lab host directly (the test's own view, not the engine's)."""
        from controlplane.lab import exec_in_host

        return exec_in_host(self.lab_config, host, argv, input_text=input_text, timeout=timeout)

    def restic(self, center: str, *args: str) -> Any:
        """restic run on a center against our repository folder there (password from the vault on stdin)."""
        from controlplane.store import open_store
        from controlplane.tools import restic_path
        from controlplane.vault import open_vault

        store = open_store(self.config)
        try:
            password = open_vault(self.config, store).get(f"restic:{self.site}:{self.host}:{self.dataset}")
        finally:
            store.close()
        repo = f"{ROOT}/{self.site}/{self.host}/{self.dataset}"
        return self.sh(center, [restic_path(), "-r", repo, "--no-cache", *args], input_text=password + "\n")

    def execute(self, name: str, mode: str, **kwargs: Any) -> Any:
        """Execute a shipped runbook in-process against the lab."""
        from controlplane.inventory import load_inventory
        from controlplane.runbook.engine import execute as run_engine
        from controlplane.runbook.loader import get_runbook
        from controlplane.store import open_store

        store = open_store(self.config)
        try:
            runbook = get_runbook(self.config.runbooks, name)
            inventory = load_inventory(self.config.inventory)
            return run_engine(
                self.config, store, inventory, runbook, mode=mode, actor="tester", confirmed=True, **kwargs
            )
        finally:
            store.close()


@contextmanager
def backup_site(
    lab_config: Any, tmp_path: Path, *, host: str = "mn-portal-1", site: str = "ministry"
) -> Iterator[BackupSite]:
    """Write the site, put test content on ``host``, set up both centers, back it up once; clean up after."""
    from controlplane.backup.context import open_context
    from controlplane.backup.engine import backup
    from controlplane.backup.setup import setup
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import create_key_file, open_vault

    dataset = f"rb-{secrets.token_hex(3)}"
    data = f"/srv/{dataset}"
    policy = {
        "centers": {
            "primary": {"host": PRIMARY, "root": ROOT, "chrooted": True},
            "secondary": {"host": SECONDARY, "root": ROOT, "chrooted": True},
        },
        "defaults": {"retention": {"keep_last": 3}, "retry_lock": "30s", "restore_roots": [RESTORE_ROOT]},
        "datasets": [
            {
                "name": dataset,
                "hosts": host,
                "paths": [data],
                "schedule": "0 * * * *",
                "rpo": "2h",
                "drill": {"target": "dr-app-1", "verify": ["test", "-s", "{restore_dir}" + data + "/index.html"]},
            }
        ],
    }
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "lab.yml").write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    config_path = tmp_path / "egov.yml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "folders": {
                    "inventory": str(REPO / "inventory" / "lab.yml"),
                    "runbooks": str(REPO / "runbooks"),
                    "backup": str(tmp_path / "policy"),
                },
                "state": {"dir": str(tmp_path / "var"), "database": f"sqlite:///{tmp_path}/egov.db"},
                "vault": {"key_file": str(tmp_path / "master.key")},
                "ssh": {"key_file": str(lab_config.ssh_key_file), "known_hosts": str(lab_config.ssh_known_hosts)},
            }
        ),
        encoding="utf-8",
    )
    config = load_config(config_path)
    create_key_file(Path(config.key_file))
    content = f"<h1>restored {dataset} from {host}</h1>\n"
    made = BackupSite(lab_config, config_path, config, dataset, host, site, data, content)
    try:
        written = made.sh(
            host,
            [
                "python3",
                "-c",
                f"import os; os.makedirs({data!r}); open({data!r} + '/index.html', 'w').write({content!r})",
            ],
        )
        assert written.exit_code == 0, written.stderr
        store = open_store(config)
        try:
            ctx = open_context(config, store, open_vault(config, store), actor="pytest")
            try:
                setup(ctx)
                first = backup(ctx, ctx.target(dataset, host))
                assert first.ok, first.message
            finally:
                ctx.close()
        finally:
            store.close()
        yield made
    finally:
        made.sh(host, ["rm", "-rf", "--one-file-system", data])
        made.sh("dr-app-1", ["rm", "-rf", "--one-file-system", f"{RESTORE_ROOT}/{dataset}"])
        for center in (PRIMARY, SECONDARY):
            made.sh(center, ["rm", "-rf", "--one-file-system", f"{ROOT}/{site}/{host}/{dataset}"])
