"""A run's private folder, and the clean-up that leaves no process or socket behind.

Each run gets a fresh 0700 folder (ansible-runner's files and the SSH
control sockets live in it). :func:`private_workspace` is the one place that
makes it and, however the run ends (finished, failed, cancelled, Ctrl-C),
closes the run's SSH masters, kills any process still naming the folder and
deletes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from controlplane import execute


def private_dir() -> Path:
    """A fresh 0700 folder for one run (short path: SSH control sockets live in it)."""
    folder = Path(tempfile.mkdtemp(prefix="egov-run-"))
    folder.chmod(0o700)
    (folder / "cp").mkdir(mode=0o700)
    return folder


def close_ssh_masters(control_dir: Path) -> int:
    """Ask every SSH master with a socket in ``control_dir`` to exit; return how many.

    ControlPersist masters detach into their own session, so they outlive a
    killed ansible; ``ssh -O exit`` on each socket ends them cleanly.
    """
    closed = 0
    if not control_dir.is_dir():
        return 0
    for sock in sorted(control_dir.iterdir()):
        result = execute.run(
            ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "egov-master"],
            timeout=10,
        )
        closed += int(result.ok)
    return closed


def kill_leftovers(marker: str) -> list[int]:
    """Kill processes whose command line contains ``marker`` (this run's private folder).

    A last resort after cancel: the folder name is unique to the run, so only
    processes this run started can match. Returns the pids signalled.
    """
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), 9)
                killed.append(int(entry.name))
    return killed


@contextlib.contextmanager
def private_workspace() -> Iterator[Path]:
    """Yield a run's private folder; on the way out close its SSH masters, kill leftovers, delete it.

    Costs one ``ssh -O exit`` per host the run reached and one scan of /proc.
    """
    folder = private_dir()
    try:
        yield folder
    finally:
        close_ssh_masters(folder / "cp")
        kill_leftovers(str(folder))
        shutil.rmtree(folder, ignore_errors=True)
