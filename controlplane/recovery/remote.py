"""How to run this very egov on another host that sees this machine's files (a lab host, the lab's DR host).

A lab host's root is an overlay over the machine's ``/`` with its own empty
``/root`` (:mod:`controlplane.lab.disk`), so the project's code and its
virtualenv's packages are there, but an interpreter installed under
``/root`` (pyenv) is not. :func:`egov_argv` returns an argv that works
either way: this interpreter when it lies outside ``/root`` and ``/home``,
else the system's python3 of the same version with this process's import
path handed over (the packages are pure Python or built for the same
version, so they import).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_BOOT = "import sys; sys.path[:0] = sys.argv[1].split(':'); del sys.argv[1]; import runpy; runpy.run_module('controlplane', run_name='__main__', alter_sys=True)"  # noqa: E501


def _hidden(path: str) -> bool:
    real = os.path.realpath(path)
    return real.startswith(("/root/", "/home/"))


def egov_argv() -> list[str]:
    """The argv prefix that runs ``egov`` (then its arguments) on a host seeing this machine's files."""
    if not _hidden(sys.executable):
        return [sys.executable, "-m", "controlplane"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next((p for p in (f"/usr/bin/{version}", f"/usr/local/bin/{version}") if Path(p).exists()), None)
    if system is None:
        return [sys.executable, "-m", "controlplane"]
    paths = [entry for entry in sys.path if entry and Path(entry).is_dir() and not entry.startswith(sys.base_prefix)]
    return [system, "-c", _BOOT, ":".join(paths)]
