"""Restore-verification manifests: the collector that runs on a managed host.

Self-contained, standard-library Python 3 (Debian 12's 3.11 is enough), so the
control plane can send it to any host as ``python3 - MODE ...`` with this
source on stdin (see :mod:`controlplane.backup.manifest`); it is also
imported there, so the comparison rules are the same on both sides.

Modes:

``create [--exclude PATTERN]... -- PATH...``
    Walk the paths (never following symlinks, never crossing into special
    files) and print a JSON manifest: SHA-256, size and mtime of every
    regular file, the target of every symlink, and what was skipped and why.

``verify ROOT``
    Compare the files restored under ROOT (a snapshot of ``/srv/portal``
    restores to ``ROOT/srv/portal``) with the manifest embedded by the control
    plane as ``MANIFEST`` before this source, print a JSON report and exit 0
    when nothing is missing or different, 1 otherwise.

A file whose size *and* modification time both match but whose hash differs
is corrupt. A file whose modification time differs changed between the
manifest and the snapshot (the two are taken moments apart on a live
system): it is reported as ``changed``, not as a failure, because restic
restores the time it read.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
import sys
import time
from typing import Any

VERSION = 1
CHUNK = 1024 * 1024


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _match(pattern: list[str], parts: list[str]) -> bool:
    """Whether pattern components match a prefix of the path components (``**`` spans any)."""
    if not pattern:
        return True  # the pattern named an ancestor: the whole subtree is excluded
    if not parts:
        return pattern == ["**"]
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, parts[index:]) for index in range(len(parts) + 1))
    return fnmatch.fnmatchcase(parts[0], head) and _match(rest, parts[1:])


def excluded(path: str, patterns: list[str]) -> bool:
    """Whether restic's ``--exclude`` patterns (approximately) exclude an absolute path.

    An absolute pattern is anchored at ``/``; a relative one may start at any
    directory level, as in restic. ``*``, ``?``, ``[...]`` match within one
    component and ``**`` across components.
    """
    parts = _parts(path)
    for raw in patterns:
        pattern = _parts(raw)
        if raw.startswith("/"):
            if _match(pattern, parts):
                return True
        elif any(_match(pattern, parts[start:]) for start in range(len(parts))):
            return True
    return False


def sha256_file(path: str) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks without following a symlink."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _entry(path: str) -> dict[str, Any]:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return {"type": "symlink", "target": os.readlink(path)}
    if stat.S_ISREG(info.st_mode):
        return {"type": "file", "sha256": sha256_file(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    raise ValueError("not a regular file or symlink")


def create(paths: list[str], excludes: list[str]) -> dict[str, Any]:
    """Return the manifest of the files under ``paths``, honouring ``excludes``."""
    files: dict[str, Any] = {}
    skipped: list[dict[str, str]] = []

    def record(name: str, absolute: str) -> None:
        if excluded(absolute, excludes):
            return
        try:
            files[name] = _entry(absolute)
        except (OSError, ValueError) as error:
            skipped.append({"path": name, "reason": getattr(error, "strerror", None) or str(error)})

    for given in paths:
        name = os.path.normpath(given)
        absolute = os.path.abspath(name)
        if excluded(absolute, excludes):
            continue
        if not os.path.isdir(absolute) or os.path.islink(absolute):
            record(name, absolute)
            continue

        def unreadable(error: OSError) -> None:
            skipped.append({"path": error.filename or "", "reason": error.strerror or str(error)})

        for folder, dirs, names in os.walk(absolute, onerror=unreadable):
            relative = os.path.relpath(folder, absolute)
            base = name if relative == "." else os.path.join(name, relative)
            # Excluded folders are not entered; symlinked folders are entries.
            kept = []
            for sub in sorted(dirs):
                full = os.path.join(folder, sub)
                if os.path.islink(full):
                    record(os.path.join(base, sub), full)
                elif not excluded(full, excludes):
                    kept.append(sub)
            dirs[:] = kept
            for leaf in sorted(names):
                record(os.path.join(base, leaf), os.path.join(folder, leaf))
    return {
        "version": VERSION,
        "algorithm": "sha256",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "paths": [os.path.normpath(p) for p in paths],
        "excludes": list(excludes),
        "files": files,
        "skipped": skipped,
    }


def compare(manifest: dict[str, Any], observed: dict[str, Any]) -> dict[str, Any]:
    """Compare a manifest's files with the entries observed after a restore.

    ``observed`` is ``{name: entry or None}`` (None: not restored). Returns
    ``{"checked", "ok", "missing", "mismatched", "changed", "passed"}``.
    Pure: no file access, so the control plane can use it on collected data.
    """
    missing: list[str] = []
    mismatched: list[str] = []
    changed: list[str] = []
    ok = 0
    for name, expected in sorted(manifest.get("files", {}).items()):
        actual = observed.get(name)
        if actual is None:
            missing.append(name)
        elif expected.get("type") != actual.get("type"):
            mismatched.append(name)
        elif expected["type"] == "symlink":
            if expected["target"] == actual["target"]:
                ok += 1
            else:
                mismatched.append(name)
        elif expected["mtime_ns"] != actual["mtime_ns"]:
            changed.append(name)
        elif expected["size"] != actual["size"] or expected["sha256"] != actual["sha256"]:
            mismatched.append(name)
        else:
            ok += 1
    return {
        "checked": len(manifest.get("files", {})),
        "ok": ok,
        "missing": missing,
        "mismatched": mismatched,
        "changed": changed,
        "passed": not missing and not mismatched,
    }


def verify(manifest: dict[str, Any], root: str) -> dict[str, Any]:
    """Hash the files restored under ``root`` and compare them with the manifest."""
    observed: dict[str, Any] = {}
    for name in manifest.get("files", {}):
        restored = os.path.join(root, name.lstrip("/"))
        try:
            observed[name] = _entry(restored)
        except (OSError, ValueError):
            observed[name] = None
    return compare(manifest, observed)


def main(argv: list[str]) -> int:
    """Run ``create`` or ``verify`` and print JSON; return the exit code."""
    if argv[:1] == ["create"]:
        excludes: list[str] = []
        rest = argv[1:]
        while rest and rest[0] == "--exclude" and len(rest) > 1:
            excludes.append(rest[1])
            rest = rest[2:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            print("usage: create [--exclude PATTERN]... -- PATH...", file=sys.stderr)
            return 2
        json.dump(create(rest, excludes), sys.stdout, sort_keys=True)
        return 0
    if argv[:1] == ["verify"] and len(argv) == 2:
        manifest = globals().get("MANIFEST")
        if not isinstance(manifest, dict):
            print("verify needs the manifest embedded as MANIFEST", file=sys.stderr)
            return 2
        report = verify(manifest, argv[1])
        json.dump(report, sys.stdout, sort_keys=True)
        return 0 if report["passed"] else 1
    print("usage: create [--exclude PATTERN]... -- PATH... | verify ROOT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
