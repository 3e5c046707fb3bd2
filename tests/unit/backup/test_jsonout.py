"""Parsing restic's --json output, on output recorded from restic 0.18 (fixtures/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.backup import jsonout

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def recorded(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_a_backup_summary_gives_files_bytes_duration_and_snapshot_id() -> None:
    progress = jsonout.parse_stream(recorded("backup_paths")["stdout"].splitlines())
    summary = progress.summary
    assert summary is not None
    assert summary.files_new == 2 and summary.files_changed == 0
    assert summary.data_added > 0 and summary.total_bytes_processed == 4122
    assert summary.total_duration > 0
    assert summary.snapshot_id is not None and len(summary.snapshot_id) == 64
    assert progress.errors == [] and progress.exit_error is None


def test_backup_status_lines_give_percent_files_and_bytes() -> None:
    progress = jsonout.parse_stream(recorded("backup_paths")["stdout"].splitlines())
    assert isinstance(progress.status, jsonout.BackupStatus)
    assert progress.status.percent_done == 1.0
    assert progress.status.total_files == 2
    assert progress.status.bytes_done == progress.status.total_bytes == 4122


def test_a_status_line_in_progress_is_parsed_with_its_current_files() -> None:
    line = (
        '{"message_type":"status","seconds_elapsed":3,"percent_done":0.25,"total_files":8,"files_done":2,'
        '"total_bytes":1000,"bytes_done":250,"error_count":1,"current_files":["/srv/a"]}'
    )
    assert jsonout.parse_line(line) == jsonout.BackupStatus(
        percent_done=0.25, files_done=2, total_files=8, bytes_done=250, total_bytes=1000, error_count=1,
        seconds_elapsed=3, current_files=("/srv/a",),
    )  # fmt: skip


def test_an_unchanged_second_backup_adds_no_files() -> None:
    summary = jsonout.parse_stream(recorded("backup_paths_unchanged")["stdout"].splitlines()).summary
    assert summary is not None and summary.files_new == 0 and summary.files_unmodified == 2


def test_a_failing_dump_gives_an_error_and_the_exit_error_and_no_summary() -> None:
    progress = jsonout.parse_stream(recorded("backup_dump_fails")["stderr"].splitlines())
    assert progress.summary is None
    assert progress.errors == [
        jsonout.ResticError(
            message="failed to save /bad.dump: Fatal: command failed: exit status 3",
            during="archival",
            item="/bad.dump",
        )
    ]
    assert progress.exit_error is not None and progress.exit_error.code == 1


def test_an_empty_dump_gives_a_summary_and_an_error_saying_no_data_was_read() -> None:
    fixture = recorded("backup_dump_empty")
    progress = jsonout.parse_stream((fixture["stdout"] + fixture["stderr"]).splitlines())
    assert progress.summary is not None and progress.summary.snapshot_id
    assert "no data read" in progress.errors[0].message
    assert progress.exit_error == jsonout.ExitError(3, "Warning: at least one source file could not be read")


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        ("wrong_password", "wrong password"),
        ("repo_missing", "repository does not exist"),
        ("locked", "already locked"),
        ("backup_missing_path", "do not exist"),
    ],
)
def test_fatal_reasons_are_read_from_exit_error_lines(fixture: str, words: str) -> None:
    messages = jsonout.errors_in(recorded(fixture)["stderr"])
    assert any(words in message for message in messages), messages


def test_snapshots_are_parsed_oldest_first_with_host_tags_and_aware_times() -> None:
    snapshots = jsonout.parse_snapshots(recorded("snapshots")["stdout"])
    # Two of the portal, the good dump; the empty dump's snapshot was forgotten.
    assert len(snapshots) == 3
    assert [s.time for s in snapshots] == sorted(s.time for s in snapshots)
    portal = [s for s in snapshots if s.hostname == "mn-portal-1"]
    assert len(portal) == 2 and portal[0].tags == ("egov", "portal-content")
    assert portal[1].parent == portal[0].id
    assert snapshots[0].time.tzinfo is not None and snapshots[0].short_id == snapshots[0].id[:8]
    dumps = [s for s in snapshots if s.hostname == "mn-db-1"]
    assert [s.paths for s in dumps] == [("/edu.dump",)]


def test_snapshots_of_one_host_and_tag_are_only_that_hosts() -> None:
    snapshots = jsonout.parse_snapshots(recorded("snapshots_host")["stdout"])
    assert {s.hostname for s in snapshots} == {"mn-portal-1"}


def test_forget_output_lists_kept_and_removed_ids_and_ignores_prunes_text() -> None:
    fixture = recorded("forget_prune")
    assert "[" in fixture["stdout"]
    [group] = jsonout.parse_forget(fixture["stdout"])
    assert group.host == "mn-portal-1" and len(group.keep) == 1 and len(group.remove) == 1


def test_a_check_summary_says_whether_the_repository_is_clean() -> None:
    for name in ("check", "check_subset"):
        summary = jsonout.parse_check(recorded(name)["stdout"])
        assert summary.ok and summary.num_errors == 0 and summary.broken_packs == ()
    broken = jsonout.parse_check('{"message_type":"summary","num_errors":2,"broken_packs":["ab12"]}')
    assert not broken.ok and broken.broken_packs == ("ab12",)


def test_a_restore_summary_counts_files_and_bytes_restored() -> None:
    progress = jsonout.parse_stream(recorded("restore_dump")["stdout"].splitlines(), restore=True)
    assert progress.restore_summary == jsonout.RestoreStatus(
        percent_done=1.0, files_restored=1, total_files=1, bytes_restored=10, total_bytes=10, seconds_elapsed=0,
        final=True,
    )  # fmt: skip


def test_stats_are_read_as_numbers() -> None:
    stats = jsonout.parse_stats(recorded("stats")["stdout"])
    assert stats["snapshots_count"] >= 3 and stats["total_size"] > 0


def test_lines_that_are_not_json_messages_are_skipped() -> None:
    for line in ("", "open repository", "{not json", "[1, 2]", '{"message_type":"verbose_status"}', "null"):
        assert jsonout.parse_line(line) is None


def test_output_without_the_expected_document_raises_value_error() -> None:
    with pytest.raises(ValueError):
        jsonout.parse_snapshots("Fatal: wrong password")
    with pytest.raises(ValueError):
        jsonout.parse_check("no errors were found")


def test_restic_times_with_nanoseconds_and_offsets_are_parsed() -> None:
    assert jsonout.parse_time("2026-11-25T15:48:25.164770903Z") == datetime(2026, 11, 25, 15, 48, 25, 164770, UTC)
    assert jsonout.parse_time("2026-11-25T23:48:25.1+08:00") == datetime(2026, 11, 25, 15, 48, 25, 100000, UTC)
    assert jsonout.parse_time("2026-11-25T15:48:25Z") == datetime(2026, 11, 25, 15, 48, 25, tzinfo=UTC)
