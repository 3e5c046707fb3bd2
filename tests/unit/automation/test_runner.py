"""Playbooks get the program paths the composition root provided, and the engine imports no other engine for them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane import providers
from controlplane.automation.playbook import PlaybookRequest
from controlplane.automation.runner import extra_vars
from tests.conftest import REPO


@pytest.fixture
def nothing_provided() -> Iterator[None]:
    providers.provide()
    yield
    from controlplane.cli.wiring import wire

    wire()


def test_a_playbook_gets_the_program_paths_the_composition_root_provided(config: Any, nothing_provided) -> None:
    path = REPO / "controlplane" / "backup" / "center_setup.py"
    providers.provide(playbook_programs=lambda: {"egov_center_setup_program": str(path.resolve())})
    values = extra_vars(config, PlaybookRequest(kind="provision"), 7)
    assert values["egov_center_setup_program"] == str((REPO / "controlplane/backup/center_setup.py").resolve())
    assert values["egov_run_id"] == 7


def test_a_program_nobody_provided_is_left_to_the_roles_default(config: Any, nothing_provided) -> None:
    assert "egov_center_setup_program" not in extra_vars(config, PlaybookRequest(kind="provision"), 7)


def test_the_egov_command_group_provides_the_backup_center_set_up_program(
    config: Any, nothing_provided, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from controlplane.cli import egov

    result = CliRunner().invoke(egov, ["--config", str(config.source), "runs", "list", "--json"])
    assert result.exit_code == 0, result.output
    provided = providers.playbook_variables()["egov_center_setup_program"]
    assert Path(provided).name == "center_setup.py" and Path(provided).is_file()


def test_the_automation_engine_imports_no_other_engine() -> None:
    engines = ("backup", "compliance", "monitoring", "runbook", "recovery", "lab", "web", "cli")
    for path in sorted((REPO / "controlplane" / "automation").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not any(name.startswith(f"controlplane.{other}") for other in engines), (path.name, name)
