"""Off-site copies to the secondary center (dr-backup-1), checked with restic directly on both centers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from controlplane.backup import engine, offsite
from controlplane.backup.models import BackupStatus

if TYPE_CHECKING:
    from tests.integration.backup.conftest import BackupLab

pytestmark = [pytest.mark.root, pytest.mark.lab]


def _ids(bk: BackupLab, dataset: str, center: str) -> list[dict[str, str]]:
    listed = bk.restic_on_center("ministry", "mn-oa-1", dataset, "snapshots", "--json", center=center)
    assert listed.exit_code == 0, listed.stderr
    return list(json.loads(listed.stdout))


def test_a_copy_puts_the_primarys_snapshots_on_the_secondary_and_a_second_copy_only_the_new_one(
    bk: BackupLab,
) -> None:
    from tests.integration.backup.conftest import CENTER, SECONDARY

    dataset = bk.name("files")
    target = bk.ctx.target(dataset, "mn-oa-1")
    first = engine.backup(bk.ctx, target)
    assert first.ok, first.message

    copied = offsite.copy(bk.ctx, target)
    assert copied.ok, copied.message
    assert copied.summary["copied"] >= 1
    primary = {s["id"] for s in _ids(bk, dataset, CENTER)}
    assert first.summary["snapshot_id"] in primary
    on_secondary = _ids(bk, dataset, SECONDARY)
    # restic copy gives the copy a new id and keeps the source's as "original".
    assert primary == {s["original"] for s in on_secondary}
    with bk.ctx.store.session() as session:
        row = session.get(BackupStatus, (dataset, "mn-oa-1"))
        assert row.last_copy_status == "succeeded" and row.last_copy_snapshot_time is not None

    second = engine.backup(bk.ctx, target)
    assert second.ok, second.message
    again = offsite.copy(bk.ctx, target)
    assert again.ok, again.message
    assert again.summary["copied"] == 1
    originals = [s["original"] for s in _ids(bk, dataset, SECONDARY)]
    assert second.summary["snapshot_id"] in originals and len(originals) == len(set(originals))
    check = bk.restic_on_center("ministry", "mn-oa-1", dataset, "check", center=SECONDARY)
    assert check.exit_code == 0, check.stdout + check.stderr


def test_a_copy_of_a_unit_never_backed_up_is_a_failed_run_with_the_reason(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("school"), "gd-school-1")
    assert not bk.ctx.vault.exists(target.password_secret)  # fresh dataset names per module
    result = offsite.copy(bk.ctx, target)
    assert result.status == "failed" and "never backed up" in result.message
