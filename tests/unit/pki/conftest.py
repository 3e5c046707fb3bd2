"""Fixtures of the CA tests: an initialised CA on the test site, fresh SSH keys, a helper running ssh-keygen."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from controlplane.pki.authority import Authority, init_authority


@pytest.fixture
def authority(config, store) -> Authority:  # type: ignore[no-untyped-def]
    """The site's CA, initialised."""
    return init_authority(config, store, "tester@test")


def public_line(key: ed25519.Ed25519PrivateKey, comment: str = "") -> str:
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}".strip()


@pytest.fixture
def new_key_line() -> Callable[[], str]:
    """Make a fresh Ed25519 key and return its OpenSSH public line (the private half is dropped)."""
    return lambda: public_line(ed25519.Ed25519PrivateKey.generate(), "test")


def ssh_keygen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real ssh-keygen (tests only; TZ=UTC so it prints validity in UTC) and return it finished."""
    return subprocess.run(
        ["ssh-keygen", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={**os.environ, "TZ": "UTC"},
    )
