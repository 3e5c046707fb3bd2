"""The audit head anchored on the lab's real backup center (bc-backup-1), over the control plane's SFTP account.

A site of its own (state, store, vault in a temp folder) whose backup policy
has a control-plane dataset, so ``egov backup setup`` makes the control
plane's backup key and its chrooted ``backup-controlplane`` account on the
center. The anchor file is named by this site's own audit key, so parallel
sessions never share it; the test removes it and its key line afterwards.
Run under the lab flock (``flock /tmp/egov-lab-tests.lock ...``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from controlplane import audit
from controlplane.audit import anchor
from controlplane.lab import exec_in_host
from tests.unit.audit.conftest import wipe

CENTER = "bc-backup-1"
ROOT = "/srv/restic"


@dataclass
class AnchorSite:
    """The lab config, this site's config and store, and where its anchors live on the center."""

    lab_config: Any
    config: Any
    store: Any

    def center_file(self) -> str:
        key_id = audit.keyring_for(self.store).stored_ids()[0]
        return f"{ROOT}/controlplane/controlplane/{anchor.REMOTE_NAME.format(key_id=key_id)}"

    def on_center(self, *argv: str) -> Any:
        return exec_in_host(self.lab_config, CENTER, list(argv), timeout=30)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnchorSite]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    from controlplane.backup.context import open_context
    from controlplane.backup.setup import setup as backup_setup
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import Vault, create_key_file

    lab_config = request.getfixturevalue("lab").config
    folder = tmp_path_factory.mktemp("anchor")
    (folder / "policy").mkdir()
    policy = {
        "centers": {"primary": {"host": CENTER, "root": ROOT, "chrooted": True}},
        "defaults": {"retention": {"keep_last": 3}, "restore_roots": ["/var/lib/egov/restore"]},
        "datasets": [
            {
                "name": f"it-cp-{secrets.token_hex(3)}",
                "local": True,
                "paths": ["var/audit"],
                "schedule": "0 * * * *",
                "rpo": "2h",
            }
        ],
    }
    (folder / "policy" / "lab.yml").write_text(yaml.safe_dump(policy, sort_keys=False))
    (folder / "egov.yml").write_text(
        yaml.safe_dump(
            {
                "folders": {"inventory": str(lab_config.inventory), "backup": str(folder / "policy")},
                "state": {"dir": str(folder / "var"), "database": f"sqlite:///{folder / 'var' / 'egov.db'}"},
                "ssh": {"key_file": str(lab_config.ssh_key_file), "known_hosts": str(lab_config.ssh_known_hosts)},
            }
        )
    )
    config = load_config(folder / "egov.yml")
    create_key_file(config.key_file)
    store = open_store(config)
    ctx = open_context(config, store, Vault(store, config.key_file), actor="pytest", trigger="cli")
    try:
        backup_setup(ctx, sites=["controlplane"], centers=[ctx.policy.primary])
    finally:
        ctx.close()
    made = AnchorSite(lab_config, config, store)
    public_key = (config.state_dir / "backup" / "id_ed25519.pub").read_text().split()[1]
    try:
        yield made
    finally:
        if audit.keyring_for(store).stored_ids():
            made.on_center("rm", "-f", made.center_file())
        # Our key line out of the account's authorised keys (the account itself is the lab's, kept).
        made.on_center("sed", "-i", f"\\|{public_key}|d", "/etc/ssh/egov-backup-keys/backup-controlplane")
        store.close()


def test_the_head_is_anchored_on_the_backup_center_and_read_back(site: AnchorSite) -> None:
    for index in range(3):
        audit.append(site.store, actor="pytest", action="x", target=str(index))
    results = {result.where: result for result in anchor.anchor_head(site.config, site.store)}
    assert results[CENTER].written and not results[CENTER].error and results[CENTER].seq == 3
    listing = site.on_center("cat", site.center_file())
    assert listing.exit_code == 0 and listing.stdout.split()[:2] == ["3", results[CENTER].head]
    again = {result.where: result for result in anchor.anchor_head(site.config, site.store)}
    assert not again[CENTER].written and not again[CENTER].error  # the head did not move: no second line
    verdict = audit.verify(site.store, remote=True)
    assert verdict.ok and CENTER in verdict.anchor_logs and verdict.last_anchor.seq == 3


def test_an_emptied_database_and_local_anchor_log_are_caught_by_the_centers_anchor(site: AnchorSite) -> None:
    audit.append(site.store, actor="pytest", action="y", target="z")
    anchor.anchor_head(site.config, site.store)
    wipe(site.store)
    anchor.local_log_path(site.config).unlink()
    local_only = audit.verify(site.store)
    assert not local_only.ok and "vault holds" in local_only.reason  # without anchors: the key betrays it
    verdict = audit.verify(site.store, remote=True)
    assert not verdict.ok and f"anchored on {CENTER}" in verdict.reason and "record 4" in verdict.reason
