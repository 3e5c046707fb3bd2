"""How one audit record is hashed, and the errors of the audit log.

Two rules, told apart by a record's ``key_id``:

* **unkeyed** (``key_id`` None, what stores before migration 0010 wrote):
  SHA-256 over the previous record's hash, a newline and the record's
  canonical JSON. Anyone can recompute it, so it proves order, not origin.
* **keyed**: HMAC-SHA256 with the audit key ``key_id`` (32 random bytes held
  in the vault, see :mod:`.keys`) over the same text, the JSON also covering
  ``site`` and ``key_id``. Without the master key nobody can recompute it, so
  a database writer can neither edit a record nor rewrite the chain after it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from controlplane.errors import EgovError

GENESIS = "0" * 64
HEAD_KEY = "audit.head"
FIELDS = ("seq", "at", "actor", "action", "target", "outcome", "client", "details")
KEYED_FIELDS = (*FIELDS, "site", "key_id")
# Every column of a stored record, in the order verification and archives read them.
COLUMNS = (*FIELDS, "site", "key_id", "prev_hash", "hash")
CHECKPOINT_ACTION = "audit.key"
ARCHIVE_ACTION = "audit.archive"


class AuditError(EgovError, RuntimeError):
    """The audit log cannot be written or archived as asked (exit 1).

    A RuntimeError too, so callers that already guard an append against a
    failing log (a finished restore must not crash on it) keep doing so.
    """


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of a value (sorted keys, compact, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _record_encoder() -> Callable[[dict[str, Any]], str]:
    """The canonical JSON of a record body, by the C encoder json.dumps itself uses (2x faster called directly).

    Record bodies hold only str, int and None, so no ``default`` is needed;
    the output is byte for byte :func:`canonical_json`'s (a unit test holds it).
    """
    from json import encoder

    make = encoder.c_make_encoder
    if make is None:  # a Python without the C accelerator
        return canonical_json
    iterencode = make(None, None, encoder.encode_basestring, None, ":", ",", True, False, True)
    return lambda body: "".join(iterencode(body, 0))


body_json = _record_encoder()


def record_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """Return the unkeyed SHA-256 chain hash of a record given the previous record's hash."""
    body = {key: record[key] for key in FIELDS}
    return hashlib.sha256((prev_hash + "\n" + body_json(body)).encode("utf-8")).hexdigest()


def keyed_hash(key: bytes, prev_hash: str, record: dict[str, Any]) -> str:
    """Return the HMAC-SHA256 chain hash of a record (its ``site`` and ``key_id`` included)."""
    body = {name: record[name] for name in KEYED_FIELDS}
    message = (prev_hash + "\n" + body_json(body)).encode("utf-8")
    return hmac.digest(key, message, "sha256").hex()


def keyed_hasher(key: bytes) -> Callable[[str, tuple[Any, ...]], str]:
    """A fast keyed hash of a stored row (COLUMNS order) for verification: the key schedule is done once."""
    base = hmac.new(key, digestmod=hashlib.sha256)

    def digest(prev_hash: str, row: tuple[Any, ...]) -> str:
        state = base.copy()
        state.update((prev_hash + "\n" + body_json(dict(zip(KEYED_FIELDS, row[:10], strict=True)))).encode("utf-8"))
        return state.hexdigest()

    return digest


def unkeyed_row_hash(prev_hash: str, row: tuple[Any, ...]) -> str:
    """The unkeyed hash of a stored row (COLUMNS order), as :func:`record_hash` computes it."""
    body = dict(zip(FIELDS, row[:8], strict=True))
    return hashlib.sha256((prev_hash + "\n" + body_json(body)).encode("utf-8")).hexdigest()


def key_id_of(key: bytes) -> str:
    """The public id of an audit key (a SHA-256 prefix, safe to store next to every record)."""
    return hashlib.sha256(b"egov-audit-key:" + key).hexdigest()[:16]


def mac(key: bytes, value: Any) -> str:
    """HMAC-SHA256 of a JSON-safe value's canonical text (archive trailers)."""
    return hmac.digest(key, canonical_json(value).encode("utf-8"), "sha256").hex()
