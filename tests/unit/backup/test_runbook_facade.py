"""The backup facade behind the runbook adapter: found by the adapter, switching back, refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from controlplane.backup import runbook_facade
from controlplane.backup.centers import active_center, set_active_center
from controlplane.backup.policy import load_policies
from controlplane.errors import BadInputError, EgovError
from controlplane.runbook.adapters import BACKUP_ENGINE_FUNCTIONS, EngineBackupAdapter

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def site(config: Any) -> Any:
    return dataclasses.replace(config, backup=REPO / "backup", inventory=REPO / "inventory" / "lab.yml")


def test_the_runbook_adapter_finds_every_function_in_the_facade(site: Any, store: Any) -> None:
    assert EngineBackupAdapter(site, store).unavailable() is None
    assert all(callable(getattr(runbook_facade, name)) for name in BACKUP_ENGINE_FUNCTIONS)


def test_switching_back_to_the_primary_needs_no_center_set_up_and_reports_the_previous(site: Any, store: Any) -> None:
    from controlplane.inventory import load_inventory

    policy = load_policies(site.backup, load_inventory(site.inventory))
    set_active_center(store, policy, "secondary", actor="t")
    adapter = EngineBackupAdapter(site, store)
    assert adapter.switch_center(to_center="primary") == {
        "previous": "secondary",
        "active": "primary",
        "host": "bc-backup-1",
    }
    assert active_center(store) == "primary"
    with pytest.raises(BadInputError, match="unknown backup center"):
        adapter.switch_center(to_center="tertiary")


def test_verifying_a_restore_that_never_happened_fails_with_the_reason(site: Any, store: Any) -> None:
    with pytest.raises(EgovError, match="no successful restore of portal-content"):
        runbook_facade.verify_restore(
            site, store, dataset="portal-content", target_host="dr-app-1", restore_dir="/srv/restore/x"
        )


def test_a_backup_of_an_unknown_dataset_is_refused_before_anything_runs(site: Any, store: Any) -> None:
    with pytest.raises(BadInputError, match="unknown dataset"):
        runbook_facade.backup_now(site, store, dataset="nope", host="mn-oa-1")
