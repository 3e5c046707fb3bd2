"""Where commands run: the process-group wrapper (local sh and setsid), and remote runs over a real sshd."""

from __future__ import annotations

import os
import subprocess
import time

from controlplane.backup.executor import RemoteExecutor
from controlplane.ssh import SSHPool, Target
from controlplane.ssh.groups import GROUP_MARK, GROUP_WRAPPER
from tests.unit.test_ssh import sshd  # noqa: F401 - the real sshd fixture


def test_the_wrapper_reports_the_group_id_which_is_the_commands_own_pid_and_keeps_its_exit_code() -> None:
    # The wrapped command prints its pid and process group; exec keeps the pid, setsid makes it the group leader.
    argv = [*GROUP_WRAPPER, "python3", "-c", "import os, sys; print(os.getpid(), os.getpgid(0)); sys.exit(7)"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 7
    first = done.stderr.splitlines()[0]
    assert first.startswith(GROUP_MARK)
    pgid = int(first[len(GROUP_MARK) :])
    pid, group = (int(word) for word in done.stdout.split())
    assert pid == pgid == group
    assert group != os.getpgid(0)


def test_the_wrapper_passes_stdin_through_untouched_for_the_password() -> None:
    argv = [*GROUP_WRAPPER, "sh", "-c", 'IFS= read -r first; IFS= read -r second; echo "$second|$first"']
    done = subprocess.run(argv, input="pw one\npw two\n", capture_output=True, text=True, check=False, timeout=30)
    assert done.stdout.strip() == "pw two|pw one"


# -- RemoteExecutor over a real sshd on loopback: one streaming call (SSHPool.stream) ---------------


def _running(needle: str) -> list[int]:
    """Pids whose command line contains ``needle``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                line = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode()  # noqa: SIM115
            except OSError:
                continue
            if needle in line:
                found.append(int(entry))
    return found


def test_a_remote_run_streams_masked_lines_and_keeps_the_group_mark_out_of_the_output(sshd: dict) -> None:  # noqa: F811
    seen: list[tuple[str, str]] = []
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        executor = RemoteExecutor(pool, Target("loopback", "127.0.0.1", sshd["port"]))
        result = executor.run(
            ["sh", "-c", "read p; echo out $p; echo err $p >&2; exit 3"],
            input_text="hunter2\n",
            secrets=["hunter2"],
            on_line=lambda line, stream: seen.append((line, stream)),
            should_cancel=lambda: False,
        )
    assert result.exit_code == 3 and not result.timed_out and not result.cancelled
    assert seen == [("out ***", "out"), ("err ***", "err")]
    assert result.stdout == "out ***" and result.stderr == "err ***" and result.lines == ["out ***"]


def test_cancelling_a_remote_run_stops_its_whole_process_group_on_the_host(sshd: dict) -> None:  # noqa: F811
    marker = "31.4159"  # a sleep nobody else runs
    asked = time.monotonic() + 1.0
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        executor = RemoteExecutor(pool, Target("loopback", "127.0.0.1", sshd["port"]))
        result = executor.run(
            ["sh", "-c", f"sleep {marker} & wait"],  # SIGTERM ends sh, not its child: the group's SIGKILL must
            should_cancel=lambda: time.monotonic() > asked,
        )
    assert result.cancelled and result.exit_code == -1
    deadline = time.monotonic() + 5
    while _running(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running(f"sleep {marker}") == []
