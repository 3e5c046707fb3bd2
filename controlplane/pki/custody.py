"""Custody of the CA's private keys: only in the vault, staged during a change, checked against the public part.

A new key is written under ``NAME.next`` before its public part is
published, then moved to ``NAME``; a crash in between is finished by the
next reader (:func:`load_key`), never leaving a key that does not match
what clients trust.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from controlplane.errors import EgovError

from . import keys

if TYPE_CHECKING:
    from controlplane.vault import Vault

STAGED = ".next"


def load_key(vault: Vault, name: str, matches: Callable[[PrivateKeyTypes], bool]) -> PrivateKeyTypes:
    """Read a private key from the vault and check it belongs to the published public part.

    A rotation writes the new key under ``NAME.next`` before publishing its
    public part, then moves it to ``NAME``; a crash in between leaves the
    published part matching ``NAME.next``, which is then moved here. Raises
    EgovError when neither matches (the vault and the store disagree).
    """
    if vault.exists(name):
        key = keys.load_private_pem(vault.get(name))
        if matches(key):
            return key
    staged = name + STAGED
    if vault.exists(staged):
        text = vault.get(staged)
        key = keys.load_private_pem(text)
        if matches(key):
            vault.set(name, text)
            vault.delete(staged)
            return key
    raise EgovError(f"the vault's {name} does not match the CA's published certificate: run `egov ca status`")


def promote(vault: Vault, name: str) -> None:
    """Move a staged key to its name once its public part is published."""
    if vault.exists(name + STAGED):
        vault.set(name, vault.get(name + STAGED))
        vault.delete(name + STAGED)
