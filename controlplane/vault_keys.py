"""The master key: its file, its lock, its id, and the AEAD primitives the vault encrypts with.

The key file (``var/master.key`` or ``EGOV_MASTER_KEY_FILE``, 0600) holds 32
random bytes in base64. A rotation writes the next key to ``KEY.new`` and
swaps it in; ``KEY.lock`` (flock) is held by a rotation for its whole course
and by every process while it reads the key files, so a process can tell a
rotation in progress (lock held) from one that died (``KEY.new`` found by the
lock's holder). See :mod:`controlplane.vault` for the protocol.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from controlplane.errors import EgovError

KEY_BYTES = 32
LOCK_TIMEOUT = 120.0  # seconds a process waits for a rotation (or a key load) of another


class VaultKeyError(EgovError):
    """The master key is missing, unreadable, too open, or not the vault's key."""


def key_id(key: bytes) -> str:
    """Return the public id of a master key (a SHA-256 prefix, safe to store)."""
    return hashlib.sha256(b"egov-key-id:" + key).hexdigest()[:16]


def sm4_available() -> bool:
    """True when the linked OpenSSL offers SM4 in GCM mode."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        encryptor = Cipher(algorithms.SM4(b"\0" * 16), modes.GCM(b"\0" * 12)).encryptor()
        encryptor.update(b"x")
        encryptor.finalize()
    except Exception:  # UnsupportedAlgorithm, or an OpenSSL without SM4
        return False
    return True


def _derive(master: bytes, cipher: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    length = 32 if cipher == "aes-256-gcm" else 16
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=f"egov-vault:{cipher}".encode()).derive(
        master
    )


def encrypt(master: bytes, cipher: str, name: str, plaintext: bytes) -> tuple[bytes, bytes]:
    """Encrypt ``plaintext`` for secret ``name``; return (nonce, ciphertext+tag)."""
    nonce = os.urandom(12)
    key = _derive(master, cipher)
    if cipher == "aes-256-gcm":
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return nonce, AESGCM(key).encrypt(nonce, plaintext, name.encode())
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(name.encode())
    return nonce, encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag


def decrypt(master: bytes, cipher: str, name: str, nonce: bytes, ciphertext: bytes) -> bytes:
    """Decrypt a secret; raise VaultKeyError when authentication fails."""
    from cryptography.exceptions import InvalidTag

    key = _derive(master, cipher)
    try:
        if cipher == "aes-256-gcm":
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            return AESGCM(key).decrypt(nonce, ciphertext, name.encode())
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, ciphertext[-16:])).decryptor()
        decryptor.authenticate_additional_data(name.encode())
        return decryptor.update(ciphertext[:-16]) + decryptor.finalize()
    except InvalidTag:
        raise VaultKeyError(f"secret {name!r} does not decrypt: wrong master key or tampered data") from None


def create_key_file(path: Path) -> bytes:
    """Create a new random master key file (mode 0600, never overwritten).

    Returns the key. Raises VaultKeyError when the file already exists.
    """
    key = os.urandom(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VaultKeyError(f"{path} already exists; refusing to overwrite a master key") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def read_key_file(path: Path) -> bytes:
    """Read a master key file; refuse one that others can read.

    Raises VaultKeyError naming the file for a missing, unreadable, too open
    or malformed key.
    """
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise VaultKeyError(f"master key file {path} does not exist (run `egov init`)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise VaultKeyError(f"cannot read master key file {path}: {error}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultKeyError(f"master key file {path} is readable by others; run chmod 600 {path}")
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise VaultKeyError(f"master key file {path} is not a valid key") from None
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"master key file {path} is not a valid key")
    return key


def pending_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".new")


def lock_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".lock")


@contextlib.contextmanager
def key_lock(key_file: Path, timeout: float | None = None) -> Iterator[bool]:
    """Hold the exclusive lock of a key file (``KEY.lock``, flock) for the body; yield True once held.

    A rotation holds it from writing ``KEY.new`` until the swap, and every
    process holds it while it reads the key files, so ``KEY.new`` found by a
    lock holder was left by a rotation that died. The lock is per machine (or
    per shared file system); the vault's key record in the store serialises
    writers and rotations across machines. Yields False, holding nothing, when
    the lock file cannot be created (a read-only key folder: such a process
    reads keys but never settles or rotates). Waits at most ``timeout``
    seconds (default :data:`LOCK_TIMEOUT`), then raises VaultKeyError. Threads are serialised too: each call
    opens its own descriptor.
    """
    try:
        descriptor = os.open(lock_path(key_file), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield False
        return
    try:
        timeout = LOCK_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise VaultKeyError(
                        f"another process has held the lock of {key_file} (a key rotation?) for over "
                        f"{timeout:g} s; try again"
                    ) from None
                time.sleep(0.02)
        yield True
    finally:
        os.close(descriptor)  # releases the lock


def sync_folder(path: Path) -> None:
    """fsync a folder so a rename inside it survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
