"""Tests of controlplane.doctor and the ``egov doctor`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from controlplane import doctor, tools
from controlplane.cli import egov, main
from controlplane.doctor import ToolSpec

SPECS = {spec.name: spec for spec in doctor.TOOLS}


def make_program(folder: Path, name: str, body: str) -> Path:
    """Write an executable sh program ``folder/name`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder that is the only place find_tool looks."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setattr(tools, "project_tools_bin", lambda: tmp_path / "no-project-tools")
    monkeypatch.setattr(tools, "venv_bin", lambda: tmp_path / "no-venv")
    monkeypatch.setattr(tools, "SYSTEM_SBIN_DIRS", ())
    monkeypatch.setenv("PATH", str(folder))
    return folder


# --- version extraction from each tool's real output (pure) ------------------------


@pytest.mark.parametrize(
    ("name", "output", "expected"),
    [
        ("restic", "restic 0.18.0 compiled with go1.24.4 on linux/amd64\n", "0.18.0"),
        ("ssh", "\nOpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026\n", "9.2p1"),
        ("sshd", "\nOpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026\n", "9.2"),
        ("ip", "ip utility, iproute2-6.1.0, libbpf 1.1.2\n", "6.1.0"),
        ("arping", "arping from iputils 20221126\nlibcap: yes, IDN: yes\n", "20221126"),
        ("nft", "nftables v1.0.6 (Lester Gooch #5)\n", "1.0.6"),
        ("nsenter", "nsenter from util-linux 2.38.1\n", "2.38.1"),
        ("unshare", "unshare from util-linux 2.38.1\n", "2.38.1"),
        ("ansible-playbook", "ansible-playbook [core 2.17.14]\n  config file = None\n", "2.17.14"),
        (
            "chromium",
            "Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)\n"
            "/usr/bin/chromium: 9: [: 25276502016: unexpected operator\n",
            "156.0.8078.108",
        ),
        ("psql", "psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", "15.18"),
        ("initdb", "initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", "15.18"),
        ("promtool", "promtool, version 2.42.0+ds (branch: debian/sid)\n", "2.42.0"),
        ("lynis", "3.0.8\n", "3.0.8"),
        ("restic", "Fatal: something broke\n", ""),
        ("nft", "no version here\n", ""),
    ],
)
def test_extract_version(name: str, output: str, expected: str) -> None:
    assert doctor.extract_version(SPECS[name], output) == expected


def test_every_tool_the_issue_names_is_checked() -> None:
    assert set(SPECS) == {
        "restic", "ssh", "sshd", "ssh-keygen", "ip", "arping", "nft", "nsenter", "unshare",
        "ansible-playbook", "chromium", "psql", "initdb", "promtool", "lynis",
    }  # fmt: skip
    required = {name for name, spec in SPECS.items() if spec.required}
    assert required == {"restic", "ssh", "sshd", "ssh-keygen", "ip", "nsenter", "unshare"}
    assert SPECS["restic"].minimum == (0, 17)


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("0.18.0", ""),
        ("0.17.0", ""),
        ("0.14.0", "version 0.14.0 is older than 0.17"),
        ("", "version not recognised (need >= 0.17)"),
    ],
)
def test_judge_version_against_the_restic_minimum(version: str, reason: str) -> None:
    assert doctor.judge_version(SPECS["restic"], version) == reason


def test_judge_version_without_a_minimum_accepts_anything() -> None:
    assert doctor.judge_version(SPECS["nft"], "") == ""


def test_postgres_bin_dirs_newest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for major in ("9", "15", "13"):
        (tmp_path / major / "bin").mkdir(parents=True)
    monkeypatch.setattr(doctor, "POSTGRES_BIN_GLOB", str(tmp_path / "*" / "bin"))
    assert doctor.postgres_bin_dirs() == tuple(
        str(tmp_path / major / "bin") for major in ("15", "13", "9")
    )


# --- check_tool against stand-in programs ---------------------------------------------


def test_check_tool_reports_a_missing_tool_with_its_package(bin_dir: Path) -> None:
    check = doctor.check_tool(SPECS["nft"])
    assert check.path is None
    assert not check.usable
    assert check.reason == "not found (install: nftables)"


def test_check_tool_accepts_a_new_enough_restic(bin_dir: Path) -> None:
    path = make_program(bin_dir, "restic", 'echo "restic 0.18.0 compiled with go1.24.4"')
    check = doctor.check_tool(SPECS["restic"])
    assert (check.path, check.version, check.usable) == (str(path), "0.18.0", True)
    assert check.reason == ""
    assert check.minimum == "0.17"


def test_check_tool_refuses_an_old_restic(bin_dir: Path) -> None:
    make_program(bin_dir, "restic", 'echo "restic 0.14.0 compiled with go1.19.8"')
    check = doctor.check_tool(SPECS["restic"])
    assert not check.usable
    assert check.version == "0.14.0"
    assert "older than 0.17" in check.reason


def test_check_tool_reports_a_failing_version_command(bin_dir: Path) -> None:
    make_program(bin_dir, "nft", 'echo "nft: cannot open libnftables" >&2; exit 127')
    check = doctor.check_tool(SPECS["nft"])
    assert not check.usable
    assert "exit 127" in check.reason
    assert "cannot open libnftables" in check.reason


def test_check_tool_reads_version_printed_on_stderr(bin_dir: Path) -> None:
    make_program(bin_dir, "ssh", 'echo "OpenSSH_9.2p1 Debian-2, OpenSSL 3.0" >&2')
    check = doctor.check_tool(SPECS["ssh"])
    assert (check.version, check.usable) == ("9.2p1", True)


def test_check_tool_without_version_option_only_needs_the_program(bin_dir: Path) -> None:
    make_program(bin_dir, "ssh-keygen", "exit 1")
    check = doctor.check_tool(SPECS["ssh-keygen"])
    assert (check.usable, check.version) == (True, "")


def test_check_tool_looks_in_extra_dirs(bin_dir: Path, tmp_path: Path) -> None:
    pg = tmp_path / "pg" / "bin"
    make_program(pg, "initdb", 'echo "initdb (PostgreSQL) 15.18"')
    spec = ToolSpec(name="initdb", package="postgresql", purpose="t", extra_dirs=lambda: [str(pg)])
    check = doctor.check_tool(spec)
    assert (check.path, check.version, check.usable) == (str(pg / "initdb"), "15.18", True)


def test_run_checks_keeps_order_and_judges_required_only(bin_dir: Path) -> None:
    make_program(bin_dir, "present", 'echo "present 1.2.3"')
    specs = [
        ToolSpec(name="present", package="p", purpose="t", required=True),
        ToolSpec(name="absent-optional", package="a", purpose="t"),
    ]
    checks = doctor.run_checks(specs)
    assert [check.name for check in checks] == ["present", "absent-optional"]
    assert doctor.all_required_usable(checks)
    absent = ToolSpec(name="absent", package="a", purpose="t", required=True)
    checks.append(doctor.check_tool(absent))
    assert not doctor.all_required_usable(checks)
    assert doctor.report(checks)["ok"] is False


# --- the command ------------------------------------------------------------------------


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no egov.yml: doctor must not need one."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("EGOV_CONFIG", raising=False)
    return workdir


def fake_specs(bin_dir: Path, monkeypatch: pytest.MonkeyPatch, *, with_required: bool) -> None:
    make_program(bin_dir, "needed", 'echo "needed 2.0"')
    if not with_required:
        (bin_dir / "needed").unlink()
    specs = (
        ToolSpec(name="needed", package="needed-pkg", purpose="the core", required=True),
        ToolSpec(name="nice", package="nice-pkg", purpose="a feature"),
    )
    monkeypatch.setattr(doctor, "TOOLS", specs)


def test_doctor_json_exit_0_when_required_tools_usable(
    bin_dir: Path, no_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_specs(bin_dir, monkeypatch, with_required=True)
    result = CliRunner().invoke(egov, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True
    needed, nice = data["tools"]
    assert needed == {
        "name": "needed",
        "path": str(bin_dir / "needed"),
        "version": "2.0",
        "usable": True,
        "reason": "",
        "required": True,
        "purpose": "the core",
        "package": "needed-pkg",
        "minimum": "",
    }
    assert (nice["usable"], nice["reason"]) == (False, "not found (install: nice-pkg)")


def test_doctor_exits_1_when_a_required_tool_is_missing(
    bin_dir: Path,
    no_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_specs(bin_dir, monkeypatch, with_required=False)
    with pytest.raises(SystemExit) as caught:
        main(["doctor", "--json"])
    assert caught.value.code == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_doctor_table_names_each_tool_and_the_verdict(
    bin_dir: Path, no_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_specs(bin_dir, monkeypatch, with_required=False)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(egov, ["doctor"])
    assert result.exit_code == 1
    assert "needed" in result.output
    assert "not found (install: nice-pkg)" in result.output
    assert "required tools not usable: needed" in result.output


def test_doctor_on_this_machine_reports_every_tool(no_config: Path) -> None:
    # The real tools, whatever this machine has: the report is well formed.
    result = CliRunner().invoke(egov, ["doctor", "--json"])
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.output)
    assert [tool["name"] for tool in data["tools"]] == [spec.name for spec in doctor.TOOLS]
    assert data["ok"] is all(tool["usable"] for tool in data["tools"] if tool["required"])
