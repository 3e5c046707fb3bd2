"""``egov audit verify | anchor | archive`` as a user runs them: messages, exit codes, and what they protect."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import egov, write_config


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Four records: init's, the CA's (``egov init`` makes it: pki.init), and two secrets."""
    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    for name in ("a", "b"):
        assert egov(tmp_path, "secrets", "set", name, stdin="value").returncode == 0
    return tmp_path


def _sql(site: Path, statement: str) -> None:
    with sqlite3.connect(site / "var" / "egov.db") as connection:
        connection.execute(statement)


def test_verify_says_since_when_it_vouches_and_where_the_head_was_anchored(site: Path) -> None:
    anchored = egov(site, "audit", "anchor", "--local-only")
    assert anchored.returncode == 0 and anchored.stdout.startswith("local: record 4 ")
    result = egov(site, "audit", "verify", "--local-only")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok: 4 records, chain intact")
    assert lines[1].startswith("chain keyed since record 1 at ") and "last anchored head seq 4 at " in lines[1]
    assert lines[1].endswith(" on local")


def test_verify_exits_1_when_the_chain_was_emptied(site: Path) -> None:
    _sql(site, "DELETE FROM audit_log")
    _sql(site, "DELETE FROM settings WHERE key = 'audit.head'")
    result = egov(site, "audit", "verify", "--local-only")
    assert result.returncode == 1 and result.stderr.startswith("BROKEN at record 1: record 1 was anchored")


def test_verify_json_names_the_keyed_start_and_the_problem(site: Path) -> None:
    _sql(site, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    result = egov(site, "audit", "verify", "--json", "--local-only")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["bad_seq"] == 2 and data["keyed_since"] == 1
    assert "modified" in data["reason"]


def test_archive_moves_old_records_out_and_verify_still_covers_them(site: Path) -> None:
    made = egov(site, "audit", "archive", "--before", "0")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("archived records 1-4 (4) to ") and "vouched for by record 5" in made.stdout
    listed = json.loads(egov(site, "audit", "list", "--json").stdout)
    assert [record["seq"] for record in listed] == [5]
    result = egov(site, "audit", "verify", "--local-only")
    assert result.returncode == 0 and result.stdout.startswith("ok: 5 records")
    assert "archives verified: audit-000000000001-000000000004.jsonl.gz" in result.stdout


def test_archive_with_nothing_old_enough_changes_nothing(site: Path) -> None:
    result = egov(site, "audit", "archive", "--before", "30")
    assert result.returncode == 0 and result.stdout.strip() == "nothing older than 30 days to archive"
    assert len(json.loads(egov(site, "audit", "list", "--json").stdout)) == 4


def test_archive_refuses_a_chain_that_does_not_verify(site: Path) -> None:
    _sql(site, "UPDATE audit_log SET target = 'edited' WHERE seq = 1")
    result = egov(site, "audit", "archive", "--before", "0")
    assert result.returncode == 1 and "does not verify" in result.stderr and "Traceback" not in result.stderr
    assert len(json.loads(egov(site, "audit", "list", "--json").stdout)) == 4


@pytest.mark.parametrize("command", [("set",), ("delete",)])
def test_the_audit_key_cannot_be_replaced_or_deleted_through_the_cli(site: Path, command: tuple[str, ...]) -> None:
    name = next(n for n in egov(site, "secrets", "list").stdout.split() if n.startswith("audit.chain_key."))
    result = egov(site, "secrets", *command, name, stdin="forged")
    assert result.returncode == 2 and "audit chain's key" in result.stderr
    assert egov(site, "audit", "verify", "--local-only").returncode == 0


def test_verify_names_why_no_backup_center_anchor_was_read(site: Path) -> None:
    result = egov(site, "audit", "verify")
    assert result.returncode == 0
    assert "note: no remote anchor: the control plane has no backup key yet (run `egov backup setup`)" in result.stdout
