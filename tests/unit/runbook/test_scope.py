"""Who may start a runbook with which parameters: the engine's one check, for every kind of caller.

The lab inventory: ministry (mn-*) above backup-center (bc-backup-1),
dr-center (dr-app-1, dr-backup-1) and province-gd (gd-edu-1) with its school
school-gd-1 (gd-school-1). A province operator is scoped to province-gd, a
DR-center operator to dr-center.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from controlplane.errors import BadInputError
from controlplane.runbook import engine
from controlplane.runbook.definition import Param, Runbook, RunbookDefinitionError, Step
from controlplane.runbook.loader import get_runbook
from controlplane.runbook.params import prepare
from controlplane.runbook.scope import (
    LOCAL,
    ScopeRefused,
    caller_for_alert,
    caller_for_user,
    hosts_of_run,
)
from controlplane.store.models import Run

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def inventory() -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture(scope="module")
def restore_to_dr() -> Runbook:
    return get_runbook(REPO / "runbooks", "restore-to-dr")


def user(inventory: Any, name: str, role: str, sites: list[str]) -> Any:
    return caller_for_user(name, role, sites, inventory)


def test_a_province_operator_cannot_restore_another_sites_data_onto_a_host_of_their_own(inventory, restore_to_dr):
    operator_gd = user(inventory, "op-gd", "operator", ["province-gd"])
    given = {"source_host": "mn-portal-1", "target_host": "gd-edu-1"}
    with pytest.raises(ScopeRefused, match="source_host: 'mn-portal-1' is no host in your scope"):
        prepare(restore_to_dr, "dry-run", given, inventory, operator_gd, confirmed=True)
    # The DR center's operator may not read the province's repository onto the DR host either.
    operator_dr = user(inventory, "op-dr", "operator", ["dr-center"])
    with pytest.raises(ScopeRefused, match="source_host"):
        prepare(restore_to_dr, "dry-run", {"source_host": "gd-edu-1"}, inventory, operator_dr, confirmed=True)
    # Within their own sites the same start is fine (a dry run needs only runbooks.start).
    mine = prepare(restore_to_dr, "dry-run", {"source_host": "gd-school-1", "target_host": "gd-edu-1"}, inventory,
                   operator_gd, confirmed=True)  # fmt: skip
    assert mine.hosts == ["gd-edu-1", "gd-school-1"] and mine.site == "province-gd"


def test_a_default_out_of_scope_is_refused_without_naming_the_host(inventory, restore_to_dr):
    operator_gd = user(inventory, "op-gd", "operator", ["province-gd"])
    with pytest.raises(ScopeRefused) as refused:
        prepare(restore_to_dr, "dry-run", {"target_host": "gd-edu-1"}, inventory, operator_gd, confirmed=True)
    assert "source_host: its default names a host outside your scope" in refused.value.message
    assert "mn-portal-1" not in refused.value.message


def test_a_scoped_caller_gets_the_same_answer_for_an_unknown_host_as_for_another_sites(inventory, restore_to_dr):
    operator_gd = user(inventory, "op-gd", "operator", ["province-gd"])
    for name in ("mn-db-1", "no-such-host"):
        with pytest.raises(ScopeRefused, match="is no host in your scope"):
            prepare(restore_to_dr, "dry-run", {"source_host": name, "target_host": "gd-edu-1"}, inventory,
                    operator_gd, confirmed=True)  # fmt: skip
    # The local operator (the CLI) sees every site, but an unknown host is still bad input.
    with pytest.raises(BadInputError, match="unknown host 'no-such-host'") as unknown:
        prepare(restore_to_dr, "dry-run", {"source_host": "no-such-host"}, inventory, LOCAL, confirmed=True)
    assert not isinstance(unknown.value, ScopeRefused)


def test_a_restoring_runbook_needs_backup_restore_for_a_drill_or_a_run_but_not_for_a_dry_run(inventory, restore_to_dr):
    assert restore_to_dr.permissions == ("backup.restore",)
    given = {"source_host": "dr-backup-1", "target_host": "dr-app-1"}
    operator_dr = user(inventory, "op-dr", "operator", ["dr-center"])
    for mode in ("drill", "run"):
        with pytest.raises(ScopeRefused, match="needs the permission"):
            prepare(restore_to_dr, mode, given, inventory, operator_dr, confirmed=True)
    assert prepare(restore_to_dr, "dry-run", given, inventory, operator_dr, confirmed=True).params["dataset"]
    admin_dr = user(inventory, "admin-dr", "admin", ["dr-center"])
    assert prepare(restore_to_dr, "drill", given, inventory, admin_dr, confirmed=True).targets == ["dr-app-1"]
    # A role without runbooks.start starts nothing, not even a dry run.
    oncall = user(inventory, "oncall-dr", "oncall", ["dr-center"])
    with pytest.raises(ScopeRefused, match=r"runbooks\.start"):
        prepare(restore_to_dr, "dry-run", given, inventory, oncall, confirmed=True)


def test_every_host_of_a_hosts_parameter_and_every_target_is_checked(inventory):
    book = Runbook(
        name="many",
        title="Many",
        title_zh="多",
        description="d",
        severity="low",
        rto_objective=5,
        params=[Param("hosts", "hosts"), Param("extra", "str", default="x")],
        targets=lambda p: [*p["hosts"], "mn-db-1"] if p["extra"] == "national" else p["hosts"],
        steps=[Step("s", lambda ctx: None)],
    )
    operator_gd = user(inventory, "op-gd", "operator", ["province-gd"])
    ok = prepare(book, "dry-run", {"hosts": "gd-edu-1, gd-school-1"}, inventory, operator_gd, confirmed=True)
    assert ok.params["hosts"] == ["gd-edu-1", "gd-school-1"] and ok.site == "province-gd"
    with pytest.raises(ScopeRefused, match="'mn-oa-1' is no host"):
        prepare(book, "dry-run", {"hosts": "gd-edu-1,mn-oa-1"}, inventory, operator_gd, confirmed=True)
    with pytest.raises(ScopeRefused, match="a target"):
        prepare(book, "dry-run", {"hosts": "gd-edu-1", "extra": "national"}, inventory, operator_gd, confirmed=True)
    with pytest.raises(BadInputError, match="at least one host"):
        prepare(book, "dry-run", {"hosts": " , "}, inventory, operator_gd, confirmed=True)


def test_an_address_parameter_takes_only_an_address_or_network(inventory):
    isolate = get_runbook(REPO / "runbooks", "isolate-host")
    assert isolate.param("secret_prefix") is None  # derived from the host, never given
    assert isolate.param("management_source").type == "address"
    for hostile in ("10.0.0.1 tcp dport 1-65535 accept", "10.0.0.1\naccept", "$(reboot)", "; rm -rf /", "../.."):
        with pytest.raises(BadInputError, match="management_source"):
            prepare(isolate, "dry-run", {"host": "mn-db-1", "management_source": hostile}, inventory, LOCAL,
                    confirmed=True)  # fmt: skip
    resolved = prepare(isolate, "dry-run", {"host": "mn-db-1", "management_source": "10.198.0.1/24"}, inventory,
                       LOCAL, confirmed=True)  # fmt: skip
    assert resolved.params["management_source"] == "10.198.0.0/24"


def test_a_dataset_parameter_belongs_to_a_host_parameter(inventory, restore_to_dr):
    assert restore_to_dr.param("dataset").of == "source_host"
    with pytest.raises(RunbookDefinitionError, match="of="):
        Param("dataset", "dataset")
    with pytest.raises(RunbookDefinitionError, match="no host parameter"):
        Runbook(name="x", title="x", title_zh="x", description="x", severity="low", rto_objective=1,
                params=[Param("dataset", "dataset", of="nowhere")], steps=[Step("s", lambda ctx: None)])  # fmt: skip
    with pytest.raises(BadInputError, match="not a dataset name"):
        prepare(restore_to_dr, "dry-run", {"dataset": "../etc"}, inventory, LOCAL, confirmed=True)


def test_an_alert_may_name_only_hosts_of_the_alerting_hosts_site_and_below(inventory, restore_to_dr):
    on_province = caller_for_alert("alert:X", "gd-edu-1", inventory)
    assert prepare(restore_to_dr, "drill", {"source_host": "gd-school-1", "target_host": "gd-edu-1"}, inventory,
                   on_province, confirmed=True).targets == ["gd-edu-1"]  # fmt: skip
    with pytest.raises(ScopeRefused):
        prepare(restore_to_dr, "drill", {"target_host": "gd-edu-1"}, inventory, on_province, confirmed=True)
    nowhere = caller_for_alert("alert:X", None, inventory)
    with pytest.raises(ScopeRefused):
        prepare(restore_to_dr, "dry-run", {"source_host": "gd-edu-1", "target_host": "gd-edu-1"}, inventory,
                nowhere, confirmed=True)  # fmt: skip
    national = caller_for_alert("alert:X", "mn-portal-1", inventory)
    assert prepare(restore_to_dr, "drill", {}, inventory, national, confirmed=True).site == "ministry"


def test_a_refused_start_creates_no_run_and_an_allowed_one_records_its_hosts_and_site(config, store, inventory,
                                                                                     restore_to_dr):  # fmt: skip
    from controlplane.runbook.adapters import Adapters, AuditNotifier, UnavailableBackup
    from tests.unit.runbook.test_engine import FakeHosts, NoPlaybooks

    adapters = Adapters(hosts=FakeHosts(), backup=UnavailableBackup("unit tests"),
                        notifier=AuditNotifier(store, "t"), playbooks=NoPlaybooks())  # fmt: skip
    operator_gd = user(inventory, "op-gd", "operator", ["province-gd"])
    with pytest.raises(ScopeRefused):
        engine.execute(config, store, inventory, restore_to_dr, mode="dry-run", actor="op-gd",
                       params={"source_host": "mn-portal-1", "target_host": "gd-edu-1"}, adapters=adapters,
                       caller=operator_gd)  # fmt: skip
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0
    result = engine.execute(config, store, inventory, restore_to_dr, mode="dry-run", actor="op-gd",
                            params={"source_host": "gd-school-1", "target_host": "gd-edu-1"}, adapters=adapters,
                            caller=operator_gd)  # fmt: skip
    with store.session() as session:
        run = session.get(Run, result.run_id)
        assert run.site == "province-gd" and run.params["hosts"] == ["gd-edu-1", "gd-school-1"]


def test_an_old_run_without_recorded_hosts_names_every_host_its_parameters_mention(inventory):
    old = {"targets": ["dr-app-1"], "params": {"source_host": "gd-edu-1", "snapshot": "latest", "n": 3}}
    assert hosts_of_run(old, inventory) == ["dr-app-1", "gd-edu-1"]
    assert hosts_of_run({"targets": [], "params": {"hosts": ["mn-db-1", "x"]}}, inventory) == ["mn-db-1"]
