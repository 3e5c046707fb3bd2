"""Parsers for restic's ``--json`` output (shapes recorded from restic 0.18).

``backup --json`` and ``restore --json`` write one JSON object per line with a
``message_type``: ``status`` (progress, about once a second), ``summary`` (at
the end), ``error`` (a file that could not be read; the backup goes on) and
``exit_error`` (the fatal reason, just before exit code 1). ``snapshots``,
``forget`` and ``stats`` write one JSON document; ``forget --prune`` follows
its JSON line with prune's plain text. Lines that are not JSON (messages on
stderr merged into one stream, say) are skipped, never fatal: the exit code,
not the parser, decides the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class BackupStatus:
    """A progress line of ``backup --json``."""

    percent_done: float
    files_done: int
    total_files: int
    bytes_done: int
    total_bytes: int
    error_count: int
    seconds_elapsed: int
    current_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupSummary:
    """The summary line of ``backup --json``: what the snapshot added."""

    snapshot_id: str | None
    files_new: int
    files_changed: int
    files_unmodified: int
    dirs_new: int
    dirs_changed: int
    data_added: int
    data_added_packed: int
    total_files_processed: int
    total_bytes_processed: int
    total_duration: float


@dataclass(frozen=True)
class RestoreStatus:
    """A progress or summary line of ``restore --json``."""

    percent_done: float
    files_restored: int
    total_files: int
    bytes_restored: int
    total_bytes: int
    seconds_elapsed: int
    final: bool = False


@dataclass(frozen=True)
class ResticError:
    """An ``error`` line: restic could not handle one item and went on."""

    message: str
    during: str = ""
    item: str = ""


@dataclass(frozen=True)
class ExitError:
    """An ``exit_error`` line: the fatal reason restic gives before exiting."""

    code: int
    message: str


Message = BackupStatus | BackupSummary | RestoreStatus | ResticError | ExitError


@dataclass
class Progress:
    """Everything learnt from a stream of ``--json`` lines (fed one by one)."""

    status: BackupStatus | RestoreStatus | None = None
    summary: BackupSummary | None = None
    restore_summary: RestoreStatus | None = None
    errors: list[ResticError] = field(default_factory=list)
    exit_error: ExitError | None = None

    def feed(self, line: str, *, restore: bool = False) -> Message | None:
        """Parse one line, remember what it says and return it (None: not ours)."""
        message = parse_line(line, restore=restore)
        if isinstance(message, BackupSummary):
            self.summary = message
        elif isinstance(message, RestoreStatus):
            if message.final:
                self.restore_summary = message
            else:
                self.status = message
        elif isinstance(message, BackupStatus):
            self.status = message
        elif isinstance(message, ResticError):
            self.errors.append(message)
        elif isinstance(message, ExitError):
            self.exit_error = message
        return message


@dataclass(frozen=True)
class Snapshot:
    """One entry of ``snapshots --json``."""

    id: str
    short_id: str
    time: datetime
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...] = ()
    parent: str | None = None
    summary: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # Set on a snapshot made by ``restic copy``: the id it has in the source repository.
    original: str | None = None


@dataclass(frozen=True)
class ForgetGroup:
    """One group of ``forget --json``: the snapshot ids kept and removed."""

    host: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    keep: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True)
class CheckSummary:
    """The summary of ``check --json``."""

    num_errors: int
    broken_packs: tuple[str, ...]
    suggest_repair_index: bool
    suggest_prune: bool

    @property
    def ok(self) -> bool:
        return self.num_errors == 0 and not self.broken_packs


def parse_time(text: str) -> datetime:
    """Return restic's RFC 3339 time (nanoseconds, ``Z`` or an offset) as an aware datetime.

    Python keeps microseconds, so the fraction is cut to six digits.
    Raises ValueError for text that is not such a time.
    """
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) else 0


def _object(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_line(line: str, *, restore: bool = False) -> Message | None:
    """Parse one line of ``backup --json`` (or, with ``restore``, ``restore --json``).

    None for a line that is not a known JSON message (plain text,
    ``verbose_status``): restic mixes them, and a stray line must not stop
    a backup. Raises nothing.
    """
    data = _object(line)
    if data is None:
        return None
    kind = data.get("message_type")
    if kind == "error":
        error = data.get("error")
        message = error.get("message", "") if isinstance(error, dict) else str(error or "")
        return ResticError(message=message, during=str(data.get("during", "")), item=str(data.get("item", "")))
    if kind == "exit_error":
        return ExitError(code=_int(data, "code"), message=str(data.get("message", "")))
    if restore and kind in ("status", "summary"):
        return RestoreStatus(
            percent_done=float(data.get("percent_done", 1.0 if kind == "summary" else 0.0)),
            files_restored=_int(data, "files_restored"),
            total_files=_int(data, "total_files"),
            bytes_restored=_int(data, "bytes_restored"),
            total_bytes=_int(data, "total_bytes"),
            seconds_elapsed=_int(data, "seconds_elapsed"),
            final=kind == "summary",
        )
    if kind == "status":
        return BackupStatus(
            percent_done=float(data.get("percent_done", 0.0)),
            files_done=_int(data, "files_done"),
            total_files=_int(data, "total_files"),
            bytes_done=_int(data, "bytes_done"),
            total_bytes=_int(data, "total_bytes"),
            error_count=_int(data, "error_count"),
            seconds_elapsed=_int(data, "seconds_elapsed"),
            current_files=tuple(data.get("current_files") or ()),
        )
    if kind == "summary":
        return BackupSummary(
            snapshot_id=data.get("snapshot_id") or None,
            files_new=_int(data, "files_new"),
            files_changed=_int(data, "files_changed"),
            files_unmodified=_int(data, "files_unmodified"),
            dirs_new=_int(data, "dirs_new"),
            dirs_changed=_int(data, "dirs_changed"),
            data_added=_int(data, "data_added"),
            data_added_packed=_int(data, "data_added_packed"),
            total_files_processed=_int(data, "total_files_processed"),
            total_bytes_processed=_int(data, "total_bytes_processed"),
            total_duration=float(data.get("total_duration", 0.0)),
        )
    return None


def parse_stream(lines: Iterable[str], *, restore: bool = False) -> Progress:
    """Feed every line of a finished run's output into a Progress and return it."""
    progress = Progress()
    for line in lines:
        progress.feed(line, restore=restore)
    return progress


