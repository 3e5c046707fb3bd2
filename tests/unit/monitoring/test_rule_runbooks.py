"""A rule's runbook is checked against the catalog the caller hands in; the monitoring engine loads no runbook file."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlplane.errors import ConfigError
from controlplane.monitoring.spec_loader import load_monitoring
from tests.conftest import REPO
from tests.unit.monitoring.helpers import write_monitoring

RULE = {
    "alert": "PortalNodeDown",
    "probe": "ssh",
    "severity": "critical",
    "runbook": {"name": "failover-portal", "auto": "run", "params": {"primary": "{host}", "standby": "x"}},
}


@dataclass
class FakeParam:
    name: str


@dataclass
class FakeRunbook:
    params: list[FakeParam]
    approvals_required: int = 1


@dataclass
class FakeLoaded:
    name: str
    runbook: FakeRunbook | None = None
    error: str | None = None


@dataclass
class FakeCatalog:
    folder: Path
    runbooks: list[FakeLoaded] = field(default_factory=list)
    loads: int = 0

    def load(self) -> list[FakeLoaded]:
        self.loads += 1
        return self.runbooks


def test_rules_are_checked_against_the_runbooks_the_catalog_returns(tmp_path: Path) -> None:
    catalog = FakeCatalog(tmp_path / "rb", [FakeLoaded("failover-portal", FakeRunbook([FakeParam("primary")], 2))])
    with pytest.raises(ConfigError) as caught:
        load_monitoring(write_monitoring(tmp_path / "m", rules={"rules": [RULE]}), None, runbooks=catalog)
    text = str(caught.value)
    assert "rules[0].runbook.params.standby: runbook failover-portal has no parameter 'standby'" in text
    assert "rules[0].runbook.auto: runbook failover-portal needs a second approver" in text


def test_an_unknown_or_broken_runbook_is_named_with_the_catalogs_folder(tmp_path: Path) -> None:
    catalog = FakeCatalog(tmp_path / "rb", [FakeLoaded("isolate-host", error="syntax error (line 3): bad")])
    other = {**RULE, "alert": "Other", "runbook": {"name": "isolate-host"}}
    with pytest.raises(ConfigError) as caught:
        load_monitoring(write_monitoring(tmp_path / "m", rules={"rules": [RULE, other]}), None, runbooks=catalog)
    text = str(caught.value)
    assert f"unknown runbook 'failover-portal' (runbooks in {tmp_path / 'rb'}: isolate-host)" in text
    assert "runbook 'isolate-host' does not load: syntax error (line 3): bad" in text


def test_the_catalog_is_not_loaded_when_no_rule_names_a_runbook(tmp_path: Path) -> None:
    catalog = FakeCatalog(tmp_path / "rb")
    load_monitoring(write_monitoring(tmp_path / "m"), None, runbooks=catalog)
    assert catalog.loads == 0


def test_the_monitoring_spec_modules_import_nothing_of_the_runbook_engine() -> None:
    for name in ("spec.py", "spec_loader.py", "rule_runbooks.py"):
        tree = ast.parse((REPO / "controlplane" / "monitoring" / name).read_text(encoding="utf-8"))
        modules = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [module for module in modules if module.startswith("controlplane.runbook")], name
