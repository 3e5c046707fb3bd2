"""How one audit record is hashed, and the errors of the audit log.

Two rules, told apart by a record's ``key_id``:

* **unkeyed** (``key_id`` None, what stores before migration 0010 wrote):
  SHA-256 over the previous record's hash, a newline and the record's
  canonical JSON. Anyone can recompute it, so it proves order, not origin.
* **keyed**: HMAC-SHA256 with the audit key ``key_id`` (32 random bytes held
  in the vault, see :mod:`.keys`) over the same text, the JSON also covering
  ``site`` and ``key_id``. Without the master key nobody can recompute it, so
  a database writer can neither edit a record nor rewrite the chain after it.

The hash is SHA-256 unless ``audit.hash: sm3`` asks for SM3 (GB/T 32905; the
HMAC is then HMAC-SM3, both from ``cryptography``, whose OpenSSL also gives
the vault its SM4-GCM). A record does not carry its algorithm: an
``audit.hash`` record (:data:`HASH_ACTION`, details ``{"hash": "sm3",
"previous": "sha256"}``) says from which record on a hash applies, itself
included, so a chain made before the setting changed verifies unchanged and
one chain may mix both. A chain starts as SHA-256.
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
HASH_ACTION = "audit.hash"
HASH_SETTING = "audit.hash"  # the algorithm of the newest record, updated with the head (writers read it)
HASHES = ("sha256", "sm3")
DEFAULT_HASH = "sha256"


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


def _sm3() -> Any:
    """A fresh SM3 hash object of ``cryptography`` (the OpenSSL it ships, as the vault's SM4-GCM)."""
    from cryptography.hazmat.primitives import hashes

    return hashes.SM3()


def hash_available(algorithm: str) -> bool:
    """Whether ``algorithm`` can be used here (SM3: the OpenSSL under ``cryptography`` must offer it)."""
    if algorithm == "sha256":
        return True
    if algorithm != "sm3":
        return False
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes

    try:
        hashes.Hash(_sm3()).finalize()
    except UnsupportedAlgorithm:
        return False
    return True


def require_hash(algorithm: str) -> str:
    """``algorithm`` when it can be used; raises AuditError naming it otherwise (never a silent SHA-256)."""
    if not hash_available(algorithm):
        raise AuditError(
            f"audit.hash is {algorithm!r} but the OpenSSL of this installation does not offer it: "
            f"set audit.hash to one of {', '.join(a for a in HASHES if hash_available(a))}"
        )
    return algorithm


def digest_hex(algorithm: str, data: bytes) -> str:
    """The hex digest of ``data``: SHA-256 by hashlib (the old chains' speed), SM3 by ``cryptography``."""
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    from cryptography.hazmat.primitives import hashes

    state = hashes.Hash(_sm3())
    state.update(data)
    return state.finalize().hex()


def hmac_hex(key: bytes, algorithm: str, data: bytes) -> str:
    """The hex HMAC of ``data``: HMAC-SHA256 by the standard library, HMAC-SM3 by ``cryptography``."""
    return keyed_hasher_bytes(key, algorithm)(data)


def keyed_hasher_bytes(key: bytes, algorithm: str) -> Callable[[bytes], str]:
    """A reusable HMAC of ``algorithm`` under ``key``: the key schedule is done once, each call copies it."""
    if algorithm == "sha256":
        base = hmac.new(key, digestmod=hashlib.sha256)

        def sha256_mac(data: bytes) -> str:
            state = base.copy()
            state.update(data)
            return state.hexdigest()

        return sha256_mac
    from cryptography.hazmat.primitives import hmac as crypto_hmac

    keyed = crypto_hmac.HMAC(key, _sm3())

    def sm3_mac(data: bytes) -> str:
        state = keyed.copy()
        state.update(data)
        return state.finalize().hex()

    return sm3_mac


def evidence_digest(data: bytes, algorithm: str = DEFAULT_HASH) -> str:
    """The labelled digest of evidence (a report, a scan's results): ``sm3:<hex>`` or ``sha256:<hex>``.

    The label travels with the value, so whoever checks a digest later knows
    which hash to recompute whatever the setting is by then.
    """
    return f"{algorithm}:{digest_hex(require_hash(algorithm), data)}"


def check_evidence_digest(data: bytes, labelled: str) -> bool:
    """Whether ``labelled`` (from :func:`evidence_digest`) is the digest of ``data``; False for an unknown hash."""
    algorithm, _, _hex = labelled.partition(":")
    if algorithm not in HASHES or not hash_available(algorithm):
        return False
    return hmac.compare_digest(evidence_digest(data, algorithm), labelled)


def record_hash(prev_hash: str, record: dict[str, Any], algorithm: str = DEFAULT_HASH) -> str:
    """Return the unkeyed chain hash of a record given the previous record's hash."""
    body = {key: record[key] for key in FIELDS}
    return digest_hex(algorithm, (prev_hash + "\n" + body_json(body)).encode("utf-8"))


def keyed_hash(key: bytes, prev_hash: str, record: dict[str, Any], algorithm: str = DEFAULT_HASH) -> str:
    """Return the HMAC chain hash of a record (its ``site`` and ``key_id`` included)."""
    body = {name: record[name] for name in KEYED_FIELDS}
    return hmac_hex(key, algorithm, (prev_hash + "\n" + body_json(body)).encode("utf-8"))


def keyed_hasher(key: bytes, algorithm: str = DEFAULT_HASH) -> Callable[[str, tuple[Any, ...]], str]:
    """A fast keyed hash of a stored row (COLUMNS order) for verification: the key schedule is done once."""
    mac_of = keyed_hasher_bytes(key, algorithm)

    def digest(prev_hash: str, row: tuple[Any, ...]) -> str:
        return mac_of((prev_hash + "\n" + body_json(dict(zip(KEYED_FIELDS, row[:10], strict=True)))).encode("utf-8"))

    return digest


def unkeyed_row_hash(prev_hash: str, row: tuple[Any, ...], algorithm: str = DEFAULT_HASH) -> str:
    """The unkeyed hash of a stored row (COLUMNS order), as :func:`record_hash` computes it."""
    body = dict(zip(FIELDS, row[:8], strict=True))
    return digest_hex(algorithm, (prev_hash + "\n" + body_json(body)).encode("utf-8"))


def announced_hash(details: str) -> str | None:
    """The algorithm an ``audit.hash`` record's details name, or None when they name none or an unknown one."""
    try:
        algorithm = json.loads(details).get("hash")
    except (ValueError, AttributeError):
        return None
    return algorithm if algorithm in HASHES else None


def key_id_of(key: bytes) -> str:
    """The public id of an audit key (a SHA-256 prefix, safe to store next to every record).

    An identifier, not a protection: it stays SHA-256 whatever ``audit.hash`` says.
    """
    return hashlib.sha256(b"egov-audit-key:" + key).hexdigest()[:16]


def mac(key: bytes, value: Any) -> str:
    """HMAC-SHA256 of a JSON-safe value's canonical text (archive trailers)."""
    return hmac.digest(key, canonical_json(value).encode("utf-8"), "sha256").hex()
