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


def test_the_status_table_names_the_data_plane_only_when_there_is_one() -> None:
    import io

    from rich.console import Console

    from controlplane.cli.lab import _print_table

    data = {"bridge": "egov-br0", "bridge_up": True, "gateway": "10.198.0.1", "subnet": "10.198.0.0/24",
            "portal_vip": None, "hosts": [], "key_file": "k", "known_hosts": "h", "zones": []}  # fmt: skip
    flat = io.StringIO()
    _print_table(data, out=Console(file=flat, width=100))
    assert "data plane" not in flat.getvalue()
    zones = [{"zone": f"z{index}", "bridge": f"egov-z{index}", "subnet": "x", "up": index != 3} for index in range(10)]
    zoned = io.StringIO()
    _print_table({**data, "zones": zones}, out=Console(file=zoned, width=100))
    assert "data plane: 10 zones on bridges egov-z0..egov-z9, 9 up (details: --json)" in zoned.getvalue()
