"""``egov scan`` and ``egov report compliance`` exit codes and output, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import COMMANDS, main


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands as the integration registers them (kept if already there)."""
    monkeypatch.setitem(COMMANDS, "scan", COMMANDS.get("scan", ("controlplane.cli.compliance", "scan", "Scan")))
    monkeypatch.setitem(COMMANDS, "report", COMMANDS.get("report", ("controlplane.cli.compliance", "report", "Report")))


def egov(config_path: Path, *args: str) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(["--config", str(config_path), *args])
    return int(stopped.value.code or 0)


def test_an_unknown_site_is_bad_input_and_creates_no_run(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert egov(config_path, "scan", "--site", "atlantis") == 2
    assert "unknown site 'atlantis'" in capsys.readouterr().err


def test_a_malformed_waiver_file_stops_the_scan_naming_the_line(config_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    controls = config_path.parent / "controls"
    controls.mkdir()
    (controls / "waivers.yml").write_text("waivers:\n  - control: ssh.permit-root-login\n", encoding="utf-8")
    assert egov(config_path, "scan") == 2
    assert "waivers.yml: line 2" in capsys.readouterr().err


def test_a_report_before_any_scan_exits_1(config_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert egov(config_path, "report", "compliance", "--format", "json") == 1
    assert "run `egov scan` first" in capsys.readouterr().err


def test_the_report_schema_is_printed_on_request(config_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert egov(config_path, "report", "compliance", "--schema") == 0
    assert json.loads(capsys.readouterr().out)["title"] == "EduGov compliance report"
