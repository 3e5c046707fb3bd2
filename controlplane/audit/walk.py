"""Walking the chain record by record: the one place that decides whether a record is what it claims.

:class:`Walker` is fed records in seq order (from archives, then the
database) and stops at the first one that is missing, out of place, edited,
unkeyed after the chain became keyed, keyed with a key the vault lacks, or
different from a head anchored outside the database. A source that starts
later than expected (records moved to an archive that is not at hand) opens
a *gap*; a gap is closed only by a verified keyed ``audit.archive`` record
that vouches for exactly those records (see :mod:`.archive`).

The walker follows the chain's hash (:mod:`.chain`): SHA-256 from the
start, switched by each ``audit.hash`` record (which is itself made with the
hash it names). After a gap the hash in force is not known (the switch may
be in the archive not at hand): the first record after it is checked under
each hash, and the one that matches is in force from there on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .chain import (
    ARCHIVE_ACTION,
    DEFAULT_HASH,
    GENESIS,
    HASH_ACTION,
    HASHES,
    announced_hash,
    hash_available,
    keyed_hasher,
    unkeyed_row_hash,
)
from .keys import Keyring


@dataclass(frozen=True)
class Anchor:
    """A head written outside the database: record ``seq`` had hash ``head`` at ``at``, on ``where``."""

    where: str
    seq: int
    head: str
    at: str


@dataclass(frozen=True)
class Voucher:
    """What a keyed ``audit.archive`` record says about an archive file."""

    file: str
    first_seq: int
    last_seq: int
    prev_hash: str
    head: str
    sha256: str


@dataclass
class Problem:
    """The first record that fails, and why."""

    seq: int | None
    reason: str


class _NoKey(Exception):
    """A keyed record's key cannot be had (no vault, or the key is gone)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Walker:
    """The running state of one verification (see the module docstring)."""

    keyring: Keyring
    anchors: dict[int, list[Anchor]] = field(default_factory=dict)
    prev: str = GENESIS
    expected: int = 1
    count: int = 0
    keyed_since: int | None = None
    keyed_since_at: str | None = None
    unkeyed_prefix: int = 0
    gaps: list[tuple[int, int, str, str]] = field(default_factory=list)  # first, last, hash before, hash after
    vouchers: dict[str, Voucher] = field(default_factory=dict)
    algorithm: str | None = DEFAULT_HASH  # the hash in force; None right after a gap (see the module docstring)
    hashes_seen: set[str] = field(default_factory=set)
    _hashers: dict[tuple[str, str], Callable[[str, tuple[Any, ...]], str]] = field(default_factory=dict)

    def start(self, seq: int, prev_hash: str) -> None:
        """A source begins at ``seq`` after ``prev_hash``: a later start opens a gap (to be vouched for)."""
        if seq > self.expected:
            self.gaps.append((self.expected, seq - 1, self.prev, prev_hash))
            self.prev, self.expected = prev_hash, seq
            self.algorithm = None

    def feed(self, row: tuple[Any, ...]) -> Problem | None:
        """Check one record (a tuple in :data:`~.chain.COLUMNS` order); None when it holds.

        The hot loop of verification: it reads the tuple by position and
        builds no dict beyond the hashed body.
        """
        seq, key_id, prev_hash = row[0], row[9], row[10]
        if seq != self.expected:
            if seq > self.expected:
                return Problem(self.expected, f"record {self.expected} is missing (next is {seq})")
            return Problem(seq, f"record {seq} appears twice or out of order")
        if prev_hash != self.prev:
            return Problem(seq, f"record {seq} does not follow record {seq - 1} (deleted or reordered)")
        if key_id is None and self.keyed_since is not None:
            return Problem(
                seq,
                f"record {seq} is not keyed, but the chain is keyed since record {self.keyed_since}: "
                "rewritten by someone without the audit key",
            )
        algorithm = self.algorithm
        if row[3] == HASH_ACTION:
            algorithm = announced_hash(row[7])
            if algorithm is None or not hash_available(algorithm):
                return Problem(seq, f"record {seq} switches the chain to a hash this host cannot compute")
        try:
            if algorithm is None:
                algorithm, digest = self._matching(key_id, prev_hash, row)
            else:
                digest = self._digest(algorithm, key_id, prev_hash, row)
        except _NoKey as error:
            return Problem(seq, f"record {seq} cannot be checked: {error.reason}")
        if digest != row[11]:
            return Problem(seq, f"record {seq} was modified (its hash does not match its content)")
        self.algorithm = algorithm
        self.hashes_seen.add(algorithm)
        if seq in self.anchors:
            for anchor in self.anchors[seq]:
                if anchor.head != digest:
                    return Problem(
                        seq,
                        f"record {seq} is not the one anchored on {anchor.where} at {anchor.at}: "
                        "the chain was rewritten",
                    )
        if key_id is not None:
            if self.keyed_since is None:
                self.keyed_since, self.keyed_since_at = seq, row[1]
                self.unkeyed_prefix = self.count
            if row[3] == ARCHIVE_ACTION:
                self._note_voucher(row[7])
        self.prev = digest
        self.expected += 1
        self.count += 1
        return None

    def _digest(self, algorithm: str, key_id: str | None, prev_hash: str, row: tuple[Any, ...]) -> str:
        """The record's hash under ``algorithm``; raises _NoKey when its key cannot be had."""
        if key_id is None:
            return unkeyed_row_hash(prev_hash, row, algorithm)
        hasher = self._hashers.get((key_id, algorithm))
        if hasher is None:
            try:
                hasher = self._hashers[key_id, algorithm] = keyed_hasher(self.keyring.get(key_id), algorithm)
            except Exception as error:  # AuditError: no vault, or the key is gone
                raise _NoKey(str(error)) from error
        return hasher(prev_hash, row)

    def _matching(self, key_id: str | None, prev_hash: str, row: tuple[Any, ...]) -> tuple[str, str]:
        """The hash under which the record after a gap matches, and its digest (the last tried when none does)."""
        algorithm, digest = DEFAULT_HASH, ""
        for algorithm in (name for name in HASHES if hash_available(name)):
            digest = self._digest(algorithm, key_id, prev_hash, row)
            if digest == row[11]:
                break
        return algorithm, digest

    def _note_voucher(self, details: str) -> None:
        try:
            data = json.loads(details)
            voucher = Voucher(
                str(data["file"]),
                int(data["first_seq"]),
                int(data["last_seq"]),
                str(data["prev_hash"]),
                str(data["head"]),
                str(data["sha256"]),
            )
        except (ValueError, KeyError, TypeError):
            return  # a keyed record we wrote ourselves: malformed means another version wrote it
        self.vouchers[voucher.file] = voucher

    def unvouched_gap(self) -> Problem | None:
        """The first gap no verified archive record vouches for (records cut off, not archived)."""
        for first, last, before, after in self.gaps:
            if not any(
                v.first_seq == first and v.last_seq == last and v.prev_hash == before and v.head == after
                for v in self.vouchers.values()
            ):
                if first == last:
                    return Problem(first, f"record {first} is missing and no archive record vouches for it")
                return Problem(first, f"records {first}-{last} are missing and no archive record vouches for them")
        return None

    def gap_archives(self) -> list[str]:
        """The archive files (by name) whose records were trusted through their voucher, not read."""
        names = []
        for first, last, _before, after in self.gaps:
            names += [
                v.file for v in self.vouchers.values() if (v.first_seq, v.last_seq, v.head) == (first, last, after)
            ]
        return names
