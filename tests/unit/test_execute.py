"""execute.py: argv only, masked logs and output, exit-code tables, timeouts, dry-run."""

from __future__ import annotations

import logging
import sys

import pytest

from controlplane import execute
from controlplane.errors import BadInputError
from controlplane.execute import Outcome


def test_a_string_command_is_refused() -> None:
    with pytest.raises(BadInputError):
        execute.run("echo hi")  # type: ignore[arg-type]


def test_a_nul_byte_in_a_word_is_refused() -> None:
    with pytest.raises(BadInputError):
        execute.run(["echo", "a\x00b"])


def test_hostile_words_reach_the_program_verbatim(tmp_path) -> None:
    marker = tmp_path / "pwned"
    words = [f"; touch {marker}", f"$(touch {marker})", "`id`", "../..", "a\nb", "*"]
    result = execute.run([sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *words])
    import json

    assert json.loads(result.stdout) == words
    assert not marker.exists()


def test_zero_is_ok_and_any_other_exit_code_is_a_failure_whatever_the_tool() -> None:
    assert execute.outcome_of(0) == Outcome.OK
    assert execute.outcome_of(1) == Outcome.FAILED
    assert execute.outcome_of(3) == Outcome.FAILED  # restic's 3 is read by the backup engine (backup/exitcodes.py)
    assert not hasattr(execute, "EXIT_CODES")


def test_the_exit_code_comes_back_as_the_process_left_it_for_the_caller_to_read() -> None:
    result = execute.run([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert result.exit_code == 3 and result.outcome == Outcome.FAILED and not result.ok


def test_secrets_are_masked_in_logs_and_output(caplog) -> None:
    caplog.set_level(logging.INFO, logger="controlplane.execute")
    result = execute.run(
        [sys.executable, "-c", "import sys; print(sys.argv[1]); sys.exit(1)", "hunter2"], secrets=["hunter2"]
    )
    assert "hunter2" not in result.stdout and "***" in result.stdout
    assert "hunter2" not in caplog.text
    assert "hunter2" not in result.error_message("test")


def test_a_timeout_kills_the_process_group() -> None:
    result = execute.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert result.outcome == Outcome.TIMEOUT
    assert result.duration < 10


def test_dry_run_starts_nothing(tmp_path) -> None:
    marker = tmp_path / "made"
    result = execute.run(["touch", str(marker)], dry_run=True)
    assert result.outcome == Outcome.DRY_RUN and result.ok
    assert not marker.exists()


def test_stream_delivers_lines_as_they_come() -> None:
    seen: list[str] = []
    script = "import time\nfor i in range(3):\n    print(i, flush=True); time.sleep(0.05)"
    result = execute.stream([sys.executable, "-c", script], seen.append)
    assert seen == ["0", "1", "2"] and result.ok


def test_the_tail_keeps_the_last_lines_for_errors() -> None:
    result = execute.run([sys.executable, "-c", "import sys\nfor i in range(50): print(i)\nsys.exit(2)"])
    assert result.tail[-1] == "49" and len(result.tail) == execute.TAIL_LINES
    assert "exit code 2" in result.error_message("counting")
