"""The audit keys: 32 random bytes per key, held in the vault as ``audit.chain_key.<key id>``.

A store opened by :func:`controlplane.store.open_store` knows its site
Config, and through it the vault; its :class:`Keyring` is built on first use
and cached for the life of the store object (one vault read per key and
process). A store without a Config (an older process, a bare test store)
has no keyring: it may still extend an unkeyed chain, never a keyed one.

Why a key of its own instead of the master key: the master key is rotated
(``egov secrets rotate-key`` re-encrypts the vault); the audit key is a vault
secret like any other, so it survives rotation and the chain keeps verifying.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError, EgovError

from .chain import AuditError, key_id_of

if TYPE_CHECKING:
    from controlplane.store import Store
    from controlplane.vault import Vault

KEY_SECRET_PREFIX = "audit.chain_key."  # noqa: S105 - a secret name prefix, not a secret
KEY_BYTES = 32


class Keyring:
    """The audit keys of one store's vault (cached), or the reason there is no vault."""

    def __init__(self, vault: Vault | None, unavailable: str = "") -> None:
        self.vault = vault
        self.unavailable = unavailable
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """True when keyed records can be written and checked."""
        return self.vault is not None

    def get(self, key_id: str) -> bytes:
        """Return the key of an id. Raises AuditError when there is no vault or the vault lacks it."""
        with self._lock:
            if key_id in self._keys:
                return self._keys[key_id]
        if self.vault is None:
            raise AuditError(f"audit key {key_id} cannot be read: {self.unavailable}")
        try:
            key = bytes.fromhex(self.vault.get(KEY_SECRET_PREFIX + key_id))
        except BadInputError:
            raise AuditError(f"audit key {key_id} is not in the vault (deleted?): restore the vault") from None
        except ValueError:
            raise AuditError(f"the vault's audit key {key_id} is not a hex key") from None
        if key_id_of(key) != key_id:
            raise AuditError(f"the vault's audit key {key_id} does not match its id")
        with self._lock:
            self._keys[key_id] = key
        return key

    def stored_ids(self) -> list[str]:
        """The ids of every audit key in the vault, sorted (empty without a vault)."""
        if self.vault is None:
            return []
        return sorted(n.removeprefix(KEY_SECRET_PREFIX) for n in self.vault.names() if n.startswith(KEY_SECRET_PREFIX))

    def reuse_or_create(self) -> tuple[str, bool]:
        """Return (key id, created) of the key a chain's first keyed record uses.

        An audit key already in the vault is reused (another process may have
        made it a moment ago, or crashed before its first keyed record), so
        one site keeps one key. Raises AuditError without a vault.
        """
        if self.vault is None:
            raise AuditError(f"cannot key the audit chain: {self.unavailable}")
        existing = self.stored_ids()
        if existing:
            return existing[0], False
        key = os.urandom(KEY_BYTES)
        key_id = key_id_of(key)
        self.vault.set(KEY_SECRET_PREFIX + key_id, key.hex())
        with self._lock:
            self._keys[key_id] = key
        return key_id, True

    def discard(self, key_id: str) -> None:
        """Delete a key this process made but lost the race to use (never one a record uses)."""
        if self.vault is not None and self.vault.exists(KEY_SECRET_PREFIX + key_id):
            self.vault.delete(KEY_SECRET_PREFIX + key_id)
        with self._lock:
            self._keys.pop(key_id, None)


_keyrings: weakref.WeakKeyDictionary[Store, Keyring] = weakref.WeakKeyDictionary()
_keyrings_lock = threading.Lock()


def keyring_for(store: Store) -> Keyring:
    """The keyring of a store (built from ``store.config`` on first use).

    No Config, or no master key file yet: a keyring without vault (not
    cached, so a key file made later is found). A key file that exists but
    does not open the vault raises AuditError: the log then refuses to write
    rather than silently fall back to unkeyed records.
    """
    with _keyrings_lock:
        found = _keyrings.get(store)
    if found is not None:
        return found
    config = getattr(store, "config", None)
    if config is None:
        return Keyring(None, "the store was opened without a site configuration (no vault)")
    if not os.path.exists(config.key_file):
        return Keyring(None, f"no master key at {config.key_file}")
    from sqlalchemy.exc import IntegrityError

    from controlplane.vault import open_vault

    for _attempt in range(5):
        try:
            return use_vault(store, open_vault(config, store))
        except IntegrityError:
            continue  # two processes opened a new vault at once and raced to write its canary: open again
        except EgovError as error:
            raise AuditError(f"the audit log cannot open the vault: {error.message}") from None
    raise AuditError("the audit log cannot open the vault: it kept changing while being opened")


def use_vault(store: Store, vault: Vault) -> Keyring:
    """Key a store's audit records with an already open vault; return the keyring."""
    keyring = Keyring(vault)
    with _keyrings_lock:
        _keyrings[store] = keyring
    return keyring


def forget_keys(store: Store) -> None:
    """Drop a store's cached keys (the next use reads the vault again)."""
    with _keyrings_lock:
        _keyrings.pop(store, None)


def refuse_audit_key(name: str) -> None:
    """Raise BadInputError for an audit key's name: replacing or deleting one would break the chain for good."""
    if name.startswith(KEY_SECRET_PREFIX):
        raise BadInputError(
            f"{name} is the audit chain's key: it cannot be replaced or deleted (the chain would no longer verify)"
        )
