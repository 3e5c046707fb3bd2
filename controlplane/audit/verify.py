"""``egov audit verify``: recompute the chain across archives and database, against every anchor.

What fails a verification (``ok`` False, the first bad record named):
an edited, missing, reordered or unkeyed-after-keying record; a keyed record
whose key the vault lacks; records missing from the front that no archive
record vouches for; an archive that does not match its voucher; a record that
differs from its anchored head; an anchored record that no longer exists (an
emptied, cut-back or rolled-back database); a head setting that disagrees; a
vault that holds an audit key while no record is keyed; an unreadable anchor
log. What it says when it holds: how many records, since which record it can
vouch for them with the key, and the newest anchor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from controlplane.store.models import AuditRecord, Setting

from .chain import COLUMNS, DEFAULT_HASH, HEAD_KEY, AuditError
from .keys import Keyring, keyring_for
from .walk import Anchor, Problem, Walker

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store


@dataclass(frozen=True)
class Verification:
    """The result of checking the chain (see the module docstring)."""

    ok: bool
    count: int
    head: str
    bad_seq: int | None = None
    reason: str = ""
    keyed_since: int | None = None
    keyed_since_at: str | None = None
    unkeyed_prefix: int = 0
    last_anchor: Anchor | None = None
    anchor_logs: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()
    trusted_archive: str | None = None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The verification as JSON-safe data (the CLI's --json and the API)."""
        anchor = self.last_anchor
        return {
            "ok": self.ok,
            "count": self.count,
            "head": self.head,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
            "keyed_since": self.keyed_since,
            "keyed_since_at": self.keyed_since_at,
            "unkeyed_prefix": self.unkeyed_prefix,
            "last_anchor": {"seq": anchor.seq if anchor.head else None, "at": anchor.at, "where": anchor.where}
            if anchor
            else None,
            "anchor_logs": list(self.anchor_logs),
            "archives": list(self.archives),
            "trusted_archive": self.trusted_archive,
            "notes": list(self.notes),
            "vouching": self.vouching(),
        }

    def report_lines(self) -> list[str]:
        """What ``egov audit verify`` prints: the verdict, since when it vouches, archives, notes."""
        if self.ok:
            lines = [f"ok: {self.count} records, chain intact; head {self.head}"]
        else:
            lines = [f"BROKEN at record {self.bad_seq if self.bad_seq is not None else '-'}: {self.reason}"]
        lines.append(self.vouching())
        if self.anchor_logs:
            lines.append(f"anchors checked: {', '.join(self.anchor_logs)}")
        if self.archives:
            lines.append(f"archives verified: {', '.join(self.archives)}")
        lines += [f"note: {note}" for note in self.notes]
        return lines

    def vouching(self) -> str:
        """One sentence: since when the chain is keyed, and the newest anchor of its head."""
        if self.keyed_since is None:
            keyed = "chain not keyed (no vault key yet): it proves order, not that nobody rewrote it"
        else:
            keyed = f"chain keyed since record {self.keyed_since} at {(self.keyed_since_at or '')[:19]}Z"
            if self.unkeyed_prefix:
                keyed += f" (vouching for the {self.unkeyed_prefix} unkeyed records before it)"
        if self.last_anchor is None:
            return f"{keyed}; head never anchored"
        anchor = self.last_anchor
        seq = f" seq {anchor.seq}" if anchor.head else ""  # a scoped view hides which record it was
        return f"{keyed}; last anchored head{seq} at {anchor.at} on {anchor.where}"


def verify(
    store: Store, *, config: Config | None = None, remote: bool = False, read_archives: bool = True
) -> Verification:
    """Check the whole chain; returns a Verification (never raises for a damaged chain).

    ``config`` (default: the store's) gives the local anchor log and the
    archive folder; ``remote`` also reads the anchor logs on the backup
    centers (an SSH connection each; an unreachable center is a note, not a
    failure: the local anchors still stand); without ``read_archives`` the
    archive files are not read and the archived prefix is trusted through its
    keyed voucher (the console's periodic check, which must not reread years
    of archives every minute). Costs one pass over every record read (about
    1 s per 100,000 on SQLite, ``tests/bench/bench_audit.py``).
    """
    config = config or getattr(store, "config", None)
    try:
        keyring = keyring_for(store)
    except AuditError as error:
        return Verification(False, 0, "", None, error.message)
    anchors, problems, notes, where = _anchors(config, keyring.stored_ids() if remote else [], remote)
    walker = Walker(keyring)
    for anchor in anchors:
        walker.anchors.setdefault(anchor.seq, []).append(anchor)
    failure, files = _walk(store, config if read_archives else None, walker, notes)
    if failure is not None:
        return _failed(walker, failure)
    last_seq = walker.expected - 1
    failure = _after_walk(store, keyring, walker, anchors, last_seq)
    if failure is None and problems:
        failure = Problem(None, problems[0])
    if failure is not None:
        return _failed(walker, failure)
    if walker.hashes_seen - {DEFAULT_HASH}:
        notes.append(f"records hashed with {' and '.join(sorted(walker.hashes_seen))} (audit.hash records switch it)")
    trusted = walker.gap_archives()
    for name in trusted:
        voucher = walker.vouchers[name]
        notes.append(
            f"trusting archive {name} (records {voucher.first_seq}-{voucher.last_seq}, sha256 {voucher.sha256[:16]}…):"
            " not found in the archive folder, vouched for by a keyed record"
        )
    return Verification(
        True,
        walker.count,
        walker.prev,
        keyed_since=walker.keyed_since,
        keyed_since_at=walker.keyed_since_at,
        unkeyed_prefix=walker.unkeyed_prefix,
        last_anchor=max(anchors, key=lambda a: (a.seq, a.at)) if anchors else None,
        anchor_logs=tuple(where),
        archives=tuple(files),
        trusted_archive=trusted[0] if trusted else None,
        notes=tuple(notes),
    )


