"""The engine's checks before ansible touches a host: pattern, group vars, syntax, the run's site.

These use the real inventory and the real ``ansible-playbook --syntax-check``
(no lab: a syntax check connects to nothing). A broken playbook is a copy of
the repository's playbooks with one file damaged in a temporary folder.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from controlplane.automation import engine
from controlplane.automation.engine import PlaybookRequest
from controlplane.automation.models import HostLock
from controlplane.errors import BadInputError
from controlplane.store.models import Run, RunStatus
from tests.conftest import REPO


@pytest.fixture(scope="module")
def inventory() -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture
def broken(config: Any, tmp_path: Path) -> Any:
    """The config with a copy of the playbooks whose harden.yml has a task with an unknown keyword."""
    folder = tmp_path / "playbooks"
    shutil.copytree(REPO / "playbooks", folder)
    (folder / "harden.yml").write_text(
        "- hosts: all\n  tasks:\n    - name: broken on purpose\n      not_a_module_or_keyword: {}\n", encoding="utf-8"
    )
    return dataclasses.replace(config, playbooks=folder)


def runs_count(store: Any) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Run)) or 0)


def test_common_site_is_the_lowest_site_holding_every_host(inventory) -> None:
    assert engine.common_site(inventory, {"school-gd-1"}) == "school-gd-1"
    assert engine.common_site(inventory, {"school-gd-1", "province-gd"}) == "province-gd"
    assert engine.common_site(inventory, {"school-gd-1", "dr-center"}) == "ministry"
    assert engine.common_site(inventory, set()) is None


def test_an_unknown_pattern_is_bad_input_naming_it(config, inventory) -> None:
    with pytest.raises(BadInputError, match="host pattern 'nowhere-\\*' matches no host"):
        engine.prepare(config, PlaybookRequest(kind="harden", limit="nowhere-*"), inventory)


def test_a_missing_group_var_is_bad_input_naming_host_and_var(config, inventory, monkeypatch) -> None:
    monkeypatch.setitem(engine.REQUIRED_VARS, "*", ("mgmt_network", "egov_not_defined_anywhere"))
    with pytest.raises(BadInputError) as caught:
        engine.prepare(config, PlaybookRequest(kind="provision", limit="gd-*"), inventory)
    assert "gd-edu-1: missing group var egov_not_defined_anywhere" in caught.value.message
    assert "gd-school-1: missing group var egov_not_defined_anywhere" in caught.value.message


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (PlaybookRequest(kind="deploy"), "unknown playbook kind 'deploy'"),
        (PlaybookRequest(kind="harden", profile="fast"), "unknown profile 'fast'"),
        (PlaybookRequest(kind="harden", timeout=0), "timeout must be a positive"),
    ],
)
def test_bad_requests_are_refused_before_any_run(config, inventory, request_, needle) -> None:
    with pytest.raises(BadInputError, match=needle):
        engine.prepare(config, request_, inventory)


def test_a_syntax_error_is_bad_input_before_a_run_exists(broken, store) -> None:
    with pytest.raises(BadInputError) as caught:
        engine.run_playbook(broken, store, PlaybookRequest(kind="harden", limit="gd-school-1"))
    assert "does not pass ansible's syntax check" in caught.value.message
    assert "not_a_module_or_keyword" in caught.value.message
    assert runs_count(store) == 0


def test_a_started_run_whose_playbook_fails_the_syntax_check_ends_failed_naming_the_cause(
    broken, store, inventory
) -> None:
    from controlplane.runs import read_output

    request = PlaybookRequest(kind="harden", limit="gd-school-1", actor="t@console", trigger="console")
    hosts = engine.prepare(broken, request, inventory)
    run_id = engine.begin_run(store, request, hosts, site="school-gd-1")
    with store.session() as session:
        assert session.get(HostLock, "gd-school-1").run_id == run_id
    outcome = engine.execute_run(broken, store, request, run_id, hosts)
    assert outcome.status == RunStatus.FAILED and "not_a_module_or_keyword" in outcome.message
    with store.session() as session:
        run = session.get(Run, run_id)
        assert run.status == RunStatus.FAILED and run.site == "school-gd-1"
        assert "syntax check" in run.summary["message"]
        assert any("not_a_module_or_keyword" in line.text for line in read_output(session, run_id))
        assert session.get(HostLock, "gd-school-1") is None  # the host is free again


def test_only_harden_runs_its_hosts_at_their_own_pace(config, tmp_path: Path) -> None:
    # provision.yml's clients read the backup centers' facts in the same play: it must stay lock-step.
    harden = engine._settings(config, tmp_path, 3, "tuned", "harden")
    provision = engine._settings(config, tmp_path, 3, "tuned", "provision")
    assert harden.independent_hosts is True and provision.independent_hosts is False
