"""backup-center-failover on the lab: backups go to dr-backup-1 while failed over, restic there lists the proof."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.store import open_store
from controlplane.store.models import AuditRecord
from tests.integration.backup.runbook_site import PRIMARY, SECONDARY, BackupSite, backup_site

pytestmark = [pytest.mark.root, pytest.mark.lab]


@pytest.fixture
def bsite(lab_config: Any, tmp_path: Path) -> Iterator[BackupSite]:
    with backup_site(lab_config, tmp_path) as made:
        yield made


def _active(bsite: BackupSite) -> str:
    from controlplane.backup.centers import active_center
    from controlplane.store import open_store

    store = open_store(bsite.config)
    try:
        return active_center(store)
    finally:
        store.close()


def _snapshot_ids(bsite: BackupSite, center: str) -> list[str]:
    listed = bsite.restic(center, "snapshots", "--json")
    if listed.exit_code == 10:  # no repository there at all
        return []
    assert listed.exit_code == 0, listed.stderr
    return [item["id"] for item in json.loads(listed.stdout)]


def test_a_drill_lands_a_backup_on_the_secondary_center_and_ends_switched_back(bsite: BackupSite) -> None:
    before_primary = _snapshot_ids(bsite, PRIMARY)
    active_during: list[str] = []

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "end" and event["phase"] == "verify":
            active_during.append(_active(bsite))

    params = {"probe_dataset": bsite.dataset, "probe_host": bsite.host}
    result = bsite.execute("backup-center-failover", "drill", params=params, listener=listener)
    assert result.status == "succeeded", result.error
    assert active_during == ["secondary"]
    proof = result.figures["proof_snapshot"]
    # Checked with restic on the centers themselves: the proof is on the secondary, not on the primary.
    assert _snapshot_ids(bsite, SECONDARY) == [proof]
    assert _snapshot_ids(bsite, PRIMARY) == before_primary
    # The drill ended switched back, and the switch is in the audit log both ways.
    assert _active(bsite) == "primary"
    store = open_store(bsite.config)
    try:
        with store.session() as session:
            switches = [
                json.loads(r.details)
                for r in session.query(AuditRecord).order_by(AuditRecord.seq)
                if r.action == "backup.center.switch"
            ]
    finally:
        store.close()
    assert [d["previous"] for d in switches] == ["primary", "secondary"]


def test_a_dry_run_switches_nothing_and_backs_nothing_up(bsite: BackupSite) -> None:
    params = {"probe_dataset": bsite.dataset, "probe_host": bsite.host}
    result = bsite.execute("backup-center-failover", "dry-run", params=params)
    assert result.status == "succeeded", result.error
    assert _active(bsite) == "primary"
    assert _snapshot_ids(bsite, SECONDARY) == []
