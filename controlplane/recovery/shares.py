"""Custodians' shares of a kit's key: Shamir's scheme (pycryptodome) and a text form that catches typos.

The kit's 32-byte AES-256 key is split K-of-N with
:mod:`Crypto.Protocol.SecretSharing` (pycryptodome's Shamir over GF(2^128),
a maintained library, never a home-made scheme). That implementation takes
16-byte secrets, so the key is split as two halves with the same custodian
indices; share ``i`` is the pair of halves' shares ``i``, 32 bytes.

The text form is what a custodian prints, keeps in a safe and types back
in at night: 45 bytes (format, kit id, threshold, count, index, the 32 share
bytes and a 4-byte SHA-256 checksum) in Crockford's base32 (no I, L, O, U;
case and ``O``/``I``/``L`` typed for ``0``/``1`` are forgiven), 18 groups of
four characters, each followed by a check character (Luhn mod 32 over the
group and its position). So a mistyped character names its group, two
swapped groups are caught too, and anything else fails the checksum.
Nothing here touches a disk or the network.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controlplane.errors import BadInputError

FORMAT = 1
KEY_BYTES = 32
KIT_ID_BYTES = 5
CHECKSUM_BYTES = 4
MAX_CUSTODIANS = 16
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
GROUP = 4
_FORGIVEN = str.maketrans({"O": "0", "I": "1", "L": "1"})
_PAYLOAD = 1 + KIT_ID_BYTES + 3 + KEY_BYTES  # format, kit id, threshold, count, index, share


class ShareError(BadInputError):
    """A share that cannot be used: mistyped, of another kit, a duplicate, or too few of them (exit 2)."""


@dataclass(frozen=True)
class Share:
    """One custodian's share of one kit's key."""

    kit_id: str
    threshold: int
    count: int
    index: int
    data: bytes

    def text(self) -> str:
        """The share as a custodian types it: 18 dash-separated groups of five characters."""
        payload = bytes([FORMAT]) + decode_kit_id(self.kit_id)
        payload += bytes([self.threshold, self.count, self.index]) + self.data
        symbols = _to_base32(payload + _checksum(payload))
        groups = ["".join(symbols[i : i + GROUP]) for i in range(0, len(symbols), GROUP)]
        return "-".join(group + _check_char(group, position) for position, group in enumerate(groups))


def new_kit_id(random: bytes) -> str:
    """A kit id: 5 random bytes as 8 base32 characters (printed on the kit and every share)."""
    if len(random) != KIT_ID_BYTES:
        raise ValueError("a kit id takes 5 random bytes")
    return "".join(_to_base32(random))


def decode_kit_id(kit_id: str) -> bytes:
    """The 5 bytes of a kit id. Raises ShareError for one that is not 8 base32 characters."""
    text = kit_id.upper().translate(_FORGIVEN)
    if len(text) != 8 or any(char not in ALPHABET for char in text):
        raise ShareError(f"{kit_id[:20]!r} is not a kit id (8 letters and digits)")
    return _from_base32(text)


def split(key: bytes, threshold: int, count: int, kit_id: str) -> list[Share]:
    """Split a 32-byte key into ``count`` shares, any ``threshold`` of which rebuild it.

    Raises BadInputError for a threshold below 2 or above the count, or more
    than :data:`MAX_CUSTODIANS` custodians.
    """
    from Crypto.Protocol.SecretSharing import Shamir

    if len(key) != KEY_BYTES:
        raise ValueError("the kit's key is 32 bytes")
    check_threshold(threshold, count)
    halves = [Shamir.split(threshold, count, key[:16]), Shamir.split(threshold, count, key[16:])]
    shares = []
    for (index, first), (same_index, second) in zip(*halves, strict=True):
        assert index == same_index  # noqa: S101 - pycryptodome numbers both splits 1..count
        shares.append(Share(kit_id, threshold, count, index, first + second))
    return shares


def combine(shares: Sequence[Share]) -> bytes:
    """Rebuild the key from at least ``threshold`` shares of one kit. Raises ShareError otherwise."""
    from Crypto.Protocol.SecretSharing import Shamir

    check_together(shares)
    chosen = list(shares)[: shares[0].threshold]
    first = Shamir.combine([(share.index, share.data[:16]) for share in chosen])
    second = Shamir.combine([(share.index, share.data[16:]) for share in chosen])
    return first + second


def check_threshold(threshold: int, count: int) -> None:
    """Refuse a K-of-N that gives no protection or cannot be met (BadInputError)."""
    if count > MAX_CUSTODIANS:
        raise BadInputError(f"at most {MAX_CUSTODIANS} custodians")
    if not 2 <= threshold <= count:
        raise BadInputError(f"the threshold must be at least 2 and at most the number of custodians ({count})")


def check_together(shares: Sequence[Share], kit_id: str | None = None) -> None:
    """Refuse shares that cannot rebuild a key together: too few, mixed kits, one custodian twice.

    Raises ShareError naming what is wrong (the shares' numbers, never their content).
    """
    if not shares:
        raise ShareError("no share given")
    wanted = kit_id or shares[0].kit_id
    for number, share in enumerate(shares, start=1):
        if share.kit_id != wanted:
            raise ShareError(f"share {number} belongs to kit {share.kit_id}, not to kit {wanted}")
    indices = [share.index for share in shares]
    twice = sorted({index for index in indices if indices.count(index) > 1})
    if twice:
        raise ShareError(f"custodian {twice[0]}'s share was given twice: each custodian's share counts once")
    threshold = shares[0].threshold
    if len(shares) < threshold:
        raise ShareError(
            f"{threshold} shares are needed (threshold {threshold} of {shares[0].count}), {len(shares)} given"
        )


def parse(text: str, number: int = 1) -> Share:
    """Read one share as typed (dashes, spaces and case do not matter).

    ``number`` is its place among the shares given, for messages. Raises
    ShareError naming the mistyped group, or saying the checksum failed.
    """
    cleaned = re.sub(r"[\s-]", "", text).upper().translate(_FORGIVEN)
    step = GROUP + 1
    total = -(-(_PAYLOAD + CHECKSUM_BYTES) * 8 // 5) // GROUP
    if len(cleaned) != total * step:
        raise ShareError(
            f"share {number} has {len(cleaned)} letters and digits, a share has {total * step} "
            f"({total} groups of {step}): a group is missing or doubled"
        )
    bad = [char for char in cleaned if char not in ALPHABET]
    if bad:
        raise ShareError(f"share {number} holds {bad[0]!r}, which no share contains")
    symbols: list[str] = []
    for position in range(total):
        group = cleaned[position * step : position * step + GROUP]
        if _check_char(group, position) != cleaned[position * step + GROUP]:
            raise ShareError(
                f"share {number}: group {position + 1} ({cleaned[position * step : (position + 1) * step]}) does not "
                "check: a character of it is mistyped"
            )
        symbols += group
    raw = _from_base32("".join(symbols))[: _PAYLOAD + CHECKSUM_BYTES]
    payload, checksum = raw[:_PAYLOAD], raw[_PAYLOAD:]
    if _checksum(payload) != checksum:
        raise ShareError(f"share {number}: its checksum does not match: more than one character is mistyped")
    if payload[0] != FORMAT:
        raise ShareError(f"share {number} is of an unknown format ({payload[0]})")
    kit_id = "".join(_to_base32(payload[1 : 1 + KIT_ID_BYTES]))
    threshold, count, index = payload[1 + KIT_ID_BYTES : 4 + KIT_ID_BYTES]
    if not 2 <= threshold <= count <= MAX_CUSTODIANS or not 1 <= index <= count:
        raise ShareError(f"share {number} names an impossible threshold or custodian")
    return Share(kit_id, threshold, count, index, payload[4 + KIT_ID_BYTES :])


def parse_many(lines: Iterable[str]) -> list[Share]:
    """Read shares one a line; blank lines and ``#`` comments (a share sheet's text) are skipped."""
    texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [parse(text, number) for number, text in enumerate(texts, start=1)]


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(b"egov-recovery-share:" + payload).digest()[:CHECKSUM_BYTES]


def _check_char(group: str, position: int) -> str:
    """Luhn mod 32 over the group's characters, then its position (so moved groups fail too)."""
    values = [ALPHABET.index(char) for char in group] + [position % 32]
    total = 0
    for offset, value in enumerate(reversed(values)):
        if offset % 2 == 0:
            value *= 2
            value = value // 32 + value % 32
        total += value
    return ALPHABET[(32 - total % 32) % 32]


def _to_base32(data: bytes) -> list[str]:
    bits = int.from_bytes(data, "big")
    length = -(-len(data) * 8 // 5)
    bits <<= length * 5 - len(data) * 8
    return [ALPHABET[(bits >> (5 * (length - 1 - i))) & 31] for i in range(length)]


def _from_base32(text: str) -> bytes:
    bits = 0
    for char in text:
        bits = (bits << 5) | ALPHABET.index(char)
    size = len(text) * 5 // 8
    return (bits >> (len(text) * 5 - size * 8)).to_bytes(size, "big")