def _first_json(text: str, opener: str) -> Any:
    """Return the first line of ``text`` that is a JSON document starting with ``opener``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(opener):
            try:
                return json.loads(stripped)
            except ValueError:
                continue
    raise ValueError(f"no JSON {'list' if opener == '[' else 'object'} in restic's output")


def parse_snapshots(text: str) -> list[Snapshot]:
    """Parse ``snapshots --json`` output into Snapshots, oldest first.

    Raises ValueError when the output holds no JSON list.
    """
    snapshots = []
    for item in _first_json(text, "["):
        snapshots.append(
            Snapshot(
                id=item["id"],
                short_id=item.get("short_id", item["id"][:8]),
                time=parse_time(item["time"]),
                hostname=item.get("hostname", ""),
                paths=tuple(item.get("paths") or ()),
                tags=tuple(item.get("tags") or ()),
                parent=item.get("parent"),
                summary=item.get("summary") or {},
                original=item.get("original"),
            )
        )
    return sorted(snapshots, key=lambda snapshot: snapshot.time)


def parse_forget(text: str) -> list[ForgetGroup]:
    """Parse ``forget --json`` output (prune's text after it is ignored).

    Raises ValueError when the output holds no JSON list.
    """
    return [
        ForgetGroup(
            host=group.get("host") or "",
            paths=tuple(group.get("paths") or ()),
            tags=tuple(group.get("tags") or ()),
            keep=tuple(item["id"] for item in group.get("keep") or ()),
            remove=tuple(item["id"] for item in group.get("remove") or ()),
        )
        for group in _first_json(text, "[")
    ]


def parse_check(text: str) -> CheckSummary:
    """Parse the summary of ``check --json``. Raises ValueError when there is none."""
    for line in text.splitlines():
        data = _object(line)
        if data and data.get("message_type") == "summary":
            return CheckSummary(
                num_errors=_int(data, "num_errors"),
                broken_packs=tuple(data.get("broken_packs") or ()),
                suggest_repair_index=bool(data.get("suggest_repair_index")),
                suggest_prune=bool(data.get("suggest_prune")),
            )
    raise ValueError("no check summary in restic's output")


def parse_stats(text: str) -> dict[str, int]:
    """Parse ``stats --json`` into its numeric fields. Raises ValueError when absent."""
    data = _first_json(text, "{")
    return {key: int(value) for key, value in data.items() if isinstance(value, int | float)}


def errors_in(text: str) -> list[str]:
    """Return the messages of every ``error`` and ``exit_error`` line of an output."""
    messages = []
    for line in text.splitlines():
        message = parse_line(line)
        if isinstance(message, ResticError | ExitError):
            messages.append(message.message)
    return messages
