"""Secrets at rest: AES-256-GCM (or SM4-GCM), keyed by a master key file.

Each secret is encrypted with a fresh 96-bit nonce and its own name as the
associated data, so a ciphertext copied onto another name fails to decrypt.
The cipher keys are derived from the master key with HKDF (one per cipher),
and every row records the id of the key that wrote it. That id makes two
things safe: a wrong key file is refused with a clear message, and a key
rotation interrupted at any point loses nothing (see :meth:`Vault.rotate_key`).

Rotation is also safe while any number of other processes (the console, the
monitor, a scheduled backup, CLI commands) use the vault: the key files are
only read and settled under ``KEY.lock`` (:func:`~controlplane.vault_keys.key_lock`),
which a rotation holds throughout, and the store records the current key id
(``vault.key_id``), which every write checks in its own transaction
(:meth:`Vault.set`), so no write lands under a retired key.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import Secret, Setting, utcnow
from controlplane.vault_keys import (
    KEY_BYTES,
    VaultKeyError,
    create_key_file,
    decrypt,
    encrypt,
    key_id,
    key_lock,
    lock_path,
    pending_path,
    read_key_file,
    sm4_available,
    sync_folder,
)

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_SECRET_BYTES = 64 * 1024
CIPHERS = ("aes-256-gcm", "sm4-gcm")
CANARY_NAME = "vault.canary"
CANARY_TEXT = b"egov vault canary"
CURRENT_KEY = "vault.key_id"  # the store's record of the key new writes must use
__all__ = [
    "CIPHERS",
    "KEY_BYTES",
    "MAX_SECRET_BYTES",
    "SECRET_NAME",
    "Vault",
    "VaultKeyError",
    "check_name",
    "create_key_file",
    "decrypt",
    "encrypt",
    "key_id",
    "open_vault",
    "read_key_file",
    "sm4_available",
]


def _lock_current(session: Session) -> str | None:
    """Take the key record's write lock as the transaction's first statement; return the current key id.

    A no-op UPDATE: SQLite takes its database write lock right here (a read
    first would make a later write fail once another writer committed), and
    PostgreSQL locks the row, so a rotation and every vault write queue on it.
    """
    session.execute(update(Setting).where(Setting.key == CURRENT_KEY).values(value=Setting.value))
    return session.scalars(select(Setting.value).where(Setting.key == CURRENT_KEY)).first()


def check_name(name: str) -> str:
    """Return a valid secret name or raise BadInputError."""
    if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
        raise BadInputError(
            "secret names are 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
        )
    return name


class Vault:
    """Encrypted secrets in the store, opened with the master key file.

    Safe to share between threads, and any number of processes may open one
    vault while another rotates its key: see :meth:`rotate_key` for what
    holds the keys in step, and :meth:`set` for why no write ever lands under
    a retired key. Raises VaultKeyError when the key file is missing, too open
    or not this vault's key, BadInputError for an unknown or unavailable cipher.
    """

    def __init__(self, store: Store, key_file: Path, cipher: str = "aes-256-gcm") -> None:
        if cipher not in CIPHERS:
            raise BadInputError(f"unknown vault cipher {cipher!r} (use one of {', '.join(CIPHERS)})")
        if cipher == "sm4-gcm" and not sm4_available():
            raise BadInputError("vault cipher sm4-gcm is not offered by the linked OpenSSL; use aes-256-gcm")
        self.store = store
        self.key_file = key_file
        self.cipher = cipher
        self._guard = threading.Lock()
        # Every key this process has known, by id (a row read just before a rotation still decrypts), and the
        # id of the key new writes use, as the store records it.
        self._keys: dict[str, bytes] = {}
        self._current = ""
        self._load_keys()

    # -- keys -------------------------------------------------------------
    def _load_keys(self) -> None:
        """Read the key file(s) under the key lock, settle an abandoned rotation, learn the current key id.

        Costs two small reads and, the first time, one write (the key record
        and the canary). Raises VaultKeyError for a key that is not this vault's.
        """
        with self._guard, key_lock(self.key_file) as locked:
            for _attempt in range(3):
                try:
                    self._load_keys_locked(locked)
                    return
                except IntegrityError:  # another process created the key record at the same moment
                    continue
            raise VaultKeyError(f"cannot record the current key of the vault for {self.key_file}")

    def _load_keys_locked(self, locked: bool) -> None:
        current = read_key_file(self.key_file)
        found = {key_id(current): current}
        pending_file = pending_path(self.key_file)
        pending = read_key_file(pending_file) if pending_file.exists() else None
        with self.store.session() as session:
            recorded = session.scalars(select(Setting.value).where(Setting.key == CURRENT_KEY)).first()
            used = set(session.scalars(select(Secret.key_id).distinct()))
        if pending is not None:
            pending_id = key_id(pending)
            committed = recorded == pending_id or (recorded is None and pending_id in used)
            if not locked:
                found[pending_id] = pending  # a read-only key folder: use it, change nothing
            elif committed:  # we hold the lock: its rotation died after committing; finish the swap
                os.replace(pending_file, self.key_file)
                sync_folder(self.key_file.parent)
                found = {pending_id: pending}
            else:  # we hold the lock: its rotation died before committing; the old key stays
                pending_file.unlink()
        known = {**self._keys, **found}
        unknown = used - set(known)
        if unknown or (recorded is not None and recorded not in known):
            in_use = ", ".join(sorted(unknown or {recorded or ""}))
            raise VaultKeyError(
                f"master key {self.key_file} (id {next(iter(found))}) is not the key of this vault "
                f"(its secrets use key id {in_use})"
            )
        if recorded is None or CANARY_NAME not in used:
            recorded = self._record_current(recorded or next(iter(found)), known)
        self._keys, self._current = known, recorded

    def _record_current(self, wanted: str, known: dict[str, bytes]) -> str:
        """Write the key record (when missing) and the canary in one write-first transaction; return the id."""
        with self.store.session() as session:
            recorded = _lock_current(session)
            if recorded is None:
                session.add(Setting(key=CURRENT_KEY, value=wanted))
                session.flush()
                recorded = wanted
            if recorded not in known:
                raise VaultKeyError(f"master key {self.key_file} is not the key of this vault (it uses {recorded})")
            if session.get(Secret, CANARY_NAME) is None:
                self._write(session, CANARY_NAME, CANARY_TEXT, known[recorded])
        return recorded

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
        """Store (or replace) a secret. Raises BadInputError for a bad name or size.

        The write and the check of the current key id share one transaction
        that first locks the key record, so a rotation committed a moment ago
        is seen: the new key is then read from the key file (waiting for the
        rotation to swap it) and the write retried, never made under the
        retired key. Raises VaultKeyError when the store's current key is not
        in this machine's key file (rotated elsewhere).
        """
        check_name(name)
        if name == CANARY_NAME:
            raise BadInputError(f"{CANARY_NAME} is reserved")
        data = value.encode("utf-8")
        if not data:
            raise BadInputError("a secret cannot be empty")
        if len(data) > MAX_SECRET_BYTES:
            raise BadInputError(f"a secret is at most {MAX_SECRET_BYTES} bytes")
        for _attempt in range(3):
            with self.store.session() as session:
                key = self._keys.get(_lock_current(session) or self._current)
                if key is not None:
                    self._write(session, name, data, key)
                    return
            self._load_keys()  # rotated since we loaded: read the new key
        raise VaultKeyError(f"the vault's current master key is not in {self.key_file}; was it rotated elsewhere?")

    def get(self, name: str) -> str:
        """Return a secret's value. Raises BadInputError when it does not exist.

        A row under a key id this process does not know (rotated by another
        process) makes it read the key file again; VaultKeyError when even
        that key does not match.
        """
        check_name(name)
        for attempt in range(2):
            with self.store.session() as session:
                row = session.get(Secret, name)
                if row is None or name == CANARY_NAME:
                    raise BadInputError(f"no secret named {name!r} (see `egov secrets list`)")
                key = self._keys.get(row.key_id)
                if key is not None:
                    return decrypt(key, row.cipher, name, row.nonce, row.ciphertext).decode("utf-8")
                written_with = row.key_id
            if attempt == 0:
                self._load_keys()
        raise VaultKeyError(f"secret {name!r} was written with another master key ({written_with})")

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

        Crash-safe in three steps, all under the key lock (:func:`key_lock`):
        (1) the new key is written to KEY.new; (2) one transaction, which
        first locks the key record, re-encrypts every row and records the new
        key id; (3) KEY.new replaces KEY. A crash before (2) commits leaves the
        old key in force (the next process to take the lock discards KEY.new);
        a crash between (2) and (3) is finished by that process, which finds
        the new id recorded. Other processes never touch KEY.new while the
        lock is held, wait for the lock before reading keys, and write only
        under the recorded key (:meth:`set`). Raises VaultKeyError when the
        lock cannot be taken or another machine rotated the vault meanwhile.
        ``fail_after_commit`` exists for the test of the second case.
        """
        with self._guard, key_lock(self.key_file) as locked:
            if not locked:
                raise VaultKeyError(f"cannot create the lock file {lock_path(self.key_file)}: is its folder writable?")
            self._load_keys_locked(locked)  # settles what a dead rotation left, and reads the current key
            pending_file = pending_path(self.key_file)
            new_key = create_key_file(pending_file)
            try:
                count = self._re_encrypt(new_key)
            except BaseException:
                pending_file.unlink(missing_ok=True)  # ours, never committed
                raise
            if fail_after_commit:
                raise EgovError("simulated crash after the rotation committed")
            os.replace(pending_file, self.key_file)
            sync_folder(self.key_file.parent)
            self._keys, self._current = {**self._keys, key_id(new_key): new_key}, key_id(new_key)
        return count - 1  # the canary is not a user secret

    def _re_encrypt(self, new_key: bytes) -> int:
        """The rotation's one transaction: lock the key record, re-encrypt every row, record the new id."""
        count = 0
        with self.store.session() as session:
            if _lock_current(session) != self._current:
                raise VaultKeyError("the vault's key was rotated by another process meanwhile; nothing changed")
            for row in session.scalars(select(Secret)).all():
                old = self._keys.get(row.key_id)
                if old is None:
                    raise VaultKeyError(f"secret {row.name!r} uses an unknown key id {row.key_id}")
                value = decrypt(old, row.cipher, row.name, row.nonce, row.ciphertext)
                self._write(session, row.name, value, new_key)
                count += 1
            session.execute(update(Setting).where(Setting.key == CURRENT_KEY).values(value=key_id(new_key)))
            session.add(Setting(key=f"vault.rotated.{utcnow().isoformat()}", value=key_id(new_key)))
        return count


def open_vault(config: Config, store: Store) -> Vault:
    """Open the vault of a site configuration on an open store (see :class:`Vault` for what it raises)."""
    return Vault(store, config.key_file, config.cipher)
