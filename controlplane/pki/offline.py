"""Taking the root key offline and bringing it back (`egov ca root-offline` / `root-online`).

The root signs only intermediates, so between rotations it need not be on
the control plane at all: it is exported to a file encrypted with a
passphrase (PKCS#8, BestAvailableEncryption), checked to decrypt, then
deleted from the vault. Issuance keeps working (the intermediate and the SSH
CA stay online); rotating the intermediate is refused until the root is back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from controlplane import audit
from controlplane.errors import BadInputError

from . import keys
from .authority import ROOT_KEY, open_authority
from .published import ca_lock

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

MIN_PASSPHRASE = 12
MAX_KEY_FILE = 64 * 1024


def _check_passphrase(passphrase: str) -> bytes:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise BadInputError(f"the passphrase of the root key file must be at least {MIN_PASSPHRASE} characters")
    return passphrase.encode("utf-8")


def take_root_offline(config: Config, store: Store, *, out: Path, passphrase: str, requester: str) -> str:
    """Export the root key encrypted to ``out`` (0600, never overwritten), then delete it from the vault.

    Returns the root certificate's fingerprint. Audited (``pki.root_offline``).
    Raises BadInputError when the root is already offline, ``out`` exists or
    the passphrase is short; nothing is deleted unless the written file
    decrypts back to the root key.
    """
    secret = _check_passphrase(passphrase)
    with ca_lock(config):
        authority = open_authority(config, store)
        if not authority.root_online():
            raise BadInputError("the root key is already offline (bring it back with `egov ca root-online --in FILE`)")
        key = authority.root_key()
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(secret)
        )
        try:
            handle = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise BadInputError(f"{out} exists: the root key is never written over a file") from None
        except OSError as error:
            raise BadInputError(f"cannot create {out}: {error.strerror}") from None
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        back = serialization.load_pem_private_key(out.read_bytes(), password=secret)
        if not keys.same_public_key(back, authority.root):
            raise BadInputError(f"{out} does not read back as the root key; the root stays online")
        authority.vault.delete(ROOT_KEY)
        fingerprint = keys.cert_fingerprint(authority.root)
        audit.append(
            store,
            actor=requester,
            action="pki.root_offline",
            target="ca:root",
            details={"file": str(out), "root": fingerprint},
        )
        return fingerprint


def bring_root_online(config: Config, store: Store, *, source: Path, passphrase: str, requester: str) -> str:
    """Put the root key from an encrypted file made by :func:`take_root_offline` back in the vault.

    Returns the root certificate's fingerprint. Audited (``pki.root_online``).
    Raises BadInputError when the root is online already, the file cannot be
    read or decrypted, or holds another key than this CA's root.
    """
    with ca_lock(config):
        authority = open_authority(config, store)
        if authority.root_online():
            raise BadInputError("the root key is online already")
        try:
            if source.stat().st_size > MAX_KEY_FILE:
                raise BadInputError(f"{source} is too large to be a key file")
            data = source.read_bytes()
        except OSError as error:
            raise BadInputError(f"cannot read {source}: {error.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=passphrase.encode("utf-8"))
        except (ValueError, TypeError):
            raise BadInputError(f"{source}: wrong passphrase, or not an encrypted private key") from None
        if not keys.same_public_key(key, authority.root):
            raise BadInputError(f"{source} holds another key than this CA's root: nothing changed")
        authority.vault.set(ROOT_KEY, keys.private_pem(key))
        fingerprint = keys.cert_fingerprint(authority.root)
        audit.append(
            store,
            actor=requester,
            action="pki.root_online",
            target="ca:root",
            details={"file": str(source), "root": fingerprint},
        )
        return fingerprint
