"""Runner events to per-host task results, tallies and the run's final status."""

from __future__ import annotations

from typing import Any

from controlplane.automation import events
from controlplane.store.models import RunStatus


def event(kind: str, host: str = "mn-portal-1", task: str = "t", **data: Any) -> dict[str, Any]:
    return {"event": kind, "stdout": f"{kind} {host}", "event_data": {"host": host, "task": task, **data}}


# Recorded from a harden run of ansible-core 2.17 through ansible-runner 2.4 (trimmed).
RECORDED = [
    {"event": "playbook_on_start", "stdout": "", "event_data": {}},
    {"event": "runner_on_start", "stdout": "", "event_data": {"host": "mn-portal-1", "task": "Gathering Facts"}},
    {"event": "runner_on_ok", "stdout": "ok: [mn-portal-1]",
     "event_data": {"host": "mn-portal-1", "task": "Gathering Facts", "res": {"changed": False}}},
    {"event": "runner_on_ok", "stdout": "changed: [mn-portal-1]",
     "event_data": {"host": "mn-portal-1", "task": "sshd: login banner [ssh.banner]", "role": "harden_ssh",
                    "res": {"changed": True}}},
    {"event": "runner_on_unreachable", "stdout": "fatal: [gd-school-1]: UNREACHABLE!",
     "event_data": {"host": "gd-school-1", "task": "Gathering Facts",
                    "res": {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused"}}},
    {"event": "runner_on_failed", "stdout": "fatal: [mn-db-1]: FAILED!",
     "event_data": {"host": "mn-db-1", "task": "accounts: only root has UID 0 [accounts.uid0-only-root]",
                    "role": "harden_accounts", "ignore_errors": None,
                    "res": {"rc": 0, "stdout": "toor", "msg": "", "stderr": "", "changed": False}}},
    {"event": "runner_on_skipped", "stdout": "skipping: [mn-portal-1]",
     "event_data": {"host": "mn-portal-1", "task": "auditd: installed",
                    "res": {"skip_reason": "Conditional result was False"}}},
    {"event": "playbook_on_stats", "stdout": "PLAY RECAP",
     "event_data": {"ok": {"mn-portal-1": 2}, "changed": {"mn-portal-1": 1}, "dark": {"gd-school-1": 1},
                    "failures": {"mn-db-1": 1}, "skipped": {"mn-portal-1": 1}}},
]  # fmt: skip


def test_control_ids_come_from_the_brackets_at_the_end_of_a_task_name() -> None:
    assert events.control_ids("sshd: banner [ssh.banner]") == ("ssh.banner",)
    assert events.control_ids("x [net.ip-forward, net.ipv6-forwarding]") == ("net.ip-forward", "net.ipv6-forwarding")
    assert events.control_ids("no ids here") == ()
    assert events.control_ids("[in the middle] of a name") == ()
    assert events.control_ids("shell [$(rm -rf /)]") == ()


def test_a_changed_result_is_changed_and_names_its_controls() -> None:
    result = events.task_result(RECORDED[3])
    assert result is not None
    assert (result.host, result.status, result.changed, result.role) == ("mn-portal-1", "changed", True, "harden_ssh")
    assert result.controls == ("ssh.banner",)


def test_an_unreachable_host_keeps_the_ssh_message() -> None:
    result = events.task_result(RECORDED[4])
    assert result is not None and result.status == "unreachable"
    assert "Connection refused" in result.message


def test_a_failure_with_ignore_errors_is_ignored_not_failed() -> None:
    result = events.task_result(event("runner_on_failed", ignore_errors=True, res={"msg": "meh"}))
    assert result is not None and result.status == "ignored" and result.message == "meh"


def test_a_skipped_task_keeps_its_reason() -> None:
    result = events.task_result(RECORDED[6])
    assert result is not None and result.status == "skipped" and "Conditional" in result.message


def test_events_without_a_host_are_not_results() -> None:
    assert events.task_result(RECORDED[0]) is None
    assert events.task_result(RECORDED[1]) is None
    assert events.task_result({"event": "runner_on_ok", "event_data": {}}) is None


def test_a_loop_failure_reports_the_failing_item() -> None:
    res = {"msg": "", "results": [{"failed": False}, {"failed": True, "msg": "item two broke"}]}
    result = events.task_result(event("runner_on_failed", res=res))
    assert result is not None and result.message == "item two broke"


def test_long_messages_are_capped() -> None:
    result = events.task_result(event("runner_on_failed", res={"msg": "x" * 10000}))
    assert result is not None and len(result.message) == events.MAX_MESSAGE_CHARS


def test_tally_counts_like_the_play_recap() -> None:
    results = [r for r in map(events.task_result, RECORDED) if r]
    tallies = events.tally(results, ["mn-portal-1", "gd-school-1", "mn-db-1", "dr-app-1"])
    assert tallies["mn-portal-1"].as_dict()["ok"] == 2
    assert tallies["mn-portal-1"].changed == 1 and tallies["mn-portal-1"].outcome == "changed"
    assert tallies["gd-school-1"].outcome == "unreachable"
    assert tallies["mn-db-1"].outcome == "failed"
    assert tallies["mn-db-1"].failed_tasks == ["accounts: only root has UID 0 [accounts.uid0-only-root]"]
    assert tallies["dr-app-1"].outcome == "ok"
    stats = events.stats_hosts(RECORDED[-1])
    assert stats is not None and stats["gd-school-1"]["dark"] == 1 and stats["mn-portal-1"]["changed"] == 1


def test_some_hosts_failing_makes_the_run_partial() -> None:
    tallies = events.tally([r for r in map(events.task_result, RECORDED) if r])
    assert events.run_status(tallies, "failed", 4) == RunStatus.PARTIAL


def test_every_host_fine_makes_the_run_succeed() -> None:
    tallies = events.tally([events.task_result(RECORDED[2])])  # type: ignore[list-item]
    assert events.run_status(tallies, "successful", 0) == RunStatus.SUCCEEDED


def test_every_host_failing_makes_the_run_fail() -> None:
    tallies = events.tally([events.task_result(RECORDED[4])])  # type: ignore[list-item]
    assert events.run_status(tallies, "failed", 4) == RunStatus.FAILED


def test_cancel_and_timeout_decide_the_status_whatever_the_hosts_did() -> None:
    tallies = events.tally([events.task_result(RECORDED[2])])  # type: ignore[list-item]
    assert events.run_status(tallies, "canceled", 254) == RunStatus.CANCELLED
    assert events.run_status(tallies, "timeout", 254) == RunStatus.FAILED


def test_an_ansible_error_exit_code_fails_a_run_with_no_host_failure() -> None:
    tallies = events.tally([events.task_result(RECORDED[2])])  # type: ignore[list-item]
    assert events.run_status(tallies, "failed", 1) == RunStatus.FAILED
    assert events.run_status({}, "failed", 250) == RunStatus.FAILED


def test_event_lines_split_the_printed_text() -> None:
    assert events.event_lines({"stdout": "a\nb"}) == ["a", "b"]
    assert events.event_lines({"stdout": ""}) == []
    assert events.running_task(RECORDED[1]) == ("mn-portal-1", "Gathering Facts")
