"""Anchors: the chain's head written outside the database, so an emptied or cut-back chain is caught.

An anchor is one line ``SEQ HEAD TIME`` ("record SEQ had hash HEAD at TIME")
appended to

* the **local anchor log** ``STATE/audit/anchors.log`` (0600, in the 0700
  state folder): out of reach of someone who can only write the database
  (a PostgreSQL account, a copied-back database file);
* the **backup center**, ``audit-anchors-KEYID.log`` (one file per audit
  key, so two control planes sharing a center, a staging and a production
  one, never mix their anchors) in the control plane's own folder on every
  center of the backup policy, over the control plane's chrooted SFTP
  account (``backup-controlplane``, the one its daily state backup uses,
  made by ``egov backup setup``): out of reach of the control plane
  machine's disks altogether.

The scheduled job (:mod:`.schedule`) anchors every few minutes when the head
moved; the first keyed record anchors itself locally at once. Verification
checks every anchor line: a record that differs from its anchored head, or an
anchored record that no longer exists, fails the chain.

What an anchor does not stop: whoever holds the control plane's own backup
key can rewrite the center's file over SFTP too (it is the account's file);
an append-only account on the center would close that (see SECURITY.md).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import EgovError
from controlplane.store.models import utcnow

from .chain import AuditError
from .walk import Anchor

if TYPE_CHECKING:
    from paramiko import SFTPClient

    from controlplane.config import Config
    from controlplane.ssh import SSHPool, Target
    from controlplane.store import Store

log = logging.getLogger(__name__)
LOCAL_NAME = "anchors.log"
REMOTE_NAME = "audit-anchors-{key_id}.log"
LINE = re.compile(r"^(\d{1,18}) ([0-9a-f]{64}) ([0-9T:.+Z-]{10,40})$")
SFTP_TIMEOUT = 30.0
MAX_REMOTE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class AnchorResult:
    """One anchoring: where, which head, and whether a line was written (or why not)."""

    where: str
    seq: int
    head: str
    at: str
    written: bool
    error: str = ""


@dataclass(frozen=True)
class RemoteLog:
    """The anchor log on one backup center, as the control plane's SFTP account reaches it."""

    where: str
    target: Target
    path: str
    identity_file: Path
    known_hosts: Path


def local_log_path(config: Config) -> Path:
    """The local anchor log of a site."""
    return Path(config.state_dir) / "audit" / LOCAL_NAME


def format_line(seq: int, head: str, at: str) -> str:
    """One anchor line (the format every anchor log uses)."""
    return f"{seq} {head} {at}\n"


def parse_lines(text: str, where: str) -> tuple[list[Anchor], list[str]]:
    """Parse an anchor log; return its anchors and one problem per unreadable line."""
    anchors, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = LINE.match(line.strip())
        if match is None:
            problems.append(f"the anchor log on {where} has an unreadable line {number}")
            continue
        anchors.append(Anchor(where, int(match[1]), match[2], match[3]))
    return anchors, problems


def read_local(config: Config) -> tuple[list[Anchor], list[str]]:
    """The local anchors (none when the log does not exist yet) and problems reading them."""
    path = local_log_path(config)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], []
    except OSError as error:
        return [], [f"the local anchor log {path} cannot be read: {error.strerror or error}"]
    return parse_lines(text, "local")


def append_local(config: Config, seq: int, head: str) -> Anchor:
    """Append one anchor to the local log (folder 0700, file 0600, fsynced). Raises OSError."""
    path = local_log_path(config)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    at = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, format_line(seq, head, at).encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return Anchor("local", seq, head, at)


def remote_logs(config: Config, key_ids: list[str]) -> tuple[list[RemoteLog], list[str]]:
    """The anchor logs of the chain's audit keys on the backup centers, or notes saying why there are none.

    There are none when the chain has no audit key yet, or when
    :func:`center_folders` finds no center to write to.
    """
    if not key_ids:
        return [], ["no remote anchor: the chain has no audit key yet"]
    folders, notes = center_folders(config)
    logs = [
        dataclasses.replace(folder, path=f"{folder.path}/{REMOTE_NAME.format(key_id=key_id)}")
        for folder in folders
        for key_id in key_ids
    ]
    return logs, notes


def center_folders(config: Config) -> tuple[list[RemoteLog], list[str]]:
    """The control plane's folder on each backup center (``path`` is the folder), or notes saying why there is none.

    The backup engine knows (:func:`controlplane.backup.own_folders.control_plane_folders`);
    the composition root provides it (:mod:`controlplane.providers`): the core
    reads no backup policy. With nothing provided there is no remote anchor,
    and the note says so.
    """
    from controlplane import providers

    finder = providers.provided().center_folders
    if finder is None:
        return [], ["no remote anchor: this process was not told where the backup centers are"]
    return finder(config)


