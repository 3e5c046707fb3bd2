"""Finding the external programs the control plane runs, and checking restic.

Programs are looked up in a fixed order so that what ``scripts/setup.sh``
installed for the project wins over what the machine happens to have:

1. the project's own ``tools/bin`` (restic >= 0.17, which Debian 12 lacks);
2. the virtualenv's bin folder (``ansible-playbook`` and friends), found from
   ``sys.executable`` so it works without an activated venv;
3. ``PATH``, then ``/usr/sbin`` and ``/sbin``, which a non-root user's PATH on
   Debian leaves out although ``ip`` and ``sshd`` live there.

Version parsing is pure (text in, tuple out) so it is tested without programs.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from controlplane import execute
from controlplane.errors import EgovError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESTIC_MIN_VERSION: tuple[int, ...] = (0, 17)
SYSTEM_SBIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/sbin")
VERSION_TIMEOUT = 15.0

# Not glued to a letter, digit or dot ("go1.24.4" is not a version), but "_" and
# "-" may precede one ("OpenSSH_9.2p1", "iproute2-6.1.0").
_DOTTED = re.compile(r"(?<![A-Za-z0-9.])v?(\d+(?:\.\d+)+)")
_RESTIC = re.compile(r"^restic\s+v?(\d+(?:\.\d+)+)", re.MULTILINE)


def project_tools_bin() -> Path:
    """Return the project's own tool folder (``tools/bin`` beside ``controlplane/``)."""
    return PROJECT_ROOT / "tools" / "bin"


def venv_bin() -> Path:
    """Return the bin folder of the Python running us (the venv's, under .venv)."""
    return Path(sys.executable).parent


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(name: str, extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> str | None:
    """Find an external program the way every module of the control plane should.

    Searches, in order: the project's tools/bin, the venv's bin, PATH,
    /usr/sbin and /sbin, then ``extra_dirs`` (e.g.
    ``/usr/lib/postgresql/15/bin``), so a pinned copy wins over the system's.
    Returns the absolute path, or None when there is none or ``name`` is a
    path. Raises nothing.
    """
    if not name or os.sep in name:
        # A path is not a name: callers that have a path do not need us.
        return None
    for folder in (project_tools_bin(), venv_bin()):
        candidate = folder / name
        if _executable(candidate):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    for folder in (*SYSTEM_SBIN_DIRS, *extra_dirs):
        candidate = Path(folder) / name
        if _executable(candidate):
            return str(candidate)
    return None


def parse_version(text: str) -> tuple[int, ...] | None:
    """Return the first dotted version number in a program's version output.

    ``"nftables v1.0.6 (Lester Gooch #5)"`` gives ``(1, 0, 6)`` and
    ``"psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"`` gives ``(15, 18)``;
    None when the text holds no dotted number. Numbers glued to a word
    (``go1.24``) are not versions and are skipped.
    """
    match = _DOTTED.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def parse_restic_version(text: str) -> tuple[int, ...] | None:
    """Return the version in ``restic version`` output, or None.

    ``"restic 0.18.0 compiled with go1.24.4 on linux/amd64"`` gives
    ``(0, 18, 0)``. Output that does not start a line with ``restic`` (some
    other program, an error) gives None rather than a wrong number.
    """
    match = _RESTIC.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def version_at_least(version: Sequence[int], minimum: Sequence[int]) -> bool:
    """Return True when ``version`` >= ``minimum``, missing parts counting as 0.

    So ``(0, 17)`` meets ``(0, 17, 0)``; ``(0, 14, 1)`` does not meet
    ``(0, 17)``.
    """
    width = max(len(version), len(minimum))
    padded = tuple(version) + (0,) * (width - len(version))
    wanted = tuple(minimum) + (0,) * (width - len(minimum))
    return padded >= wanted


def format_version(version: Sequence[int] | None) -> str:
    """Return ``(0, 18, 0)`` as ``"0.18.0"``, and None as ``""``."""
    return ".".join(str(part) for part in version) if version else ""


@functools.lru_cache(maxsize=16)
def _restic_version_at(path: str, mtime_ns: int) -> tuple[int, ...] | None:
    # Keyed on the file's mtime so a binary replaced by set-up is asked again,
    # while repeated restic_path() calls cost one stat, not one process each.
    del mtime_ns
    try:
        result = execute.run([path, "version"], timeout=VERSION_TIMEOUT)
    except OSError:
        return None
    if not result.ok:
        return None
    return parse_restic_version(result.stdout)


def restic_version(path: str) -> tuple[int, ...] | None:
    """Return the version the restic binary at ``path`` reports, or None.

    Costs one process the first time per file and mtime, then one stat (a
    binary replaced by set-up is asked again). Returns None when it cannot
    run or prints no version. Raises nothing.
    """
    try:
        mtime_ns = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return _restic_version_at(path, mtime_ns)


def restic_path() -> str:
    """Return the restic binary every backup command must use.

    Returns the path of the first restic found by :func:`find_tool` (the
    project's tools/bin first). Raises EgovError, naming the fix, when there is
    none or it is older than 0.17 (the exit codes, ``--json`` output and
    repository format the backup engine relies on need 0.17).
    """
    minimum = format_version(RESTIC_MIN_VERSION)
    path = find_tool("restic")
    if path is None:
        raise EgovError(
            f"restic not found (need >= {minimum}): run `make setup` as root, which puts "
            "Debian 13's restic in tools/bin/restic"
        )
    version = restic_version(path)
    if version is None:
        raise EgovError(f"{path} did not report a version with `restic version`; need >= {minimum}")
    if not version_at_least(version, RESTIC_MIN_VERSION):
        raise EgovError(
            f"{path} is restic {format_version(version)}, need >= {minimum}: run `make setup` "
            "as root to put a newer one in tools/bin/restic"
        )
    return path
