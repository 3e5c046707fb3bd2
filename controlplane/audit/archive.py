"""Retention: records older than a cut-off move to a compressed, chained archive file, then leave the database.

An archive is ``audit-FIRST-LAST.jsonl.gz`` in the archive folder
(``retention.audit_archive_dir``, default ``STATE/audit/archive``): a header
line (format, seq range, the hash before the first record), one line per
record exactly as stored (hash and key id included, so each record still
verifies by itself), and a trailer with the count, the head and an HMAC of
both under the audit key (a truncated or re-headed file fails even alone).

Order of work, so nothing is ever lost: the whole chain must verify first;
the file is written to a temporary name, fsynced, renamed, then read back and
verified; only then, in one transaction, are the records deleted *and* a
keyed ``audit.archive`` record appended that names the file, its range, its
head and its SHA-256. That record is what lets verification start after the
archive when the file is not at hand (moved to off-line storage): the chain
vouches for the file's head, and the file, when present, must match it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from controlplane.store.models import AuditRecord, utcnow

from .chain import ARCHIVE_ACTION, COLUMNS, AuditError, canonical_json, mac
from .keys import keyring_for
from .walk import Problem, Walker

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

FORMAT = "egov-audit-archive/1"
NAME = re.compile(r"^audit-(\d{12})-(\d{12})\.jsonl\.gz$")
LOCK_NAME = ".archive.lock"
BATCH = 5000


@dataclass(frozen=True)
class ArchiveResult:
    """One archive written: its file, the records it holds, and the digests its voucher records."""

    path: Path
    first_seq: int
    last_seq: int
    count: int
    prev_hash: str
    head: str
    sha256: str
    voucher_seq: int


@dataclass(frozen=True)
class ArchiveFile:
    """An archive file found in the folder (its range read from its name)."""

    path: Path
    first_seq: int
    last_seq: int

    @property
    def name(self) -> str:
        """The file name (what vouchers refer to)."""
        return self.path.name


def archive_dir(config: Config) -> Path:
    """The archive folder of a site."""
    return Path(config.audit_archive_dir or Path(config.state_dir) / "audit" / "archive")


def list_archives(folder: Path) -> list[ArchiveFile]:
    """The archive files of a folder, oldest range first (none when the folder does not exist)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match and path.is_file():
            found.append(ArchiveFile(path, int(match[1]), int(match[2])))
    return sorted(found, key=lambda item: item.first_seq)


