"""What a restored copy does once it becomes the control plane: its own backup key, the audit anchors continued.

* The lost machine's backup key went with it: ``egov backup setup`` for the
  control plane's own account makes this machine's key and authorises it on
  the centers (over the restored management key), so the state backups and
  audit anchors resume.
* The centers' audit anchor logs may hold heads the original anchored after
  the restored snapshot (records lost with the site). They are kept, renamed
  ``audit-anchors.before-recovery-<TIME>.log`` for the auditor, and the log
  starts again with the anchors the restored chain still holds, so ``egov
  audit verify`` keeps checking every center and the chain goes on from the
  restored head. The recovery's audit record says how many records were lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)


def own_backup_key(config: Config, store: Store) -> str:
    """Make and authorise this machine's backup key on the control plane's account (egov backup setup)."""
    from controlplane.backup.context import open_context
    from controlplane.backup.policy import CONTROLPLANE
    from controlplane.backup.setup import setup
    from controlplane.vault import open_vault

    ctx = open_context(config, store, open_vault(config, store), actor="system", trigger="recovery")
    try:
        setup(ctx, sites=[CONTROLPLANE])
    finally:
        ctx.close()
    return "this machine's backup key is authorised on the control plane's account"


def continue_anchors(config: Config, store: Store, last_restored: int) -> list[str]:
    """Set the original's anchor logs aside and start them again from the restored chain; return what was done."""
    import paramiko

    from controlplane.audit.anchor import format_line, read_remote, remote_logs
    from controlplane.audit.chain import AuditError
    from controlplane.ssh import SSHPool
    from controlplane.store.models import AuditRecord

    done = []
    with store.session() as session:
        key_ids = sorted(
            key for key in session.scalars(
                select(AuditRecord.key_id).where(AuditRecord.seq <= last_restored).distinct()
            ) if key
        )  # fmt: skip
    logs, notes = remote_logs(config, key_ids)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for remote in logs:
        try:
            anchors, _problems = read_remote(remote)
        except AuditError as error:
            done.append(f"{remote.where}: anchor log not read ({error.message})")
            continue
        with store.session() as session:
            hashes = dict(session.execute(select(AuditRecord.seq, AuditRecord.hash)
                                          .where(AuditRecord.seq <= last_restored)).all())  # fmt: skip
        kept = [a for a in anchors if a.seq <= last_restored and hashes.get(a.seq) == a.head]
        if len(kept) == len(anchors):
            continue
        pool = SSHPool(remote.identity_file, remote.known_hosts, connect_timeout=10.0)
        try:
            sftp = pool.client(remote.target).open_sftp()
            aside = remote.path.replace(".log", f".before-recovery-{stamp}.log")
            sftp.posix_rename(remote.path, aside)
            with sftp.open(remote.path, "w") as handle:
                handle.write("".join(format_line(a.seq, a.head, a.at) for a in kept).encode("ascii"))
            done.append(f"{remote.where}: {len(anchors) - len(kept)} anchor(s) past the restored chain kept in {aside}")
        except (EgovError, OSError, paramiko.SSHException) as error:
            done.append(f"{remote.where}: anchor log not continued ({getattr(error, 'message', error)})")
        finally:
            pool.close()
    return notes + done


def after_activation(config: Config, store: Store) -> list[str]:
    """Both steps, each on its own (a failure is a note: the console says it, the operator repeats it)."""
    from controlplane.audit.anchor import anchor_head

    from .standing import read, write

    standing = read(store)
    last = int((standing.details if standing else {}).get("audit_last_seq") or 0)
    notes = []
    try:
        notes.append(own_backup_key(config, store))
    except EgovError as error:
        notes.append(f"backup key not set up: {error.message.splitlines()[0]} (run `egov backup setup`)")
    try:
        notes += continue_anchors(config, store, last)
        anchor_head(config, store)
    except EgovError as error:
        notes.append(f"anchors not continued: {error.message.splitlines()[0]}")
    if standing is not None:
        standing.details["after_activation"] = notes
        write(store, standing)
    for note in notes:
        log.warning("after activation: %s", note)
    return notes
