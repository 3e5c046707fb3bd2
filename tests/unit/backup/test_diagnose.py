"""Each restic failure gets its own reason and a message an operator can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.backup.diagnose import diagnose

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _fixture(name: str) -> tuple[int, str]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data["exit_code"], data.get("stdout", "") + "\n" + data.get("stderr", "")


@pytest.mark.parametrize(
    ("fixture", "dump", "status", "reason"),
    [
        ("backup_paths", False, "succeeded", "ok"),
        ("wrong_password", False, "failed", "wrong_password"),
        ("backup_missing_path", False, "failed", "source_missing"),
        ("backup_dump_fails", True, "failed", "dump_failed"),
        ("backup_dump_empty", True, "failed", "dump_empty"),
        ("repo_missing", False, "failed", "repo_missing"),
        ("locked", False, "failed", "locked"),
    ],
)
def test_recorded_restic_outcomes_map_to_their_own_reason(fixture: str, dump: bool, status: str, reason: str) -> None:
    code, output = _fixture(fixture)
    found = diagnose(code, output, dump=dump)
    assert (found.status, found.reason) == (status, reason)
    assert found.alert is (reason != "ok")


def test_an_unreachable_center_is_named_in_the_message() -> None:
    output = (
        "subprocess ssh: ssh: connect to host 10.198.0.21 port 22: Connection timed out\n"
        '{"message_type":"exit_error","code":1,"message":"Fatal: unable to open repository"}'
    )
    found = diagnose(1, output, center="the backup center bc-backup-1 (10.198.0.21)")
    assert found.reason == "center_unreachable"
    assert "bc-backup-1" in found.message and "could not be reached" in found.message


def test_a_center_whose_sshd_dies_during_the_handshake_is_unreachable() -> None:
    output = (
        "Fatal: unable to open repository at sftp:backup-school-gd-1@10.198.0.21:/gd-school-1/x: unable to start "
        "the sftp session, error: error receiving version packet from server: server unexpectedly closed "
        "connection: unexpected EOF"
    )
    found = diagnose(1, output, center="the backup center bc-backup-1 (10.198.0.21)")
    assert found.reason == "center_unreachable"


def test_exit_three_of_a_paths_backup_is_partial_and_alerted() -> None:
    found = diagnose(3, '{"message_type":"error","error":{"message":"open /srv/x: permission denied"}}')
    assert found.status == "partial" and found.alert


def test_an_unknown_exit_code_is_a_failure_and_a_timeout_or_cancel_says_so() -> None:
    assert diagnose(42, "").status == "failed"
    assert diagnose(-1, "", timed_out=True).reason == "timeout"
    assert diagnose(-1, "", cancelled=True).status == "cancelled"


def test_the_center_watch_expires_only_after_restics_ssh_ended_and_the_grace_passed() -> None:
    import time

    from controlplane.backup.diagnose import CenterWatch

    watch = CenterWatch(grace=0.2)
    watch.feed('{"message_type":"status","percent_done":0.5}', "out")
    watch.feed("subprocess ssh: Warning: Permanently added '10.198.0.21' to the list of known hosts.", "err")
    assert watch.since is None and not watch.expired()
    watch.feed("subprocess ssh: Timeout, server 10.198.0.21 not responding.", "err")
    assert not watch.expired()
    time.sleep(0.3)
    assert watch.expired() and "not responding" in watch.line
    other = CenterWatch(grace=0)
    other.feed('{"message_type":"error","error":{"message":"ssh command exited: exit status 255"}}', "out")
    time.sleep(0.01)
    assert other.expired()


def test_a_restic_stopped_after_its_ssh_to_the_center_ended_is_center_unreachable_not_cancelled() -> None:
    found = diagnose(
        -1,
        "subprocess ssh: Timeout, server 10.198.0.21 not responding.",
        center="the backup center bc-backup-1 (10.198.0.21)",
        cancelled=True,
        center_lost="subprocess ssh: Timeout, server 10.198.0.21 not responding.",
    )
    assert found.status == "failed" and found.reason == "center_unreachable" and found.alert
    assert "bc-backup-1" in found.message and "not responding" in found.message and "was stopped" in found.message
