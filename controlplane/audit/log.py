"""Writing and reading records: :func:`append` (keyed when the store has its vault) and :func:`list_records`."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from controlplane.store.models import AuditRecord, Setting, utcnow

from .chain import (
    CHECKPOINT_ACTION,
    COLUMNS,
    DEFAULT_HASH,
    GENESIS,
    HASH_ACTION,
    HASH_SETTING,
    HEAD_KEY,
    AuditError,
    canonical_json,
    keyed_hash,
    record_hash,
    require_hash,
)
from .keys import Keyring, keyring_for

if TYPE_CHECKING:
    from controlplane.store import Store

log = logging.getLogger(__name__)
ATTEMPTS = 50


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
    store: Store,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    client: str = "local",
    details: dict[str, Any] | None = None,
    site: str | None = None,
) -> AuditRecord:
    """Append one record to the chain and return it.

    ``actor`` did ``action`` (``secret.set``) on ``target`` with ``outcome``
    from ``client``; ``details`` are JSON-safe (never a secret value);
    ``site`` is the site the record concerns (None: ministry level, which
    only ministry-level users see). Concurrent writers are serialised by the
    unique seq: a writer that loses the race retries on the new head.

    The record is hashed with the configured ``audit.hash`` (SHA-256 or SM3;
    an ``audit.hash`` record goes first when that differs from the chain's
    newest record) and keyed (HMAC, :mod:`.chain`) when the store reaches
    its vault; the first keyed record after unkeyed ones is preceded by a
    checkpoint that vouches for them (:data:`~.chain.CHECKPOINT_ACTION`), and
    the first keyed record is anchored in the local anchor log at once.
    Raises AuditError when the chain is keyed but this process cannot read
    the key (a record it wrote unkeyed would break the chain), or when the
    configured hash is not offered by OpenSSL here.
    """
    entry = {
        "actor": _clip(actor, 128),
        "action": _clip(action, 64),
        "target": _clip(target, 512),
        "outcome": _clip(outcome, 32),
        "client": _clip(client, 64),
        "details": canonical_json(details or {}),
        "site": _clip(site, 64) if site else None,
    }
    return append_record(store, entry)


def append_record(
    store: Store, entry: dict[str, Any], before_write: Callable[[Session], None] | None = None
) -> AuditRecord:
    """Append a prepared record (see :func:`append`); ``before_write`` runs first in the same transaction.

    The archive uses ``before_write`` to delete the records it archived in
    the transaction that appends the record vouching for them: both happen,
    or neither. An AuditError it raises rolls everything back and propagates.
    """
    keyring = keyring_for(store)
    algorithm = require_hash(configured_hash(store))
    last_error: Exception | None = None
    made_key: str | None = None
    for _attempt in range(ATTEMPTS):
        newest = _newest(store)
        plan = _plan(store, keyring, newest)
        if plan.created:
            made_key = plan.key_id
        try:
            with store.session() as session:
                if _newest_in(session) != newest:
                    continue  # another writer moved the head meanwhile: plan again
                if before_write is not None:
                    before_write(session)
                row = _write(session, keyring, plan, newest, entry, algorithm)
        except (IntegrityError, OperationalError) as error:
            last_error = error
            continue
        if made_key is not None and made_key != plan.key_id:
            keyring.discard(made_key)  # another process keyed the chain first: ours was never used
        if plan.first_keyed:
            _anchor_first_keyed(store, row)
        return row
    raise AuditError(f"could not append to the audit log: {last_error or 'the head kept moving'}")


def configured_hash(store: Store) -> str:
    """The ``audit.hash`` of the store's configuration (SHA-256 for a store opened without one)."""
    config = getattr(store, "config", None)
    return str(getattr(config, "audit_hash", DEFAULT_HASH) or DEFAULT_HASH)


class _Plan:
    """How the next record is hashed: unkeyed, keyed with a key, and whether a checkpoint comes first."""

    def __init__(self, key_id: str | None, created: bool = False, checkpoint: dict[str, Any] | None = None) -> None:
        self.key_id, self.created, self.checkpoint = key_id, created, checkpoint
        self.first_keyed = False


def _newest(store: Store) -> tuple[int, str, str | None] | None:
    with store.session() as session:
        return _newest_in(session)


def _newest_in(session: Session) -> tuple[int, str, str | None] | None:
    row = session.execute(
        select(AuditRecord.seq, AuditRecord.hash, AuditRecord.key_id).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1], row[2]) if row else None


def _plan(store: Store, keyring: Keyring, newest: tuple[int, str, str | None] | None) -> _Plan:
    """Decide the hashing of the next record from the newest one (outside any write transaction)."""
    if not keyring.available:
        if newest is not None and newest[2] is not None:
            raise AuditError(
                f"the audit chain is keyed (key {newest[2]}) but this process cannot read the audit key: "
                f"{keyring.unavailable}"
            )
        return _Plan(None)
    if newest is not None and newest[2] is not None:
        keyring.get(newest[2])  # raises AuditError when the vault lost it: never re-key silently
        return _Plan(newest[2])
    key_id, created = keyring.reuse_or_create()
    plan = _Plan(key_id, created)
    plan.first_keyed = True
    if newest is not None:
        plan.checkpoint = _checkpoint_details(store, key_id, newest)
    return plan


