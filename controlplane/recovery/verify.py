"""Before a restored control plane starts: every secret decrypts, the audit chain holds, and what was lost.

* **Vault**: every secret is decrypted with the restored master key (names
  of those that do not are reported, never values).
* **Audit chain**: :func:`controlplane.audit.verify` over the restored
  records (keyed, with the vault's audit key); the anchors the original
  wrote on the backup centers are then read with the kit's key and set
  against the restored records: an anchored record the snapshot holds must
  be that very record (else the snapshot is not the history the centers
  saw), and anchors past the snapshot's last record count the records that
  were made after the snapshot (lost with the site, or still on a live
  original): the audit log's RPO.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.audit.anchor import Anchor
    from controlplane.config import Config
    from controlplane.store import Store
    from controlplane.vault import Vault

    from .fetch import Keys


@dataclass
class Checked:
    """What the checks found."""

    secrets: int = 0
    audit_records: int = 0
    audit_head: str = ""
    audit_keyed_since: int | None = None
    audit_last_seq: int = 0
    anchors_read: list[str] = field(default_factory=list)
    anchors_unread: list[str] = field(default_factory=list)
    lost_records: int = 0
    newest_anchor: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def vault_secrets(vault: Vault) -> int:
    """Decrypt every secret; return how many. Raises EgovError naming those that do not decrypt."""
    from controlplane.vault import VaultKeyError

    failed = []
    names = vault.names()
    for name in names:
        try:
            vault.get(name)
        except VaultKeyError:
            failed.append(name)
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise EgovError(f"{len(failed)} of {len(names)} vault secrets do not decrypt with the restored key: {shown}")
    return len(names)


def _remote_anchors(kit: dict[str, Any], keys: Keys, checked: Checked) -> list[Anchor]:
    from controlplane.audit.anchor import REMOTE_NAME, RemoteLog, read_remote
    from controlplane.audit.chain import AuditError
    from controlplane.ssh import Target

    anchors = []
    for center in kit["centers"]:
        folder = "" if center["chrooted"] else f"{center['root'].rstrip('/')}/controlplane"
        remote = RemoteLog(
            where=center["host"],
            target=Target(center["host"], center["address"], int(center["port"]), center["user"]),
            path=f"{folder}/controlplane/{REMOTE_NAME}",
            identity_file=keys.identity,
            known_hosts=keys.known_hosts,
        )
        try:
            found, _problems = read_remote(remote, timeout=20.0)
        except AuditError as error:
            checked.anchors_unread.append(f"{center['host']}: {error.message}")
            continue
        checked.anchors_read.append(center["host"])
        anchors += found
    return anchors


def audit_chain(config: Config, store: Store, kit: dict[str, Any], keys: Keys | None) -> Checked:
    """Verify the restored chain, then against the centers' anchors. Raises EgovError when it does not hold."""
    from controlplane import audit
    from controlplane.store.models import AuditRecord

    result = audit.verify(store, config=config, remote=False)
    if not result.ok:
        raise EgovError(f"the restored audit chain does not verify: record {result.bad_seq}: {result.reason}")
    checked = Checked(audit_records=result.count, audit_head=result.head, audit_keyed_since=result.keyed_since)
    if keys is None:
        return checked
    anchors = _remote_anchors(kit, keys, checked)
    with store.session() as session:
        last = session.scalar(select(func.max(AuditRecord.seq))) or 0
        checked.audit_last_seq = last
        wanted = sorted({anchor.seq for anchor in anchors if anchor.seq <= last})
        query = select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.in_(wanted))
        hashes = dict(session.execute(query).all())
    for anchor in anchors:
        if anchor.seq <= last and hashes.get(anchor.seq) not in (None, anchor.head):
            raise EgovError(
                f"the restored record {anchor.seq} is not the one anchored on {anchor.where} at {anchor.at}: this "
                "snapshot is not the history the backup center saw"
            )
    beyond = [anchor for anchor in anchors if anchor.seq > last]
    if beyond:
        newest = max(beyond, key=lambda anchor: anchor.seq)
        checked.lost_records = newest.seq - last
        checked.newest_anchor = {"seq": newest.seq, "at": newest.at, "where": newest.where}
    return checked


def key_file_matches(path: Path, wanted: str) -> str:
    """The restored master key's id; raises EgovError when it is not the one the kit names."""
    from controlplane.vault_keys import key_id, read_key_file

    found = key_id(read_key_file(path))
    if found != wanted:
        raise EgovError(f"the restored master key {path} has id {found}, the kit was made for {wanted}")
    return found
