"""A stored scan end to end on recorded-free, real local evidence: run, results, scores, diff, audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane.compliance.history import current_results, latest_scan_per_host, load_scan, recent_scans
from controlplane.compliance.service import plan_scan, run_scan, waiver_path
from controlplane.errors import BadInputError, ConfigError
from controlplane.store.models import Run, RunStatus
from tests.unit.compliance.conftest import SCAN_TIME
from tests.unit.compliance.test_collector import LocalPool


@pytest.fixture(scope="module")
def inventory() -> Any:
    from controlplane.inventory import load_inventory
    from tests.conftest import REPO

    return load_inventory(REPO / "inventory" / "lab.yml")


def scan_once(config: Any, store: Any, inventory: Any, **options: Any) -> Any:
    options.setdefault("limit", "gd-edu-1,gd-school-1")
    return run_scan(config, store, actor="tester@cli", pool=options.pop("pool", LocalPool()), inventory=inventory,
                    **options)  # fmt: skip


def test_a_scan_is_a_run_whose_results_are_stored_with_their_evidence(config, store, inventory) -> None:
    outcome = scan_once(config, store, inventory)
    assert outcome.status == RunStatus.SUCCEEDED and outcome.exit_code == 0
    with store.session() as session:
        run = session.get(Run, outcome.run_id)
        assert run.kind == "scan" and run.status == RunStatus.SUCCEEDED and run.summary["scan_id"] == outcome.scan_id
        assert run.output_lines == 3  # one line per host, then the summary
        stored = load_scan(session, outcome.scan_id)
    assert [h.host.name for h in stored.scan.hosts] == ["gd-edu-1", "gd-school-1"]
    assert len(stored.scan.results) == len(outcome.scan.results) == 2 * len(plan_scan(config).catalog)
    uid0 = next(r for r in stored.scan.results if r.control_id == "accounts.uid0-only-root")
    assert uid0.status == "pass" and uid0.found and uid0.expected


def test_the_second_scan_reports_the_change_since_the_first(config, store, inventory) -> None:
    first = scan_once(config, store, inventory)
    assert first.diff is None
    second = scan_once(config, store, inventory)
    assert second.diff is not None and not second.diff.new_failures and second.diff.still_failing
    with store.session() as session:
        assert [row.id for row in recent_scans(session)] == [second.scan_id, first.scan_id]


def test_current_results_take_each_host_from_its_newest_scan(config, store, inventory) -> None:
    everything = scan_once(config, store, inventory, limit=None, site="province-gd")
    one = scan_once(config, store, inventory, limit="gd-school-1")
    with store.session() as session:
        latest = latest_scan_per_host(session)
        results = current_results(session)
    assert latest == {"gd-edu-1": everything.scan_id, "gd-gw-1": everything.scan_id, "gd-school-1": one.scan_id}
    assert {r.host for r in results} == {"gd-edu-1", "gd-gw-1", "gd-school-1"}


def test_an_unreachable_host_makes_the_scan_partial_with_exit_code_1(config, store, inventory) -> None:
    class HalfPool(LocalPool):
        def run(self, target, argv, *, timeout, input_text):  # type: ignore[no-untyped-def]
            self.unreachable = target.name == "gd-edu-1"
            return super().run(target, argv, timeout=timeout, input_text=input_text)

    outcome = scan_once(config, store, inventory, pool=HalfPool())
    assert outcome.status == RunStatus.PARTIAL and outcome.exit_code == 1
    edu = next(h for h in outcome.scan.hosts if h.host.name == "gd-edu-1")
    assert {r.status for r in edu.results} <= {"error", "not_applicable"}
    with store.session() as session:
        stored = load_scan(session, outcome.scan_id)
    assert not next(h for h in stored.scan.hosts if h.host.name == "gd-edu-1").reachable


def test_no_host_reachable_fails_the_run(config, store, inventory) -> None:
    outcome = scan_once(config, store, inventory, pool=LocalPool(unreachable=True))
    assert outcome.status == RunStatus.FAILED and outcome.exit_code == 1


def test_the_scan_is_audited_with_its_scope_and_outcome(config, store, inventory) -> None:
    from controlplane import audit

    outcome = scan_once(config, store, inventory)
    record = audit.list_records(store, limit=1)[0]
    assert (record.action, record.target, record.outcome, record.actor) == (
        "compliance.scan", "hosts gd-edu-1,gd-school-1", "succeeded", "tester@cli",
    )  # fmt: skip
    assert f'"scan_id":{outcome.scan_id}' in record.details


def test_waivers_from_the_controls_folder_are_applied_and_kept_with_the_scan(config, store, inventory) -> None:
    baseline = scan_once(config, store, inventory, limit="gd-school-1")
    failing = next(r for r in baseline.scan.results if r.status == "fail")
    path = waiver_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "waivers:\n"
        f"  - control: {failing.control_id}\n    hosts: [gd-school-1]\n"
        "    justification: Vendor agent needs it until the 2027 upgrade\n"
        "    approver: Officer\n    expires: 2099-12-31\n",
        encoding="utf-8",
    )
    outcome = scan_once(config, store, inventory, limit="gd-school-1")
    waived = next(r for r in outcome.scan.results if r.control_id == failing.control_id)
    assert waived.status == "waived" and waived.original_status == "fail" and waived.found == failing.found
    with store.session() as session:
        stored = load_scan(session, outcome.scan_id)
    assert [w.control for w in stored.waivers] == [failing.control_id]


def test_the_waiver_file_is_not_read_as_a_control_file(config) -> None:
    path = waiver_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("waivers: []\n", encoding="utf-8")
    assert len(plan_scan(config).catalog) > 60


def test_bad_input_is_refused_before_any_run_exists(config, store, inventory) -> None:
    with pytest.raises(BadInputError, match="unknown site"):
        plan_scan(config, site="atlantis", inventory=inventory)
    with pytest.raises(BadInputError, match="matches no host"):
        plan_scan(config, limit="nothing-*", inventory=inventory)
    Path(config.controls).mkdir(parents=True, exist_ok=True)
    waiver_path(config).write_text("waivers:\n  - control: ssh.permit-root-login\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        plan_scan(config, inventory=inventory)
    with store.session() as session:
        assert session.query(Run).count() == 0


def test_a_waiver_expired_before_the_scan_day_does_not_apply(config, store, inventory) -> None:
    baseline = scan_once(config, store, inventory, limit="gd-school-1", now=SCAN_TIME)
    failing = next(r for r in baseline.scan.results if r.status == "fail")
    Path(config.controls).mkdir(parents=True, exist_ok=True)
    expired = (SCAN_TIME - timedelta(days=1)).date().isoformat()
    waiver_path(config).write_text(
        f"waivers:\n  - {{control: {failing.control_id}, sites: [school-gd-1], "
        "justification: Legacy system pending replacement, approver: Officer Wang, "
        f"expires: {expired}}}\n",
        encoding="utf-8",
    )
    outcome = scan_once(config, store, inventory, limit="gd-school-1", now=SCAN_TIME)
    assert next(r for r in outcome.scan.results if r.control_id == failing.control_id).status == "fail"
