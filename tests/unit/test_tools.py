"""Tests of controlplane.tools and of the set-up script's pure shell functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane import tools
from controlplane.errors import EgovError

REPO = Path(__file__).resolve().parents[2]
SETUP_SH = REPO / "scripts" / "setup.sh"


def make_program(folder: Path, name: str, body: str = "exit 0", mode: int = 0o755) -> Path:
    """Write a small sh program ``folder/name`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def fake_restic(folder: Path, version: str) -> Path:
    """Write a stand-in restic that answers ``restic version`` like the real one."""
    return make_program(
        folder, "restic", f'echo "restic {version} compiled with go1.24.4 on linux/amd64"'
    )


@pytest.fixture
def search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point find_tool's search at empty folders: project tools, venv bin, PATH."""
    dirs = {name: tmp_path / name for name in ("project", "venv", "path", "extra")}
    for folder in dirs.values():
        folder.mkdir()
    monkeypatch.setattr(tools, "project_tools_bin", lambda: dirs["project"])
    monkeypatch.setattr(tools, "venv_bin", lambda: dirs["venv"])
    monkeypatch.setattr(tools, "SYSTEM_SBIN_DIRS", ())
    monkeypatch.setenv("PATH", str(dirs["path"]))
    return dirs


# --- version parsing (pure) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("restic 0.18.0 compiled with go1.24.4 on linux/amd64", (0, 18, 0)),
        ("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026", (9, 2)),
        ("ip utility, iproute2-6.1.0, libbpf 1.1.2", (6, 1, 0)),
        ("nftables v1.0.6 (Lester Gooch #5)", (1, 0, 6)),
        ("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", (15, 18)),
        ("Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)", (156, 0, 8078, 108)),
        ("3.0.8\n", (3, 0, 8)),
        ("built with go1.24.4 only", None),
        ("arping from iputils 20221126", None),
        ("", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, ...] | None) -> None:
    assert tools.parse_version(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("restic 0.18.0 compiled with go1.24.4 on linux/amd64\n", (0, 18, 0)),
        ("restic 0.14.0 compiled with go1.19.8 on linux/amd64", (0, 14, 0)),
        ("restic 0.17.3-dev (compiled manually) compiled with go1.23", (0, 17, 3)),
        ("Fatal: unable to open config file\n", None),
        ("not-restic 1.2.3", None),
        ("", None),
    ],
)
def test_parse_restic_version(text: str, expected: tuple[int, ...] | None) -> None:
    assert tools.parse_restic_version(text) == expected


@pytest.mark.parametrize(
    ("version", "minimum", "expected"),
    [
        ((0, 17), (0, 17), True),
        ((0, 17, 0), (0, 17), True),
        ((0, 17), (0, 17, 0), True),
        ((0, 18, 0), (0, 17), True),
        ((1, 0), (0, 17), True),
        ((0, 16, 9), (0, 17), False),
        ((0, 14, 1), (0, 17), False),
    ],
)
def test_version_at_least(
    version: tuple[int, ...], minimum: tuple[int, ...], expected: bool
) -> None:
    assert tools.version_at_least(version, minimum) is expected


def test_format_version() -> None:
    assert tools.format_version((0, 18, 0)) == "0.18.0"
    assert tools.format_version(None) == ""


# --- find_tool ------------------------------------------------------------------


def test_find_tool_prefers_project_then_venv_then_path(search: dict[str, Path]) -> None:
    on_path = make_program(search["path"], "thing")
    assert tools.find_tool("thing") == str(on_path)
    in_venv = make_program(search["venv"], "thing")
    assert tools.find_tool("thing") == str(in_venv)
    in_project = make_program(search["project"], "thing")
    assert tools.find_tool("thing") == str(in_project)


def test_find_tool_skips_files_that_are_not_executable(search: dict[str, Path]) -> None:
    make_program(search["project"], "thing", mode=0o644)
    on_path = make_program(search["path"], "thing")
    assert tools.find_tool("thing") == str(on_path)


def test_find_tool_tries_extra_dirs_last(search: dict[str, Path]) -> None:
    extra = make_program(search["extra"], "initdb")
    assert tools.find_tool("initdb") is None
    assert tools.find_tool("initdb", [search["extra"]]) == str(extra)
    on_path = make_program(search["path"], "initdb")
    assert tools.find_tool("initdb", [search["extra"]]) == str(on_path)


def test_find_tool_falls_back_to_sbin_dirs(
    search: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A non-root user's PATH on Debian lacks /usr/sbin, where ip and sshd live.
    sbin = search["extra"]
    monkeypatch.setattr(tools, "SYSTEM_SBIN_DIRS", (str(sbin),))
    ip = make_program(sbin, "ip")
    assert tools.find_tool("ip") == str(ip)


@pytest.mark.parametrize("name", ["", "no-such-tool-here", "bin/restic", "/usr/bin/env"])
def test_find_tool_returns_none_for_missing_or_path_like_names(
    search: dict[str, Path], name: str
) -> None:
    assert tools.find_tool(name) is None


def test_venv_bin_is_the_running_pythons_folder() -> None:
    assert tools.venv_bin() == Path(sys.executable).parent


# --- restic_path ----------------------------------------------------------------


def test_restic_path_returns_the_project_restic(search: dict[str, Path]) -> None:
    fake_restic(search["path"], "0.14.0")
    project = fake_restic(search["project"], "0.18.0")
    assert tools.restic_path() == str(project)
    assert tools.restic_version(str(project)) == (0, 18, 0)


def test_restic_path_refuses_an_old_restic(search: dict[str, Path]) -> None:
    old = fake_restic(search["path"], "0.14.0")
    with pytest.raises(EgovError) as caught:
        tools.restic_path()
    message = caught.value.message
    assert str(old) in message
    assert "0.14.0" in message
    assert ">= 0.17" in message


def test_restic_path_names_the_fix_when_missing(search: dict[str, Path]) -> None:
    with pytest.raises(EgovError, match=r"restic not found.*make setup"):
        tools.restic_path()


def test_restic_path_refuses_a_restic_that_reports_no_version(search: dict[str, Path]) -> None:
    make_program(search["project"], "restic", 'echo "Fatal: broken" >&2; exit 1')
    with pytest.raises(EgovError, match="did not report a version"):
        tools.restic_path()


def test_restic_version_is_asked_again_when_the_binary_changes(search: dict[str, Path]) -> None:
    path = fake_restic(search["project"], "0.14.0")
    assert tools.restic_version(str(path)) == (0, 14, 0)
    fake_restic(search["project"], "0.18.0")
    later = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))
    assert tools.restic_version(str(path)) == (0, 18, 0)


def test_restic_version_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert tools.restic_version(str(tmp_path / "restic")) is None


# --- scripts/setup.sh functions (run in bash against sample files) -----------------


def setup_function(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one function of scripts/setup.sh (sourced, so main does not run)."""
    return subprocess.run(
        # $0 is not the script, so its `main` guard keeps main from running.
        ["bash", "-c", f'source "$1" && shift && {name} "$@"', "setup-test", str(SETUP_SH), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# Host names in these samples are placeholders on purpose: no package server's
# name is written in this project.
DEB822_SECURITY_FIRST = """\
Types: deb
URIs: http://archive.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://archive.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

DEB822_THIRD_PARTY = """\
Types: deb
URIs: https://vendor.example/node_20.x
Suites: nodistro
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
"""


def write_sources(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_debian_mirror_reads_deb822_and_skips_security(tmp_path: Path) -> None:
    parts = write_sources(tmp_path / "d", {"debian.sources": DEB822_SECURITY_FIRST})
    result = setup_function("debian_mirror", str(parts), str(tmp_path / "none"), "bookworm")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "http://archive.example/debian\n"


def test_debian_mirror_skips_third_party_and_disabled_stanzas(tmp_path: Path) -> None:
    parts = write_sources(
        tmp_path / "d",
        {
            "a-vendor.sources": DEB822_THIRD_PARTY,
            "debian.sources": DEB822_SECURITY_FIRST,
            "ignored.sources.disabled": "Types: deb\nURIs: http://x.example/\nSuites: bookworm\n",
        },
    )
    result = setup_function("debian_mirror", str(parts), str(tmp_path / "none"), "bookworm")
    assert result.stdout == "http://archive.example/debian\n"


def test_debian_mirror_handles_continuation_lines(tmp_path: Path) -> None:
    text = "Types: deb-src deb\nURIs:\n http://one.example/debian\nSuites: bookworm\n"
    parts = write_sources(tmp_path / "d", {"debian.sources": text})
    result = setup_function("debian_mirror", str(parts), str(tmp_path / "none"), "bookworm")
    assert result.stdout == "http://one.example/debian\n"


def test_debian_mirror_reads_one_line_sources_list(tmp_path: Path) -> None:
    sources_list = tmp_path / "sources.list"
    sources_list.write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://archive.example/debian-security bookworm-security main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://archive.example/debian "
        "bookworm main contrib\n"
    )
    result = setup_function("debian_mirror", str(tmp_path / "empty"), str(sources_list), "bookworm")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "http://archive.example/debian\n"


def test_debian_mirror_prefers_deb822_over_sources_list(tmp_path: Path) -> None:
    parts = write_sources(tmp_path / "d", {"debian.sources": DEB822_SECURITY_FIRST})
    sources_list = tmp_path / "sources.list"
    sources_list.write_text("deb http://other.example/debian bookworm main\n")
    result = setup_function("debian_mirror", str(parts), str(sources_list), "bookworm")
    assert result.stdout == "http://archive.example/debian\n"


def test_debian_mirror_fails_when_nothing_matches(tmp_path: Path) -> None:
    parts = write_sources(tmp_path / "d", {"vendor.sources": DEB822_THIRD_PARTY})
    sources_list = tmp_path / "sources.list"
    sources_list.write_text("deb http://x.example/debian-security bookworm-security main\n")
    result = setup_function("debian_mirror", str(parts), str(sources_list), "bookworm")
    assert result.returncode == 1
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [("0.18.0", "0.17", 0), ("0.17", "0.17", 0), ("0.14.1", "0.17", 1), ("", "0.17", 1)],
)
def test_setup_version_ge(have: str, want: str, expected: int) -> None:
    assert setup_function("version_ge", have, want).returncode == expected


def test_setup_restic_version_reads_the_first_line(tmp_path: Path) -> None:
    restic = fake_restic(tmp_path, "0.18.0")
    assert setup_function("restic_version", str(restic)).stdout == "0.18.0\n"
    other = make_program(tmp_path / "o", "restic", 'echo "something else 1.0"')
    assert setup_function("restic_version", str(other)).stdout == ""


def test_setup_holds_services_only_with_its_own_policy_file(tmp_path: Path) -> None:
    # During apt installs, daemons must not start; an existing policy stays as it was.
    policy = tmp_path / "policy-rc.d"
    script = (
        f'POLICY_RC="{policy}"; hold_services; "$POLICY_RC" || echo "held=$?"; '
        'release_services; [[ -e "$POLICY_RC" ]] && echo left || echo removed'
    )
    result = setup_function("eval", script)
    assert result.stdout.splitlines() == ["held=101", "removed"], result.stderr
    policy.write_text("#!/bin/sh\nexit 0\n")
    result = setup_function("eval", f'POLICY_RC="{policy}"; hold_services; release_services')
    assert result.returncode == 0
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
