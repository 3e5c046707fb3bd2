"""restic's exit-code table, checked against codes recorded from restic 0.18."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane import execute
from controlplane.backup import exitcodes
from controlplane.execute import Outcome

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def recorded(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("code", "outcome", "words"),
    [
        (0, Outcome.OK, "successfully"),
        (1, Outcome.FAILED, "fatal"),
        (3, Outcome.PARTIAL, "incomplete"),
        (10, Outcome.FAILED, "does not exist"),
        (11, Outcome.FAILED, "locked"),
        (12, Outcome.FAILED, "wrong repository password"),
        (130, Outcome.INTERRUPTED, "interrupted"),
        (2, Outcome.FAILED, "unknown exit code 2"),
        (-9, Outcome.FAILED, "signal 9"),
    ],
)
def test_each_exit_code_has_an_outcome_and_a_message(code: int, outcome: Outcome, words: str) -> None:
    meaning = exitcodes.meaning(code)
    assert meaning.outcome == outcome
    assert words in meaning.message


def test_a_partial_backup_is_alerted_and_an_interrupted_one_is_not() -> None:
    assert exitcodes.meaning(3).alert
    assert not exitcodes.meaning(130).alert
    assert not exitcodes.meaning(0).alert


def test_a_dump_that_left_exit_code_3_is_a_failure_not_a_partial_success() -> None:
    meaning = exitcodes.meaning(3, dump=True)
    assert meaning.outcome == Outcome.FAILED and "not a good backup" in meaning.message


def test_restic_codes_are_read_from_this_table_alone_not_from_the_process_runner() -> None:
    # Moved from tests/unit/test_execute.py with the table (issue 14): execute.py knows no tool.
    assert exitcodes.meaning(0).outcome == Outcome.OK
    assert exitcodes.meaning(3).outcome == Outcome.PARTIAL
    assert exitcodes.meaning(12).outcome == Outcome.FAILED
    assert exitcodes.meaning(99).outcome == Outcome.FAILED
    assert execute.outcome_of(3) == Outcome.FAILED
    assert not hasattr(execute, "EXIT_CODES")


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("backup_paths", 0),
        ("backup_missing_path", 1),
        ("backup_dump_fails", 1),
        ("backup_dump_empty", 3),
        ("repo_missing", 10),
        ("locked", 11),
        ("wrong_password", 12),
    ],
)
def test_recorded_restic_runs_ended_with_the_documented_codes(fixture: str, code: int) -> None:
    assert recorded(fixture)["exit_code"] == code
