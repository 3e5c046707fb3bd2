"""Secrets at rest: AES-256-GCM (or SM4-GCM), keyed by a master key file.

Each secret is encrypted with a fresh 96-bit nonce and its own name as the
associated data, so a ciphertext copied onto another name fails to decrypt.
The cipher keys are derived from the master key with HKDF (one per cipher),
and every row records the id of the key that wrote it. That id makes two
things safe: a wrong key file is refused with a clear message, and a key
rotation interrupted at any point loses nothing (see :meth:`Vault.rotate_key`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import Secret, Setting, utcnow

SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_SECRET_BYTES = 64 * 1024
CIPHERS = ("aes-256-gcm", "sm4-gcm")
CANARY_NAME = "vault.canary"
CANARY_TEXT = b"egov vault canary"
KEY_BYTES = 32


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


def _pending_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".new")


def check_name(name: str) -> str:
    """Return a valid secret name or raise BadInputError."""
    if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
        raise BadInputError(
            "secret names are 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
        )
    return name


class Vault:
    """Encrypted secrets in the store, opened with the master key file."""

    def __init__(self, store: Any, key_file: Path, cipher: str = "aes-256-gcm") -> None:
        if cipher not in CIPHERS:
            raise BadInputError(f"unknown vault cipher {cipher!r} (use one of {', '.join(CIPHERS)})")
        if cipher == "sm4-gcm" and not sm4_available():
            raise BadInputError("vault cipher sm4-gcm is not offered by the linked OpenSSL; use aes-256-gcm")
        self.store = store
        self.key_file = key_file
        self.cipher = cipher
        self._keys = self._load_keys()

    # -- keys -------------------------------------------------------------
    def _load_keys(self) -> dict[str, bytes]:
        """Load the current key, finish or discard a pending rotation, check the canary."""
        current = read_key_file(self.key_file)
        keys = {key_id(current): current}
        pending_path = _pending_path(self.key_file)
        pending = read_key_file(pending_path) if pending_path.exists() else None
        with self.store.session() as session:
            used = set(session.scalars(select(Secret.key_id).distinct()))
            if pending is not None:
                if key_id(pending) in used:
                    # The rotation committed but the key file was not swapped yet.
                    os.replace(pending_path, self.key_file)
                    keys = {key_id(pending): pending}
                else:
                    pending_path.unlink()  # rotation never committed: old key stays
            unknown = used - set(keys)
            if unknown:
                raise VaultKeyError(
                    f"master key {self.key_file} (id {next(iter(keys))}) is not the key of this vault "
                    f"(its secrets use key id {', '.join(sorted(unknown))})"
                )
            self._ensure_canary(session, next(iter(keys.values())))
        return keys

    def _ensure_canary(self, session: Session, key: bytes) -> None:
        if session.get(Secret, CANARY_NAME) is None:
            self._write(session, CANARY_NAME, CANARY_TEXT, key)

    @property
    def _key(self) -> bytes:
        return next(iter(self._keys.values()))

    # -- secrets ----------------------------------------------------------
    def _write(self, session: Session, name: str, value: bytes, key: bytes) -> None:
        nonce, ciphertext = encrypt(key, self.cipher, name, value)
        row = session.get(Secret, name)
        if row is None:
            row = Secret(name=name, created_at=utcnow())
            session.add(row)
        row.cipher, row.key_id, row.nonce, row.ciphertext, row.updated_at = (
            self.cipher,
            key_id(key),
            nonce,
            ciphertext,
            utcnow(),
        )
        session.flush()

    def set(self, name: str, value: str) -> None:
        """Store (or replace) a secret. Raises BadInputError for a bad name or size."""
        check_name(name)
        if name == CANARY_NAME:
            raise BadInputError(f"{CANARY_NAME} is reserved")
        data = value.encode("utf-8")
        if not data:
            raise BadInputError("a secret cannot be empty")
        if len(data) > MAX_SECRET_BYTES:
            raise BadInputError(f"a secret is at most {MAX_SECRET_BYTES} bytes")
        with self.store.session() as session:
            self._write(session, name, data, self._key)

    def get(self, name: str) -> str:
        """Return a secret's value. Raises BadInputError when it does not exist."""
        check_name(name)
        with self.store.session() as session:
            row = session.get(Secret, name)
            if row is None or name == CANARY_NAME:
                raise BadInputError(f"no secret named {name!r} (see `egov secrets list`)")
            key = self._keys.get(row.key_id)
            if key is None:
                raise VaultKeyError(f"secret {name!r} was written with another master key ({row.key_id})")
            return decrypt(key, row.cipher, name, row.nonce, row.ciphertext).decode("utf-8")

    def exists(self, name: str) -> bool:
        """True when a secret of that name is stored."""
        with self.store.session() as session:
            return name != CANARY_NAME and session.get(Secret, check_name(name)) is not None

    def names(self) -> list[str]:
        """Return every secret name, sorted."""
        with self.store.session() as session:
            return [n for n in session.scalars(select(Secret.name).order_by(Secret.name)) if n != CANARY_NAME]

    def delete(self, name: str) -> None:
        """Delete a secret. Raises BadInputError when it does not exist."""
        with self.store.session() as session:
            if session.execute(delete(Secret).where(Secret.name == check_name(name))).rowcount == 0:  # type: ignore[attr-defined]
                raise BadInputError(f"no secret named {name!r}")

    def resolve(self, reference: str) -> str:
        """Return the value behind ``secret:NAME``. Raises BadInputError otherwise."""
        if not isinstance(reference, str) or not reference.startswith("secret:"):
            raise BadInputError(f"{reference!r} is not a secret reference (secret:NAME)")
        return self.get(reference.removeprefix("secret:"))

    def rotate_key(self, fail_after_commit: bool = False) -> int:
        """Re-encrypt every secret under a new master key; return how many.

        Crash-safe in three steps: (1) the new key is written to KEY.new;
        (2) one transaction re-encrypts every row (rows carry the new key id);
        (3) KEY.new replaces KEY. A crash before (2) commits leaves the old key
        in force (KEY.new is discarded on the next open); a crash between (2)
        and (3) is finished on the next open, which finds rows using KEY.new's
        id. ``fail_after_commit`` exists for the test of that second case.
        """
        pending_path = _pending_path(self.key_file)
        if pending_path.exists():
            pending_path.unlink()
        new_key = create_key_file(pending_path)
        count = 0
        with self.store.session() as session:
            for row in session.scalars(select(Secret)).all():
                old = self._keys.get(row.key_id)
                if old is None:
                    raise VaultKeyError(f"secret {row.name!r} uses an unknown key id {row.key_id}")
                value = decrypt(old, row.cipher, row.name, row.nonce, row.ciphertext)
                self._write(session, row.name, value, new_key)
                count += 1
            session.add(Setting(key=f"vault.rotated.{utcnow().isoformat()}", value=key_id(new_key)))
        if fail_after_commit:
            raise EgovError("simulated crash after the rotation committed")
        os.replace(pending_path, self.key_file)
        self._keys = {key_id(new_key): new_key}
        return count - 1  # the canary is not a user secret


def open_vault(config: Any, store: Any) -> Vault:
    """Open the vault of a site configuration on an open store."""
    return Vault(store, config.key_file, config.cipher)
