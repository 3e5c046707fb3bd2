"""``egov lab`` refuses bad input with exit 2 and one line, before touching the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


def egov(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "egov.yml").write_text(
        yaml.safe_dump({"folders": {"inventory": str(REPO / "inventory" / "lab.yml")}, "state": {"dir": "var"}}),
        encoding="utf-8",
    )
    env = {**os.environ, "EGOV_CONFIG": str(folder / "egov.yml")}
    return subprocess.run(
        [sys.executable, "-m", "controlplane", "lab", *args],
        capture_output=True, text=True, env=env, cwd=folder, check=False, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [
        ("fault", "no-such-host", "down"),
        ("fault", "a;rm -rf /", "down"),
        ("fault", "$(reboot)", "isolate"),
        ("fault", "../..", "up"),
        ("fault", "mn-db-1\nx", "up"),
        ("fault", "mn-db-1", "explode"),
        ("fault", "mn-db-1", "up", "--service", "../../bin/sh"),
        ("fault", "mn-db-1", "isolate", "--service", "web"),
        ("ssh", "no-such-host"),
        ("ssh", "a;b", "--", "id"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = egov(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "lab").exists()


def test_help_lists_the_lab_commands(tmp_path: Path) -> None:
    result = egov(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("up", "down", "status", "ssh", "fault"):
        assert command in result.stdout
