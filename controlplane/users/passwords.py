"""Password hashing, checking and the rules a new password must meet.

Passwords are hashed with scrypt (n=2**14, r=8, p=1, 16-byte random salt)
and stored as ``scrypt$n$r$p$salt_b64$hash_b64``. One check costs about
50 ms of CPU and 16 MiB of memory, which is the point: a stolen hash is slow
to guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from controlplane.errors import BadInputError

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_DKLEN = 32
# A stored hash names its own cost; refuse absurd ones so a tampered row cannot
# make every login allocate gigabytes.
SCRYPT_MAX_N = 2**20


class AuthError(BadInputError):
    """A password, token or code was wrong (the message never says which part)."""


def hash_password(password: str) -> str:
    """Return the scrypt hash of a password as ``scrypt$n$r$p$salt_b64$hash_b64`` (a fresh salt each call)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN, maxmem=64 << 20
    )
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a stored hash (compared in constant time).

    A malformed or unsupported stored value never matches.
    """
    try:
        scheme, n_text, r_text, p_text, salt_text, hash_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, AttributeError):
        return False
    if scheme != "scrypt" or not (2 <= n <= SCRYPT_MAX_N) or n & (n - 1) or not (1 <= r <= 32) or not (1 <= p <= 4):
        return False
    try:
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 << 20
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


# A hash of a random password: unknown user names are checked against it so
# the time a failed login takes does not tell whether the name exists.
_DUMMY_HASH: str | None = None


def dummy_verify(password: str) -> None:
    """Spend the same time as a real password check, for unknown user names."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(password, _DUMMY_HASH)


def check_new_password(password: str) -> str:
    """Return a password acceptable as a new one or raise BadInputError.

    At least MIN_PASSWORD characters, at most MAX_PASSWORD, no control characters.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadInputError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadInputError(f"a password has at most {MAX_PASSWORD} characters")
    if CONTROL_CHARS.search(password):
        raise BadInputError("a password cannot contain control characters")
    return password


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
