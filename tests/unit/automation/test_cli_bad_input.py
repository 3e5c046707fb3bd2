"""``egov provision|harden`` with bad input: exit 2, one message naming the cause, no run, no traceback.

Real processes: the ``egov`` command, ansible-core's inventory and
``ansible-playbook --syntax-check``. Nothing connects to a host: every case
is refused before ansible starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, write_config
from tests.conftest import egov as run_egov_in


def folders(**changes: str) -> dict[str, str]:
    """The repository's folders, with some replaced."""
    base = {
        "inventory": str(REPO / "inventory" / "lab.yml"),
        "playbooks": str(REPO / "playbooks"),
        "backup": str(REPO / "backup"),
        "monitoring": str(REPO / "monitoring"),
        "runbooks": str(REPO / "runbooks"),
    }
    return {**base, **changes}


def egov(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_egov_in(folder, *args, timeout=180)


def site(folder: Path, **changes: str) -> Path:
    write_config(folder, folders=folders(**changes))
    assert egov(folder, "init").returncode == 0
    return folder


def no_runs(folder: Path) -> bool:
    """True when the site's store holds no run (``egov runs list --json`` prints ``[]``)."""
    listed = egov(folder, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout) == []


@pytest.mark.parametrize("kind", ["provision", "harden"])
def test_an_unknown_host_pattern_is_exit_2_naming_it(tmp_path: Path, kind: str) -> None:
    folder = site(tmp_path)
    result = egov(folder, kind, "--limit", "no-such-host", "--check")
    assert result.returncode == 2
    assert "host pattern 'no-such-host' matches no host" in result.stderr
    assert "Traceback" not in result.stderr
    assert no_runs(folder)


def test_a_playbook_syntax_error_is_exit_2_naming_the_file_and_the_error(tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(REPO / "playbooks", playbooks)
    (playbooks / "harden.yml").write_text("- hosts: all\n  tasks:\n    - nme: typo\n      debug: {}\n")
    folder = site(tmp_path, playbooks=str(playbooks))
    result = egov(folder, "harden", "--limit", "gd-school-1")
    assert result.returncode == 2, result.stderr
    assert "does not pass ansible's syntax check" in result.stderr and "harden.yml" in result.stderr
    assert "nme" in result.stderr  # ansible's own message names the bad keyword
    assert no_runs(folder)


def test_a_missing_group_var_is_exit_2_naming_host_and_variable(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    text = (REPO / "inventory" / "lab.yml").read_text(encoding="utf-8")
    assert "    mgmt_network: 10.198.0.0/24\n" in text
    inventory.write_text(text.replace("    mgmt_network: 10.198.0.0/24\n", ""), encoding="utf-8")
    folder = site(tmp_path, inventory=str(inventory))
    result = egov(folder, "provision", "--limit", "gd-school-1")
    assert result.returncode == 2, result.stderr
    assert "gd-school-1: missing group var mgmt_network" in result.stderr
    assert no_runs(folder)


def test_certify_only_takes_no_playbook_options_and_no_unknown_pattern(tmp_path: Path) -> None:
    folder = site(tmp_path)
    checked = egov(folder, "provision", "--certify-only", "--check")
    assert checked.returncode == 2 and "--certify-only takes --limit and --json only" in checked.stderr
    unknown = egov(folder, "provision", "--certify-only", "--limit", "no-such-host")
    assert unknown.returncode == 2 and "matches no host" in unknown.stderr
    assert "Traceback" not in checked.stderr + unknown.stderr
