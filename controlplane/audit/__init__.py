"""The append-only, hash-chained audit log.

Each record's hash is SHA-256 over the previous record's hash and the
record's canonical JSON (sorted keys, no spaces, UTF-8). Editing a record
breaks its own hash; deleting or reordering breaks the link to the next. The
newest hash is also kept as ``audit.head`` so cutting records off the end is
detected too; ``egov audit verify`` prints it so it can be anchored elsewhere.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from controlplane.store.models import AuditRecord, Setting, utcnow

GENESIS = "0" * 64
HEAD_KEY = "audit.head"
FIELDS = ("seq", "at", "actor", "action", "target", "outcome", "client", "details")


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of a value (sorted keys, compact, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """Return the chain hash of a record given the previous record's hash."""
    body = {key: record[key] for key in FIELDS}
    return hashlib.sha256((prev_hash + "\n" + canonical_json(body)).encode("utf-8")).hexdigest()


def cli_actor() -> str:
    """The actor name of a command-line user: the OS account, marked as CLI."""
    try:
        return f"{getpass.getuser()}@cli"
    except (KeyError, OSError):
        return "unknown@cli"


def _clip(text: str, limit: int) -> str:
    text = str(text).replace("\x00", "\\0")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def append(
    store: Any,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    client: str = "local",
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record to the chain and return it.

    Given who did it (actor), what (action, e.g. ``secret.set``), on what
    (target), how it ended (outcome), from where (client address) and
    JSON-safe details (callers never put secret values here). Concurrent
    writers are serialised by the unique seq: a writer that loses the race
    retries on the new head.
    """
    last_error: Exception | None = None
    for _attempt in range(50):
        try:
            with store.session() as session:
                return _append_once(session, actor, action, target, outcome, client, details or {})
        except (IntegrityError, OperationalError) as error:
            last_error = error
    raise RuntimeError(f"could not append to the audit log: {last_error}")


def _append_once(
    session: Session, actor: str, action: str, target: str, outcome: str, client: str, details: dict[str, Any]
) -> AuditRecord:
    last = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    record = {
        "seq": seq,
        "at": utcnow().isoformat(timespec="microseconds"),
        "actor": _clip(actor, 128),
        "action": _clip(action, 64),
        "target": _clip(target, 512),
        "outcome": _clip(outcome, 32),
        "client": _clip(client, 64),
        "details": canonical_json(details),
    }
    digest = record_hash(prev_hash, record)
    row = AuditRecord(**record, prev_hash=prev_hash, hash=digest)
    session.add(row)
    head = session.get(Setting, HEAD_KEY)
    if head is None:
        session.add(Setting(key=HEAD_KEY, value=f"{seq}:{digest}"))
    else:
        head.value = f"{seq}:{digest}"
    session.flush()
    return row


@dataclass(frozen=True)
class Verification:
    """The result of checking the chain: how many records, and the first bad one."""

    ok: bool
    count: int
    head: str
    bad_seq: int | None = None
    reason: str = ""


def verify(store: Any) -> Verification:
    """Recompute the whole chain and compare it with what is stored.

    Returns a Verification naming the first record that was edited, deleted
    or moved (its seq and why), or ok with the count and head hash.
    """
    columns = [getattr(AuditRecord, name) for name in FIELDS] + [AuditRecord.prev_hash, AuditRecord.hash]
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    with store.engine.connect() as connection:
        result = connection.execution_options(yield_per=5000).execute(select(*columns).order_by(AuditRecord.seq))
        for row in result:
            record = dict(zip(FIELDS, row[:8], strict=True))
            stored_prev, stored_hash = row[8], row[9]
            seq = record["seq"]
            if seq != expected_seq:
                return Verification(
                    False, count, prev_hash, expected_seq, f"record {expected_seq} is missing (next is {seq})"
                )
            if stored_prev != prev_hash:
                return Verification(
                    False,
                    count,
                    prev_hash,
                    seq,
                    f"record {seq} does not follow record {seq - 1} (deleted or reordered)",
                )
            if record_hash(prev_hash, record) != stored_hash:
                return Verification(
                    False, count, prev_hash, seq, f"record {seq} was modified (its hash does not match its content)"
                )
            prev_hash = stored_hash
            expected_seq += 1
            count += 1
        head = connection.execute(select(Setting.value).where(Setting.key == HEAD_KEY)).scalar()
    if head is not None:
        head_seq, _, head_hash = head.partition(":")
        if int(head_seq) != count or head_hash != prev_hash:
            return Verification(
                False, count, prev_hash, count + 1, f"records after {count} were removed (head says {head_seq})"
            )
    elif count:
        return Verification(False, count, prev_hash, None, "the audit head is missing")
    return Verification(True, count, prev_hash)


def list_records(
    store: Any, *, limit: int = 100, before: int | None = None, actor: str | None = None, action: str | None = None
) -> list[AuditRecord]:
    """Return records newest first, optionally before a seq and filtered by actor/action prefix."""
    query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditRecord.seq < before)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    if action:
        query = query.where(AuditRecord.action.startswith(action, autoescape=True))
    with store.session() as session:
        return list(session.scalars(query))
