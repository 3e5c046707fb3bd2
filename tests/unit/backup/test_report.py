"""The readiness rows' human texts (``egov backup list``, the console grid): no "None" ever shows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from controlplane.backup import records, report
from controlplane.backup.models import BackupDrill
from controlplane.backup.policy import load_policies
from controlplane.backup.targets import targets_of
from controlplane.inventory import load_inventory
from controlplane.store.models import utcnow

REPO = Path(__file__).resolve().parents[3]


def _ctx(store: Any) -> Any:
    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    policy = load_policies(REPO / "backup", inventory)
    return SimpleNamespace(
        store=store,
        policy=policy,
        targets=lambda dataset: targets_of(policy, inventory, dataset),
        config=SimpleNamespace(site_name="lab"),
    )


def _drill(store: Any, *, passed: bool, rto: float | None, data_age: float | None) -> None:
    started = utcnow() - dt.timedelta(minutes=5)
    drill = BackupDrill(
        dataset="oa-data",
        host="mn-oa-1",
        drill_host="dr-app-1",
        started_at=started,
        finished_at=started + dt.timedelta(seconds=3),
        passed=passed,
        data_age_seconds=data_age,
        rto_seconds=rto,
        message="",
    )
    records.record_drill(store, drill, "ministry")


def _row(store: Any) -> dict[str, Any]:
    rows = report.readiness(_ctx(store))
    return next(row for row in rows if (row["dataset"], row["host"]) == ("oa-data", "mn-oa-1"))


def test_a_drill_that_failed_before_measuring_shows_dashes_not_none(store: Any) -> None:
    _drill(store, passed=False, rto=None, data_age=None)
    text = _row(store)["drill_human"]
    assert "None" not in text
    assert text == "FAILED RPO - RTO -"


def test_a_passed_drill_shows_its_achieved_rpo_and_rto_in_seconds(store: Any) -> None:
    _drill(store, passed=True, rto=12.345, data_age=95.0)
    assert _row(store)["drill_human"] == "passed RPO 1m35s RTO 12.3s"
