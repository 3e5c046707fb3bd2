"""The append-only, keyed, anchored audit log.

Every record is chained to the one before it: its hash covers the previous
hash and its own canonical JSON, so editing a record breaks it and deleting
or reordering breaks the link to the next. Since migration 0010 the hash is
an **HMAC-SHA256 with an audit key held in the vault** (:mod:`.keys`,
:mod:`.chain`): whoever can write the database but lacks the master key can
no longer recompute the chain after a forged record. An older store's unkeyed
records are vouched for by a keyed checkpoint (``audit.key``) written before
the first keyed record. The head is also kept as the ``audit.head`` setting
and **anchored outside the database** (:mod:`.anchor`: a local anchor log and
the backup center), so an emptied, cut-back or rolled-back database is caught.
The hash is SHA-256 or, with ``audit.hash: sm3``, SM3 (HMAC-SM3 when keyed);
an ``audit.hash`` record marks each switch, so old records verify unchanged.
Old records are **archived, never dropped** (:mod:`.archive`), and
``egov audit verify`` (:mod:`.verify`) checks archives, database and anchors
in one pass.

Every record names the site it concerns (``site``; None for ministry-level
records): a site-scoped user sees only records of their sites
(:func:`list_records` with ``sites``, :func:`for_sites`).

Use ``from controlplane import audit; audit.append(store, actor=..., ...)``.
"""

from __future__ import annotations

from .chain import (
    ARCHIVE_ACTION,
    CHECKPOINT_ACTION,
    FIELDS,
    GENESIS,
    HASH_ACTION,
    HASHES,
    HEAD_KEY,
    AuditError,
    canonical_json,
    check_evidence_digest,
    evidence_digest,
    hash_available,
    keyed_hash,
    record_hash,
)
from .keys import KEY_SECRET_PREFIX, forget_keys, keyring_for, use_vault
from .log import append, cli_actor, common_site, configured_hash, list_records, run_site, site_from
from .verify import Verification, for_sites, verify

__all__ = [
    "ARCHIVE_ACTION",
    "CHECKPOINT_ACTION",
    "FIELDS",
    "GENESIS",
    "HASHES",
    "HASH_ACTION",
    "HEAD_KEY",
    "KEY_SECRET_PREFIX",
    "AuditError",
    "Verification",
    "append",
    "canonical_json",
    "check_evidence_digest",
    "cli_actor",
    "common_site",
    "configured_hash",
    "evidence_digest",
    "for_sites",
    "forget_keys",
    "hash_available",
    "keyed_hash",
    "keyring_for",
    "list_records",
    "record_hash",
    "run_site",
    "site_from",
    "use_vault",
    "verify",
]
