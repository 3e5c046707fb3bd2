"""Changing the waiver file from the console: add a waiver, expire one, keeping the file reviewable.

The file stays the single source the scan reads (``waivers.yml`` in the
site's controls folder), hand-editable and diff-friendly: a new waiver is
appended as text (comments and layout of the rest are kept), and expiring
one rewrites only its ``expires`` value (to yesterday, so it stops applying
today) with a comment saying who expired it and when. Nothing is deleted: an
expired waiver stays on record and in the reports' "expired" list.

Every change holds a lock file, is validated as a whole (the same
:func:`~controlplane.compliance.waivers.load_waivers` the scan uses) before it
replaces the file, and is written atomically, so the console can never leave
a file that stops the next scan.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from controlplane.compliance.waivers import Waiver, load_waivers
from controlplane.errors import BadInputError

HEADER = (
    "# Compliance waivers: approved, expiring exceptions (see controlplane/compliance/waivers.py).\n"
    "# Every field is required; a waiver applies through its expiry day, then stops applying.\n"
)
MAX_TEXT = 500


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for changing ``path`` (a ``.NAME.lock`` file next to it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_checked(path: Path, text: str, known_controls: Iterable[str] | None) -> list[Waiver]:
    """Validate ``text`` as a waiver file, then atomically put it at ``path``; return its waivers."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".yml", delete=False) as out:
        out.write(text)
    temp = Path(out.name)
    try:
        waivers = load_waivers(temp, known_controls)
        os.chmod(temp, 0o644)
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
    return waivers


def _clean(value: str, what: str) -> str:
    text = " ".join(str(value).split())  # one line: no newline can start a YAML key of its own
    if not text:
        raise BadInputError(f"{what} is required")
    if len(text) > MAX_TEXT:
        raise BadInputError(f"{what} is longer than {MAX_TEXT} characters")
    return text


def new_entry(
    *, control: str, hosts: Iterable[str], sites: Iterable[str], justification: str, approver: str, expires: date,
    today: date,
) -> dict[str, Any]:  # fmt: skip
    """A checked waiver entry. Raises BadInputError for a missing field or an expiry in the past."""
    host_list = sorted({h.strip() for h in hosts if h.strip()})
    site_list = sorted({s.strip() for s in sites if s.strip()})
    if not host_list and not site_list:
        raise BadInputError("name the waived hosts or sites")
    if expires < today:
        raise BadInputError("the expiry date is in the past")
    entry: dict[str, Any] = {"control": _clean(control, "control")}
    if host_list:
        entry["hosts"] = host_list
    if site_list:
        entry["sites"] = site_list
    entry.update(
        justification=_clean(justification, "justification"),
        approver=_clean(approver, "approver"),
        expires=expires.isoformat(),
    )
    return entry


def _sequence(text: str) -> yaml.SequenceNode | None:
    """The ``waivers`` block sequence node of a file's text (None when empty, flow style or absent)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    if not isinstance(root, yaml.MappingNode):
        return None
    node = next((v for k, v in root.value if k.value == "waivers"), None)
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return node
    return None


def add_waiver(path: Path, entry: dict[str, Any], known_controls: Iterable[str] | None = None) -> list[Waiver]:
    """Append a waiver entry (from :func:`new_entry`) to the file; return every waiver now in it.

    Raises BadInputError for an unknown control, ConfigError when the
    existing file is malformed (it is then left alone for a person to fix).
    """
    known = set(known_controls) if known_controls is not None else None
    if known is not None and entry["control"] not in known:
        raise BadInputError(f"unknown control {entry['control']!r}")
    with locked(path):
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        existing = load_waivers(path, known)  # a malformed file raises here, before anything is written
        node = _sequence(text)
        dumped = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=1000)
        if node is not None:
            indent = " " * node.value[0].start_mark.column
            # The item marks start at the value; the dash sits two columns to the left of it.
            indent = indent[:-2] if len(indent) >= 2 else ""
            block = "".join(indent + line + "\n" for line in dumped.splitlines())
            new_text = text if text.endswith("\n") else text + "\n"
            new_text += block
        else:
            everything = [w.to_dict() for w in existing]
            for item in everything:
                item.pop("source", None)
                for key in ("hosts", "sites"):
                    if not item[key]:
                        item.pop(key)
            new_text = HEADER + yaml.safe_dump(
                {"waivers": [*everything, entry]}, allow_unicode=True, sort_keys=False, width=1000
            )
        return _replace_checked(path, new_text, known)


def expire_waiver(
    path: Path, index: int, *, today: date, actor: str, control: str, known_controls: Iterable[str] | None = None
) -> list[Waiver]:
    """Make waiver number ``index`` (0-based, file order) stop applying today; return every waiver.

    ``control`` must name the waiver's control (so a file edited meanwhile
    cannot make the wrong waiver expire). Raises BadInputError for a wrong
    index or control, or a waiver that has already expired.
    """
    with locked(path):
        waivers = load_waivers(path, known_controls)
        if not 0 <= index < len(waivers) or waivers[index].control != control:
            raise BadInputError("that waiver is not in the file (it may have changed): reload and try again")
        if not waivers[index].active(today):
            raise BadInputError("that waiver has already expired")
        text = path.read_text(encoding="utf-8")
        node = _sequence(text)
        assert node is not None  # noqa: S101 - a file with waivers has a block sequence
        item = node.value[index]
        value = next(v for k, v in item.value if k.value == "expires")
        lines = text.splitlines(keepends=True)
        if value.start_mark.line != value.end_mark.line:
            raise BadInputError("the waiver's expiry spans lines: edit the file by hand")
        line = lines[value.start_mark.line]
        before, after = line[: value.start_mark.column], line[value.end_mark.column :]
        ending = "\n" if after.endswith("\n") else ""
        rest = after.rstrip("\n")
        note = f"  # expired by {actor} on {today.isoformat()} (was {waivers[index].expires.isoformat()})"
        lines[value.start_mark.line] = before + (today - timedelta(days=1)).isoformat() + rest + note + ending
        return _replace_checked(path, "".join(lines), known_controls)
