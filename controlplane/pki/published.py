"""The CA's public parts: kept in the store's ``settings`` and published as files under ``STATE/pki``.

The store is the truth (every process and machine on one store agrees);
the files are what ssh, browsers, probes and hosts read, rewritten whole
(temp file, rename) whenever they differ from it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from controlplane.store.models import Setting

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

    from .authority import Authority

ROOT_PEM, INTERMEDIATE_PEM, SSH_LINES = "pki.root.pem", "pki.intermediate.pem", "pki.ssh_ca.pub"
PUBLIC_KEYS = (ROOT_PEM, INTERMEDIATE_PEM, SSH_LINES)


def pki_dir(config: Config) -> Path:
    """The folder of the CA's public files (``STATE/pki``)."""
    return config.state_dir / "pki"


def read_public(store: Store) -> dict[str, str]:
    with store.session() as session:
        rows = session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(PUBLIC_KEYS)))
        return {key: value for key, value in rows.tuples()}


def write_public(store: Store, values: dict[str, str]) -> None:
    """Publish public parts in the store, in one transaction."""
    with store.session() as session:
        for key, value in values.items():
            row = session.get(Setting, key)
            if row is None:
                session.add(Setting(key=key, value=value))
            else:
                row.value = value


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a public file whole (temp file, fsync, rename), so a reader never sees half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def publish_files(authority: Authority) -> None:
    """Write the public files under STATE/pki (0644, folder 0755) where they differ from the store's truth."""
    folder = authority.pki_dir
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # noqa: S103 - public certificates, readable by sshd, probes and people
    wanted = {
        "root.pem": authority.root_pem(),
        "intermediate.pem": authority.intermediate_pem(),
        "chain.pem": authority.x509_chain_pem(),
        "ssh_ca.pub": "".join(line + "\n" for line in authority.ssh_ca_public_lines()).encode("ascii"),
    }
    for name, data in wanted.items():
        path = folder / name
        if not path.exists() or path.read_bytes() != data:
            _atomic_write(path, data)


@contextmanager
def ca_lock(config: Config, name: str = ".lock") -> Iterator[None]:
    """Hold the file lock STATE/pki/NAME so two commands on this machine do not interleave.

    ``.lock`` guards init, rotation and the root's moves; ``.krl.lock`` the KRL
    rewrites (a second name, so a rotation holding the first can rewrite the KRL).
    """
    folder = pki_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # noqa: S103 - public certificates, readable by sshd, probes and people
    with open(folder / name, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
