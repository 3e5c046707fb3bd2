"""Restore-verification manifests: how the control plane asks for and reads them.

A manifest records, at backup time, the SHA-256, size and modification time
of every file of a paths dataset on its host. A restore drill restores the
snapshot elsewhere and checks the restored files against it, so "restored
bit for bit" is measured against the source, not only against restic's own
view of its snapshot (``restore --verify`` covers that).

The hashing runs where the data is, by the stdlib-only collector
:mod:`controlplane.backup.manifest_collector`, sent as the program text on
stdin of ``python3 -`` (no file is copied to the host, nothing is left
behind). For ``verify``, the manifest is embedded in that program text as a
Python string literal (``repr`` of its JSON), since stdin is the program.

Everything in this module is pure: argv and program text in, parsed JSON out.

Limits (documented, for the engine): the collector reads the data a second
time, so it is optional per dataset (``manifest: false``); exclude patterns
are matched with restic's rules approximately (see
:func:`~controlplane.backup.manifest_collector.excluded`); dump datasets have
no manifest (their verification command checks them instead).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controlplane.errors import BadInputError

from . import manifest_collector
from .manifest_collector import compare, excluded

__all__ = [
    "collector_source",
    "compare",
    "create_argv",
    "excluded",
    "parse_manifest",
    "parse_report",
    "verify_argv",
    "verify_program",
]

_GUARD = 'if __name__ == "__main__":'


def collector_source() -> str:
    """Return the collector's program text (sent as stdin of ``python3 -``)."""
    return Path(manifest_collector.__file__).read_text(encoding="utf-8")


def create_argv(paths: Sequence[str], excludes: Sequence[str] = (), *, python: str = "python3") -> list[str]:
    """Return the argv that prints a manifest of ``paths`` (program text on stdin).

    ``python3 - create --exclude P ... -- PATH...``: the collector travels on
    stdin, so nothing of ours needs installing on the host. Raises
    BadInputError for no paths.
    """
    if not paths:
        raise BadInputError("a manifest needs at least one path")
    argv = [python, "-", "create"]
    for pattern in excludes:
        argv += ["--exclude", pattern]
    return [*argv, "--", *paths]


def verify_argv(restore_dir: str, *, python: str = "python3") -> list[str]:
    """Return the argv that verifies a restore under ``restore_dir`` (program text on stdin)."""
    return [python, "-", "verify", restore_dir]


def verify_program(manifest: dict[str, Any]) -> str:
    """Return the collector's program text with ``manifest`` embedded as ``MANIFEST``.

    The JSON is embedded through ``repr`` of a str, which Python reads back
    as exactly that string whatever it contains (quotes, newlines, code).
    Raises BadInputError when the manifest is not a version-1 manifest.
    """
    _check(manifest)
    source = collector_source()
    if source.count(_GUARD) != 1:
        raise BadInputError("the manifest collector has no single __main__ guard to embed the manifest before")
    literal = repr(json.dumps(manifest, sort_keys=True))
    return source.replace(_GUARD, f"MANIFEST = json.loads({literal})\n\n\n{_GUARD}")


def _check(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("version") != manifest_collector.VERSION:
        raise BadInputError("not a version-1 backup manifest")
    if manifest.get("algorithm") != "sha256" or not isinstance(manifest.get("files"), dict):
        raise BadInputError("a manifest needs algorithm sha256 and a files table")
    return manifest


def parse_manifest(text: str) -> dict[str, Any]:
    """Parse the collector's ``create`` output. Raises BadInputError when it is not a manifest."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise BadInputError(f"manifest is not JSON: {error}") from None
    return _check(data)


def parse_report(text: str) -> dict[str, Any]:
    """Parse the collector's ``verify`` output. Raises BadInputError when it is not a report."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise BadInputError(f"verification report is not JSON: {error}") from None
    if not isinstance(data, dict) or "passed" not in data:
        raise BadInputError("verification report has no verdict")
    return data
