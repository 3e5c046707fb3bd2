"""The process-group wrapper of cancellable remote commands, run for real with the local sh and setsid."""

from __future__ import annotations

import os
import subprocess

from controlplane.backup.executor import GROUP_MARK, GROUP_WRAPPER


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