class _HashingReader:
    """A binary reader that hashes what passes through (the archive's SHA-256 in the same read)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


def walk_file(path: Path, walker: Walker) -> tuple[Problem | None, str]:
    """Feed an archive's records to a walker and check its trailer; return (problem, file SHA-256)."""
    name = path.name
    with open(path, "rb") as raw:
        reader = _HashingReader(raw)
        try:
            with gzip.open(reader, "rt", encoding="utf-8") as lines:  # type: ignore[call-overload]
                problem = _walk_lines(lines, name, walker)
            reader.read()  # the bytes after the gzip stream, if any, count in the digest too
        except (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            problem = Problem(None, f"archive {name} is unreadable: {error}")
    return problem, reader.digest.hexdigest()


def _walk_lines(lines: Iterator[str], name: str, walker: Walker) -> Problem | None:
    header = json.loads(next(iter(lines)))
    if header.get("format") != FORMAT:
        return Problem(None, f"archive {name} is not an audit archive ({header.get('format')!r})")
    first, prev_hash = int(header["first_seq"]), str(header["prev_hash"])
    if first < walker.expected:
        return Problem(first, f"archive {name} overlaps records already verified (from {first})")
    walker.start(first, prev_hash)
    trailer: dict[str, Any] | None = None
    count = 0
    for line in lines:
        data = json.loads(line)
        if data.get("trailer"):
            trailer = data
            break
        problem = walker.feed(tuple(data[column] for column in COLUMNS))
        if problem is not None:
            return Problem(problem.seq, f"archive {name}: {problem.reason}")
        count += 1
    if trailer is None:
        return Problem(first + count, f"archive {name} is cut short (no trailer after {count} records)")
    sealed = {**_sealed_fields(header), "count": count, "head": walker.prev}
    if trailer.get("count") != count or trailer.get("head") != walker.prev:
        return Problem(first + count, f"archive {name} does not hold what its trailer says")
    try:
        expected = mac(walker.keyring.get(str(trailer["key_id"])), sealed)
    except AuditError as error:
        return Problem(first, f"archive {name} cannot be checked: {error.message}")
    if trailer.get("mac") != expected:
        return Problem(first, f"archive {name} has a forged trailer (its HMAC does not match)")
    return None


def _sealed_fields(header: dict[str, Any]) -> dict[str, Any]:
    return {key: header[key] for key in ("format", "first_seq", "last_seq", "prev_hash")}


def archive_older_than(config: Config, store: Store, days: int, now: dt.datetime | None = None) -> ArchiveResult | None:
    """Archive records older than ``days`` days (see :func:`archive_before`)."""
    return archive_before(config, store, (now or utcnow()) - dt.timedelta(days=days))


def archive_before(config: Config, store: Store, cutoff: dt.datetime, actor: str = "system") -> ArchiveResult | None:
    """Move every record older than ``cutoff`` (the oldest contiguous run) into a new archive file.

    Returns None when nothing is that old. Raises AuditError, having removed
    nothing, when the chain does not verify, the vault key is unreadable, or
    the file cannot be written or read back. Costs one full verification and
    one pass over the archived records; one run at a time per folder (a lock
    file), so a manual run and the scheduled one never interleave.
    """
    keyring = keyring_for(store)
    if not keyring.available:
        raise AuditError(f"archiving the audit log needs the audit key: {keyring.unavailable}")
    folder = archive_dir(config)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = open(folder / LOCK_NAME, "a")  # noqa: SIM115 - held for the whole run, closed below
    except OSError as error:
        raise AuditError(f"cannot use the audit archive folder {folder}: {error.strerror or error}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _archive_locked(config, store, cutoff, folder, actor)


def _archive_locked(
    config: Config, store: Store, cutoff: dt.datetime, folder: Path, actor: str
) -> ArchiveResult | None:
    from .log import append_record
    from .verify import verify

    cutoff_text = cutoff.astimezone(dt.UTC).isoformat(timespec="microseconds")
    with store.session() as session:
        first = session.scalar(select(func.min(AuditRecord.seq)))
        boundary = session.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.at >= cutoff_text))
        last = (boundary - 1) if boundary is not None else session.scalar(select(func.max(AuditRecord.seq)))
    if first is None or last is None or last < first:
        return None
    checked = verify(store, config=config)
    if not checked.ok:
        raise AuditError(f"the audit chain does not verify ({checked.reason}): nothing archived")
    path = folder / f"audit-{first:012d}-{last:012d}.jsonl.gz"
    prev_hash, head = _write_file(store, path, first, last, cutoff_text)
    problem, sha256 = walk_file(path, Walker(keyring_for(store)))
    if problem is not None:
        path.unlink(missing_ok=True)
        raise AuditError(f"the archive just written does not verify ({problem.reason}): nothing archived")
    count = last - first + 1
    voucher = {
        "file": path.name,
        "first_seq": first,
        "last_seq": last,
        "count": count,
        "prev_hash": prev_hash,
        "head": head,
        "sha256": sha256,
        "cutoff": cutoff_text,
    }

    def remove_archived(session: Session) -> None:
        deleted = session.execute(delete(AuditRecord).where(AuditRecord.seq.between(first, last)))
        removed = deleted.rowcount  # type: ignore[attr-defined]
        if removed != count:
            raise AuditError(f"expected to remove {count} archived records, found {removed}: nothing removed")

    row = append_record(
        store,
        {"actor": actor, "action": ARCHIVE_ACTION, "target": path.name, "outcome": "ok", "client": "local",
         "details": canonical_json(voucher), "site": None},
        before_write=remove_archived,
    )  # fmt: skip
    from .anchor import append_local

    with contextlib.suppress(OSError):  # the scheduled anchor writes it on its next run
        append_local(config, row.seq, row.hash)
    return ArchiveResult(path, first, last, count, prev_hash, head, sha256, row.seq)


def _write_file(store: Store, path: Path, first: int, last: int, cutoff_text: str) -> tuple[str, str]:
    """Write the archive (temporary name, fsync, rename, fsync folder); return (hash before it, head)."""
    temporary = path.with_name(f".{path.name}.tmp")
    columns = [getattr(AuditRecord, name) for name in COLUMNS]
    expected = first
    prev_hash = head = key_id = ""
    try:
        with open(temporary, "wb") as raw:
            os.fchmod(raw.fileno(), 0o600)
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                with store.engine.connect() as connection:
                    rows = connection.execution_options(yield_per=BATCH).execute(
                        select(*columns).where(AuditRecord.seq.between(first, last)).order_by(AuditRecord.seq)
                    )
                    for row in rows:
                        record = dict(zip(COLUMNS, row, strict=True))
                        if record["seq"] != expected:
                            raise AuditError(f"record {expected} is missing: nothing archived")
                        if expected == first:
                            prev_hash = record["prev_hash"]
                            header = {"format": FORMAT, "first_seq": first, "last_seq": last, "prev_hash": prev_hash}
                            packed.write((canonical_json({**header, "count": last - first + 1}) + "\n").encode())
                        packed.write((canonical_json(record) + "\n").encode("utf-8"))
                        head, key_id = record["hash"], record["key_id"] or key_id
                        expected += 1
                if expected != last + 1:
                    raise AuditError(f"records {expected}-{last} are missing: nothing archived")
                key_id = key_id or _current_key(store)
                sealed = {**header, "count": last - first + 1, "head": head}
                trailer = {"trailer": True, "count": last - first + 1, "head": head, "key_id": key_id}
                trailer["mac"] = mac(keyring_for(store).get(key_id), sealed)
                packed.write((canonical_json(trailer) + "\n").encode())
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise AuditError(f"cannot write the audit archive {path}: {error.strerror or error}") from None
    except AuditError:
        temporary.unlink(missing_ok=True)
        raise
    return prev_hash, head


def _current_key(store: Store) -> str:
    """The key the chain is keyed with now (the newest record's), for archives of unkeyed records only."""
    with store.session() as session:
        key_id = session.scalar(select(AuditRecord.key_id).order_by(AuditRecord.seq.desc()).limit(1))
    if key_id is None:
        raise AuditError("the audit chain is not keyed yet: nothing archived")
    return str(key_id)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
