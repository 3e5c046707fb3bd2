"""A run's private folder is cleaned up once, whichever way the run ends: no folder, no leftover process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from controlplane.automation.workspace import private_workspace


def test_the_workspace_is_private_and_gone_after_the_run() -> None:
    with private_workspace() as folder:
        assert folder.is_dir() and (folder / "cp").is_dir()
        assert folder.stat().st_mode & 0o777 == 0o700
    assert not folder.exists()


def test_the_workspace_is_gone_even_when_the_run_raises() -> None:
    seen: list[Path] = []
    with pytest.raises(KeyboardInterrupt), private_workspace() as folder:
        seen.append(folder)
        raise KeyboardInterrupt
    assert seen and not seen[0].exists()


def test_a_process_left_running_in_the_workspace_is_killed_on_the_way_out() -> None:
    with private_workspace() as folder:
        # Its command line names the folder, as ansible's and ssh's do.
        leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(folder)])
        started = time.monotonic() + 10
        while str(folder) not in Path(f"/proc/{leftover.pid}/cmdline").read_bytes().decode(errors="replace"):
            assert time.monotonic() < started, "the process never started"
            time.sleep(0.01)
    try:
        assert leftover.wait(timeout=10) == -9
    finally:
        if leftover.poll() is None:
            leftover.kill()
