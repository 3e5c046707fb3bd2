"""The egov command end to end, as a user runs it: exit codes 0/1/2, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import egov, write_config


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_config(tmp_path)
    result = egov(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_init_creates_key_and_store_and_is_idempotent(site: Path) -> None:
    key = site / "var" / "master.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (site / "var").stat().st_mode & 0o777 == 0o700
    before = key.read_bytes()
    assert egov(site, "init").returncode == 0
    assert key.read_bytes() == before


def test_init_writes_a_sample_config_in_an_empty_folder(tmp_path: Path) -> None:
    result = egov(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "egov.yml").exists()


def test_a_secret_is_read_from_stdin_and_never_printed_by_list(site: Path) -> None:
    assert egov(site, "secrets", "set", "hook.token", stdin="t0ps3cret\n").returncode == 0
    listed = egov(site, "secrets", "list")
    internal = ("audit.chain_key.", "pki.")  # the audit chain key and the CA keys egov init made
    assert [n for n in listed.stdout.splitlines() if not n.startswith(internal)] == ["hook.token"]
    assert "t0ps3cret" not in listed.stdout
    assert egov(site, "secrets", "get", "hook.token").stdout == "t0ps3cret\n"
    records = json.loads(egov(site, "audit", "list", "--json").stdout)
    assert {"secret.set", "secret.read"} <= {r["action"] for r in records}
    assert "t0ps3cret" not in json.dumps(records)
    database = (site / "var" / "egov.db").read_bytes()
    assert b"t0ps3cret" not in database


def test_secrets_set_has_no_value_argument(site: Path) -> None:
    result = egov(site, "secrets", "set", "name", "value-on-argv")
    assert result.returncode == 2


def test_key_rotation_from_the_cli_keeps_values(site: Path) -> None:
    egov(site, "secrets", "set", "a", stdin="alpha")
    result = egov(site, "secrets", "rotate-key")
    assert result.returncode == 0, result.stderr
    assert egov(site, "secrets", "get", "a").stdout == "alpha\n"


def test_a_wrong_key_is_exit_1_with_a_message_and_no_traceback(site: Path, tmp_path_factory) -> None:
    egov(site, "secrets", "set", "a", stdin="alpha")
    other = tmp_path_factory.mktemp("k") / "other.key"
    from controlplane.vault import create_key_file

    create_key_file(other)
    env_result = subprocess.run(
        [sys.executable, "-m", "controlplane", "secrets", "get", "a"],
        capture_output=True,
        text=True,
        env={**os.environ, "EGOV_CONFIG": str(site / "egov.yml"), "EGOV_MASTER_KEY_FILE": str(other)},
        check=False,
    )
    assert env_result.returncode == 1
    assert "not the key of this vault" in env_result.stderr
    assert "Traceback" not in env_result.stderr


@pytest.mark.parametrize("hostile", ["; rm -rf /", "$(reboot)", "../../etc/passwd", "a\nb"])
def test_hostile_names_are_bad_input(site: Path, hostile: str) -> None:
    result = egov(site, "secrets", "get", hostile)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert egov(site, "inventory", "list", "--limit", hostile).returncode == 2
    assert egov(site, "inventory", "list", "--site", hostile).returncode == 2


def test_audit_verify_fails_with_exit_1_after_tampering(site: Path) -> None:
    import sqlite3

    egov(site, "secrets", "set", "a", stdin="alpha")
    assert egov(site, "audit", "verify").returncode == 0
    with sqlite3.connect(site / "var" / "egov.db") as connection:
        connection.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    result = egov(site, "audit", "verify", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["bad_seq"] == 1


def test_inventory_list_json_has_site_and_role_for_every_host(site: Path) -> None:
    hosts = json.loads(egov(site, "inventory", "list", "--json").stdout)
    assert len(hosts) >= 8 and all(h["site"] and h["role"] for h in hosts)
    tree = egov(site, "inventory", "tree")
    assert tree.returncode == 0 and "school-gd-1" in tree.stdout


def test_runs_show_of_an_unknown_run_is_bad_input(site: Path) -> None:
    assert egov(site, "runs", "show", "999").returncode == 2
    assert egov(site, "runs", "list", "--json").stdout.strip() == "[]"


def test_config_check_and_sample(site: Path) -> None:
    assert egov(site, "config", "check").returncode == 0
    assert "listen:" in egov(site, "config", "sample").stdout


def test_unknown_command_is_exit_2(site: Path) -> None:
    assert egov(site, "frobnicate").returncode == 2