def _anchors(
    config: Config | None, key_ids: list[str], remote: bool
) -> tuple[list[Anchor], list[str], list[str], list[str]]:
    """Every anchor (local, and of ``key_ids`` on the centers when asked), problems reading them, notes, logs read.

    The remote logs are found by the vault's audit keys, not the records: a
    wiped database still finds the anchors that prove what it held.
    """
    if config is None:
        return [], [], ["no site configuration: anchors and archives not checked"], []
    from .anchor import read_local, read_remote, remote_logs

    anchors, problems = read_local(config)
    notes: list[str] = []
    where = ["local"]
    if remote:
        logs, notes = remote_logs(config, key_ids)
        for remote_log in logs:
            try:
                found, bad = read_remote(remote_log)
            except AuditError as error:
                notes.append(f"remote anchor not read: {error.message}")
                continue
            anchors += found
            problems += bad
            where.append(remote_log.where)
    return anchors, problems, notes, where


def _walk(store: Store, config: Config | None, walker: Walker, notes: list[str]) -> tuple[Problem | None, list[str]]:
    """Feed the archives at hand, then the database, to the walker; the first problem, and the archives read."""
    from .archive import archive_dir, list_archives, walk_file

    with store.session() as session:
        db_first = session.scalar(select(func.min(AuditRecord.seq)))
    walker_files: list[tuple[str, str]] = []
    for found in list_archives(archive_dir(config)) if config is not None else []:
        if db_first is not None and found.last_seq >= db_first:
            notes.append(f"archive {found.name} holds records still in the database (an interrupted run): not read")
            continue
        problem, sha256 = walk_file(found.path, walker)
        if problem is not None:
            return problem, []
        walker_files.append((found.name, sha256))
    columns = [getattr(AuditRecord, name) for name in COLUMNS]
    prev_index = COLUMNS.index("prev_hash")
    with store.engine.connect() as connection:
        result = connection.execution_options(yield_per=5000).execute(select(*columns).order_by(AuditRecord.seq))
        feed = walker.feed
        for batch in result.partitions():
            if walker.count == 0 or batch[0][0] > walker.expected:
                walker.start(batch[0][0], batch[0][prev_index])
            for row in batch:
                problem = feed(row)
                if problem is not None:
                    return problem, []
    for name, sha256 in walker_files:
        voucher = walker.vouchers.get(name)
        if voucher is not None and voucher.sha256 != sha256:
            problem = Problem(
                voucher.first_seq, f"archive {name} is not the file its record vouches for (sha256 differs)"
            )
            return problem, []
    return walker.unvouched_gap(), [name for name, _sha256 in walker_files]


def _after_walk(store: Store, keyring: Keyring, walker: Walker, anchors: list[Anchor], last_seq: int) -> Problem | None:
    """The checks that need the whole walk: head setting, anchors past the end, a key without keyed records."""
    with store.session() as session:
        head = session.scalar(select(Setting.value).where(Setting.key == HEAD_KEY))
    if head is not None:
        head_seq, _, head_hash = head.partition(":")
        if not head_seq.isdigit() or int(head_seq) != last_seq or head_hash != walker.prev:
            return Problem(last_seq + 1, f"records after {last_seq} were removed (head says {head_seq[:20]})")
    elif last_seq:
        return Problem(None, "the audit head is missing")
    beyond = [anchor for anchor in anchors if anchor.seq > last_seq]
    if beyond:
        newest = max(beyond, key=lambda a: a.seq)
        return Problem(
            last_seq + 1,
            f"record {newest.seq} was anchored on {newest.where} at {newest.at}, but the log ends at record "
            f"{last_seq}: records were removed",
        )
    if walker.keyed_since is None and keyring.available:
        stored = keyring.stored_ids()
        if stored:
            return Problem(
                None,
                f"the vault holds audit key {stored[0]} but no record is keyed: the keyed records were removed "
                "or rewritten",
            )
    return None


def _failed(walker: Walker, problem: Problem) -> Verification:
    return Verification(
        False,
        walker.count,
        walker.prev,
        problem.seq,
        problem.reason,
        keyed_since=walker.keyed_since,
        keyed_since_at=walker.keyed_since_at,
    )


def for_sites(result: Verification, store: Store, sites: Collection[str]) -> Verification:
    """What a site-scoped user may see of a verification: the verdict, never other sites' records.

    The count becomes the number of records of ``sites``; the bad record and
    the reason are kept only when that record is of ``sites`` (otherwise "a
    record outside your sites"); the head hash, archive names and notes go.
    """
    with store.session() as session:
        count = session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.site.in_(sorted(sites))))
        bad_site = session.scalar(select(AuditRecord.site).where(AuditRecord.seq == result.bad_seq))
    visible = result.bad_seq is not None and bad_site in sites
    anchor = result.last_anchor
    return dataclasses.replace(
        result,
        count=int(count or 0),
        head="",
        bad_seq=result.bad_seq if visible else None,
        reason=result.reason if visible or result.ok else "a record outside your sites failed verification",
        last_anchor=Anchor(anchor.where, 0, "", anchor.at) if anchor else None,
        archives=(),
        trusted_archive=None,
        notes=(),
    )
