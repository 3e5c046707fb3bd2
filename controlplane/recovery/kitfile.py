"""The encrypted kit file: a public header and the contents under AES-256-GCM.

The file is one JSON object, safe to copy, mail or print: its header says
which kit it is (id, when and for which site it was made, the custodians by
name and number, the threshold, the contents' fingerprint) and the rest is
the contents, encrypted with a fresh random 256-bit key (``cryptography``'s
AESGCM, a 96-bit random nonce) whose only copies are the custodians' shares
(:mod:`.shares`). The header is the associated data: changing a custodian,
the threshold or the id makes the file fail to open, never open to something
else. The clear contents exist only in memory, on the machine making the kit
and on the machine recovering with it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from controlplane.errors import BadInputError

from .shares import ShareError

MAGIC = "egov-recovery-kit"
VERSION = 1
NONCE_BYTES = 12


class KitFileError(BadInputError):
    """Not a kit file, or one that does not open with the shares given (exit 2)."""


@dataclass(frozen=True)
class Header:
    """What anyone holding the file may read: which kit, whose shares open it."""

    kit_id: str
    made_at: str
    site: str
    threshold: int
    custodians: tuple[str, ...]
    fingerprint: str
    made_by: str = ""
    drill: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The header as stored in the file (and bound to the ciphertext)."""
        return {
            "format": MAGIC,
            "version": VERSION,
            "kit_id": self.kit_id,
            "made_at": self.made_at,
            "made_by": self.made_by,
            "site": self.site,
            "threshold": self.threshold,
            "custodians": [{"index": number, "name": name} for number, name in enumerate(self.custodians, start=1)],
            "fingerprint": self.fingerprint,
            "drill": self.drill,
            **({"extra": self.extra} if self.extra else {}),
        }

    def custodian(self, index: int) -> str:
        """The name of custodian number ``index`` (1-based)."""
        return self.custodians[index - 1] if 1 <= index <= len(self.custodians) else f"#{index}"


def _associated(header: Header) -> bytes:
    return json.dumps(header.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal(header: Header, contents: dict[str, Any], key: bytes, nonce: bytes) -> str:
    """The kit file's text: the header and the contents encrypted under ``key`` (32 bytes)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) != 32 or len(nonce) != NONCE_BYTES:
        raise ValueError("a kit is sealed with a 32-byte key and a 12-byte nonce")
    plain = json.dumps(contents, sort_keys=True, ensure_ascii=False).encode("utf-8")
    sealed = AESGCM(key).encrypt(nonce, plain, _associated(header))
    document = {
        **header.as_dict(),
        "cipher": "aes-256-gcm",
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def read_header(text: str) -> tuple[Header, bytes, bytes]:
    """Parse a kit file; return its header, nonce and ciphertext. Raises KitFileError for anything else."""
    try:
        document = json.loads(text)
    except ValueError:
        raise KitFileError("this is not a recovery kit file (not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != MAGIC:
        raise KitFileError("this is not a recovery kit file (no egov-recovery-kit header)")
    if document.get("version") != VERSION or document.get("cipher") != "aes-256-gcm":
        raise KitFileError(f"kit file version {document.get('version')!r} is not one this egov reads")
    try:
        custodians = sorted(document["custodians"], key=lambda entry: int(entry["index"]))
        header = Header(
            kit_id=str(document["kit_id"]),
            made_at=str(document["made_at"]),
            made_by=str(document.get("made_by", "")),
            site=str(document["site"]),
            threshold=int(document["threshold"]),
            custodians=tuple(str(entry["name"]) for entry in custodians),
            fingerprint=str(document["fingerprint"]),
            drill=bool(document.get("drill", False)),
            extra=dict(document.get("extra") or {}),
        )
        nonce = base64.b64decode(document["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise KitFileError("the kit file is damaged (its header or ciphertext cannot be read)") from None
    if [int(entry["index"]) for entry in custodians] != list(range(1, len(custodians) + 1)):
        raise KitFileError("the kit file is damaged (its custodians are not numbered 1..N)")
    return header, nonce, ciphertext


def open_kit(text: str, key: bytes) -> tuple[Header, dict[str, Any]]:
    """Decrypt a kit file with the rebuilt key; return header and contents.

    Raises KitFileError when the key does not open it (a share of another
    split, or a file whose header was altered).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, nonce, ciphertext = read_header(text)
    try:
        plain = AESGCM(key).decrypt(nonce, ciphertext, _associated(header))
    except InvalidTag:
        raise ShareError(
            "the shares do not open this kit: one of them is of another kit made under the same id, or the kit "
            "file was altered"
        ) from None
    return header, json.loads(plain.decode("utf-8"))