def _checkpoint_details(store: Store, key_id: str, newest: tuple[int, str, str | None]) -> dict[str, Any]:
    """What the checkpoint vouches for: the unkeyed records as found now, verified or not."""
    from .walk import Walker

    walker = Walker(Keyring(None, "unkeyed prefix"))
    problem = None
    columns = [getattr(AuditRecord, name) for name in COLUMNS]
    with store.engine.connect() as connection:
        rows = connection.execution_options(yield_per=5000).execute(
            select(*columns).where(AuditRecord.seq <= newest[0]).order_by(AuditRecord.seq)
        )
        for row in rows:
            if walker.count == 0:
                walker.start(row[0], row[COLUMNS.index("prev_hash")])
            problem = walker.feed(tuple(row))
            if problem is not None:
                break
    problem = problem or walker.unvouched_gap()
    return {
        "key_id": key_id,
        "unkeyed_records": newest[0],
        "unkeyed_head": newest[1],
        "unkeyed_verified": problem is None,
        "unkeyed_problem": problem.reason if problem else "",
    }


def _write(
    session: Session,
    keyring: Keyring,
    plan: _Plan,
    newest: tuple[int, str, str | None] | None,
    entry: dict[str, Any],
    algorithm: str = DEFAULT_HASH,
) -> AuditRecord:
    seq, prev_hash = (newest[0] + 1, newest[1]) if newest else (1, GENESIS)
    # The chain's hash so far: the setting moves with the head in this transaction, so it is the newest record's.
    in_force = session.get(Setting, HASH_SETTING)
    current = in_force.value if in_force is not None else DEFAULT_HASH
    if plan.checkpoint is not None:
        checkpoint = {
            "actor": "system",
            "action": CHECKPOINT_ACTION,
            "target": "audit-chain",
            "outcome": "ok" if plan.checkpoint["unkeyed_verified"] else "unverified",
            "client": "local",
            "details": canonical_json(plan.checkpoint),
            "site": None,
        }
        first = _insert(session, keyring, plan.key_id, seq, prev_hash, checkpoint, current)
        seq, prev_hash = seq + 1, first.hash
    if algorithm != current:
        switch = {
            "actor": "system",
            "action": HASH_ACTION,
            "target": "audit-chain",
            "outcome": "ok",
            "client": "local",
            "details": canonical_json({"hash": algorithm, "previous": current}),
            "site": None,
        }
        first = _insert(session, keyring, plan.key_id, seq, prev_hash, switch, algorithm)
        seq, prev_hash = seq + 1, first.hash
        if in_force is None:
            session.add(Setting(key=HASH_SETTING, value=algorithm))
        else:
            in_force.value = algorithm
    row = _insert(session, keyring, plan.key_id, seq, prev_hash, entry, algorithm)
    head = session.get(Setting, HEAD_KEY)
    if head is None:
        session.add(Setting(key=HEAD_KEY, value=f"{row.seq}:{row.hash}"))
    else:
        head.value = f"{row.seq}:{row.hash}"
    session.flush()
    return row


def _insert(
    session: Session,
    keyring: Keyring,
    key_id: str | None,
    seq: int,
    prev_hash: str,
    entry: dict[str, Any],
    algorithm: str,
) -> AuditRecord:
    record = {"seq": seq, "at": utcnow().isoformat(timespec="microseconds"), **entry, "key_id": key_id}
    if key_id:
        digest = keyed_hash(keyring.get(key_id), prev_hash, record, algorithm)
    else:
        digest = record_hash(prev_hash, record, algorithm)
    row = AuditRecord(**record, prev_hash=prev_hash, hash=digest)
    session.add(row)
    session.flush()
    return row


def _anchor_first_keyed(store: Store, row: AuditRecord) -> None:
    """Anchor the first keyed record locally at once, so wiping the keyed chain is caught from its start."""
    config = getattr(store, "config", None)
    if config is None:
        return
    from .anchor import append_local

    try:
        append_local(config, row.seq, row.hash)
    except OSError as error:
        log.error("could not anchor the first keyed audit record: %s", error)


def list_records(
    store: Store,
    *,
    limit: int = 100,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    sites: Collection[str] | None = None,
) -> list[AuditRecord]:
    """Return records newest first, optionally before a seq and filtered by actor/action prefix.

    ``sites`` None returns records of every site and the ministry level;
    otherwise only records whose site is one of ``sites`` (a scoped user's,
    descendants included), never a ministry-level record.
    """
    query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditRecord.seq < before)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    if action:
        query = query.where(AuditRecord.action.startswith(action, autoescape=True))
    if sites is not None:
        query = query.where(AuditRecord.site.in_(sorted(sites)))
    with store.session() as session:
        return list(session.scalars(query))


def common_site(sites: Iterable[str | None]) -> str | None:
    """The one site every item names, or None (ministry level) when they differ or one names none."""
    found = set(sites)
    if len(found) == 1:
        (site,) = found
        return site
    return None


def site_from(details: Mapping[str, Any]) -> str | None:
    """The site a record's details name: ``site``, or ``sites`` when it holds exactly one."""
    site = details.get("site")
    if isinstance(site, str) and site:
        return site
    sites = details.get("sites")
    if isinstance(sites, list | tuple) and len(sites) == 1 and isinstance(sites[0], str):
        return sites[0]
    return None


def run_site(store: Store, run_id: int | None) -> str | None:
    """The site of a run (who may see it), for records about the run; None for none or a national run."""
    if run_id is None:
        return None
    from controlplane.store.models import Run

    with store.session() as session:
        return session.scalar(select(Run.site).where(Run.id == run_id))
