"""``egov backup ...`` and ``egov report dr`` without a lab: listing, the report, refusals before any work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from controlplane.backup import records
from controlplane.backup.jsonout import BackupSummary
from controlplane.cli import egov
from controlplane.cli.backup import backup, dr_report_command
from controlplane.errors import BadInputError
from controlplane.runs import create_run


@pytest.fixture
def cli(config_path: Path, config: Any, store: Any) -> Any:
    """Invoke ``egov --config ... ARGS`` in-process with the backup and report groups attached."""
    report = click.Group("report")
    report.add_command(dr_report_command)
    commands = dict(egov.commands)
    egov.add_command(backup)
    egov.add_command(report)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(egov, ["--config", str(config_path), *args], catch_exceptions=True)

    yield invoke
    egov.commands.clear()
    egov.commands.update(commands)


def _backed_up(store: Any) -> None:
    with store.session() as session:
        run = create_run(session, kind="backup", target="oa-data@mn-oa-1", actor="t").id
    summary = BackupSummary("ab" * 32, 2, 0, 0, 1, 0, 100, 90, 2, 100, 1.5)
    records.record_backup(
        store,
        run_id=run,
        dataset="oa-data",
        host="mn-oa-1",
        site="ministry",
        status="succeeded",
        message="ok",
        duration=1.0,
        summary=summary,
    )


def test_list_json_gives_one_row_per_dataset_and_host_with_its_verdict(cli: Any, store: Any) -> None:
    _backed_up(store)
    result = cli("backup", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {(row["dataset"], row["host"]): row for row in json.loads(result.output)}
    assert rows[("oa-data", "mn-oa-1")]["last_success"] is not None
    assert rows[("oa-data", "gd-edu-1")]["verdict"] == "never"
    assert ("controlplane-db", "controlplane") in rows


def test_the_dr_report_comes_as_json_and_as_self_contained_html(cli: Any, store: Any, tmp_path: Path) -> None:
    _backed_up(store)
    result = cli("report", "dr", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["report"] == "dr-readiness" and data["ready"] is False and data["totals"]["never"] > 0
    out = tmp_path / "dr.html"
    assert cli("report", "dr", "--format", "html", "--output", str(out)).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "oa-data" in page and "<script" not in page


def test_a_restore_outside_the_allowed_roots_is_refused_before_anything_connects(cli: Any) -> None:
    result = cli("backup", "restore", "oa-data", "--host", "mn-oa-1", "--target", "/etc")
    assert isinstance(result.exception, BadInputError)
    assert "outside the allowed restore roots" in result.exception.message


def test_an_ambiguous_or_unknown_unit_is_bad_input(cli: Any) -> None:
    result = cli("backup", "snapshots", "oa-data")
    assert isinstance(result.exception, BadInputError) and "--host" in result.exception.message
    result = cli("backup", "run", "no-such-dataset")
    assert isinstance(result.exception, BadInputError) and "unknown dataset" in result.exception.message


def test_the_schedule_lists_backup_check_prune_and_drill_jobs(cli: Any) -> None:
    result = cli("backup", "schedule")
    assert result.exit_code == 0, result.output
    assert "backup:backup:oa-data:mn-oa-1" in result.output and "backup:drill:edu-db:mn-db-1" in result.output


def test_the_center_command_shows_switches_and_switches_back_and_copies_pause_while_failed_over(cli: Any) -> None:
    shown = cli("backup", "center")
    assert shown.exit_code == 0 and "active backup center: primary (bc-backup-1)" in shown.output
    switched = cli("backup", "center", "secondary", "--yes")
    assert switched.exit_code == 0 and "now go to the secondary center (was primary)" in switched.output
    listed = cli("backup", "list")
    assert "FAILED OVER" in listed.output and "dr-backup-1" in listed.output
    copied = cli("backup", "copy", "oa-data", "--host", "mn-oa-1")
    assert isinstance(copied.exception, BadInputError)  # the CLI's handler turns it into exit 2
    assert "copies run from the primary only" in copied.exception.message
    back = cli("backup", "center", "primary", "--yes")
    assert back.exit_code == 0 and "(was secondary)" in back.output
    assert "active backup center: primary" in cli("backup", "center").output
    refused = cli("backup", "center", "tertiary")
    assert refused.exit_code == 2


def test_a_copy_of_a_unit_never_backed_up_is_bad_input_before_anything_connects(cli: Any) -> None:
    result = cli("backup", "copy", "oa-data", "--host", "mn-oa-1")
    assert isinstance(result.exception, BadInputError) and "never backed up" in result.exception.message