def _sftp(remote: RemoteLog, timeout: float) -> tuple[SSHPool, SFTPClient]:
    from controlplane.ssh import SSHPool

    pool = SSHPool(remote.identity_file, remote.known_hosts, connect_timeout=min(timeout, 10.0))
    client = pool.client(remote.target)
    sftp = client.open_sftp()
    sftp.get_channel().settimeout(timeout)
    return pool, sftp


def read_remote(remote: RemoteLog, timeout: float = SFTP_TIMEOUT) -> tuple[list[Anchor], list[str]]:
    """Read one center's anchor log. Raises AuditError when the center cannot be reached or read."""
    import paramiko

    pool, sftp = _sftp_or_error(remote, timeout)
    try:
        try:
            with sftp.open(remote.path, "r") as handle:
                data = handle.read(MAX_REMOTE_BYTES)
        except FileNotFoundError:
            return [], []
        except (OSError, paramiko.SSHException) as error:
            raise AuditError(f"cannot read {remote.path} on {remote.where}: {error}") from None
    finally:
        pool.close()
    return parse_lines(data.decode("utf-8", errors="replace"), remote.where)


def append_remote(remote: RemoteLog, seq: int, head: str, timeout: float = SFTP_TIMEOUT) -> Anchor:
    """Append one anchor line to a center's log (SFTP append). Raises AuditError on any failure."""
    at = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    import paramiko

    pool, sftp = _sftp_or_error(remote, timeout)
    try:
        with sftp.open(remote.path, "a") as handle:
            handle.write(format_line(seq, head, at).encode("ascii"))
    except (OSError, paramiko.SSHException) as error:
        raise AuditError(f"cannot append to {remote.path} on {remote.where}: {error}") from None
    finally:
        pool.close()
    return Anchor(remote.where, seq, head, at)


def _sftp_or_error(remote: RemoteLog, timeout: float) -> tuple[SSHPool, SFTPClient]:
    import paramiko

    try:
        return _sftp(remote, timeout)
    except EgovError as error:
        raise AuditError(f"cannot reach the anchor log on {remote.where}: {error.message}") from None
    except (paramiko.SSHException, OSError) as error:
        raise AuditError(f"cannot reach the anchor log on {remote.where}: {error}") from None


def anchor_head(config: Config, store: Store, *, remote: bool = True) -> list[AnchorResult]:
    """Anchor the current head locally and (with ``remote``) on every backup center; return what happened.

    A line is written only where the head moved since that log's last line.
    A head that went backwards (fewer records than already anchored) is
    never anchored: that is the damage the anchors exist to reveal, and
    verification reports it. Remote failures are results with an error
    (logged), never exceptions: the local anchor stands on its own.
    """
    from .log import _newest

    newest = _newest(store)
    if newest is None:
        return []
    seq, head = newest[0], newest[1]
    results = [_anchor_into("local", read_local(config)[0], seq, head, lambda: append_local(config, seq, head))]
    if remote:
        logs, notes = remote_logs(config, [newest[2]] if newest[2] else [])
        for note in notes:
            log.info("%s", note)
        for remote_log in logs:
            try:
                existing, _problems = read_remote(remote_log)
                results.append(
                    _anchor_into(
                        remote_log.where, existing, seq, head, lambda r=remote_log: append_remote(r, seq, head)
                    )
                )
            except AuditError as error:  # unreachable, refused, unreadable: the next run tries again
                log.error("audit anchor: %s", error.message)
                results.append(AnchorResult(remote_log.where, seq, head, "", False, error.message))
    return results


def _anchor_into(where: str, existing: list[Anchor], seq: int, head: str, write: Callable[[], Anchor]) -> AnchorResult:
    last = max(existing, key=lambda anchor: anchor.seq) if existing else None
    if last is not None and last.seq == seq and last.head == head:
        return AnchorResult(where, seq, head, last.at, False)
    if last is not None and (last.seq > seq or (last.seq == seq and last.head != head)):
        message = f"the head (record {seq}) is behind or differs from the one anchored on {where} (record {last.seq})"
        log.error("audit anchor refused: %s", message)
        return AnchorResult(where, seq, head, "", False, message)
    try:
        anchor = write()
    except OSError as error:
        return AnchorResult(where, seq, head, "", False, f"cannot write the anchor log: {error}")
    return AnchorResult(where, seq, head, anchor.at, True)
