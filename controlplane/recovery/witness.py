"""The leader's lease, witnessed on the backup centers, so a restored copy can tell whether the original lives.

The original control plane's leader (the one process that runs the
scheduler, :mod:`controlplane.scheduler`) writes ``leader-lease.json`` into
the control plane's own folder on every backup center each minute
(:func:`publish_job`), over the control plane's chrooted SFTP account (the
one its state backups and audit anchors use): who holds the lease, when it
was renewed and until when it holds (:data:`LEASE_SECONDS`). It is a witness
of the store's lease, not a second lease: only the holder writes it.

A restored control plane, far from the original's store, reads it
(:func:`read`) with its management SSH key (restored with the keys) and
stays passive while the lease holds; once it has lapsed by more than
:data:`CLOCK_MARGIN` (clocks differ), the original is taken to be gone
(:mod:`.standing`). No witness at all (an original that never ran ``egov
serve``, or a center that does not answer) is not a lapse: the copy stays
passive until told ``egov recover --activate``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)
NAME = "leader-lease.json"
LEASE_SECONDS = 180
PUBLISH_SECONDS = 60
CLOCK_MARGIN = 30
JOB_ID = "recovery-lease-witness"
MAX_BYTES = 4096


@dataclass(frozen=True)
class Witness:
    """What a center says of the original's lease."""

    center: str
    holder: str
    renewed_at: dt.datetime
    expires_at: dt.datetime

    def lapsed(self, now: dt.datetime) -> bool:
        """True once the lease ran out more than :data:`CLOCK_MARGIN` seconds ago."""
        return now > self.expires_at + dt.timedelta(seconds=CLOCK_MARGIN)


def document(holder: str, site: str, now: dt.datetime, seconds: int = LEASE_SECONDS) -> str:
    """The witness file's text (JSON, UTC times)."""
    return json.dumps({
        "site": site,
        "holder": holder,
        "renewed_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }, sort_keys=True) + "\n"  # fmt: skip


def parse(text: str, center: str) -> Witness:
    """Read a witness file. Raises EgovError for one that is not ours."""
    try:
        data = json.loads(text)
        return Witness(
            center,
            str(data["holder"])[:128],
            dt.datetime.strptime(data["renewed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC),
            dt.datetime.strptime(data["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC),
        )
    except (ValueError, KeyError, TypeError):
        raise EgovError(f"the lease witness on {center} is not readable") from None


def publish(config: Config, holder: str, now: dt.datetime | None = None) -> list[str]:
    """Write the witness on every center the control plane reaches; return where (errors are logged)."""
    import paramiko

    from controlplane.backup.own_folders import control_plane_folders
    from controlplane.ssh import SSHPool

    now = now or dt.datetime.now(dt.UTC)
    written = []
    logs, notes = control_plane_folders(config)
    for note in notes:
        log.debug("lease witness: %s", note)
    for remote in logs:
        path = remote.path + "/" + NAME
        pool = SSHPool(remote.identity_file, remote.known_hosts, connect_timeout=10.0)
        try:
            sftp = pool.client(remote.target).open_sftp()
            sftp.get_channel().settimeout(20.0)
            with sftp.open(path + ".tmp", "w") as handle:
                handle.write(document(holder, config.site_name, now).encode("ascii"))
            sftp.posix_rename(path + ".tmp", path)
            written.append(remote.where)
        except (EgovError, OSError, paramiko.SSHException) as error:
            log.warning("lease witness not written on %s: %s", remote.where, getattr(error, "message", error))
        finally:
            pool.close()
    return written


def publish_job(config_path: str) -> list[str]:
    """The scheduled job (it runs only in the lease holder, where the scheduler runs)."""
    import os
    import socket

    from controlplane.config import load_config
    from controlplane.scheduler import current_store

    from .standing import may_lead

    config = load_config(config_path)
    if not may_lead(current_store()):
        return []  # a passive restored copy never speaks for the original
    return publish(config, f"{socket.gethostname()}:{os.getpid()}")


def add_job(scheduler: BaseScheduler, config: Config) -> None:
    """Add (or update) the witness job; it also runs at once, so a fresh leader is seen within seconds."""
    scheduler.add_job(
        "controlplane.recovery.witness:publish_job",
        trigger="interval",
        seconds=PUBLISH_SECONDS,
        args=[str(config.source)],
        id=JOB_ID,
        name="leader lease witness",
        replace_existing=True,
        next_run_time=dt.datetime.now(dt.UTC),
    )


def witness_path(center_root: str) -> str:
    """The witness file's path on a center as root sees it (the control plane's own folder)."""
    from controlplane.backup.policy import CONTROLPLANE

    return f"{center_root.rstrip('/')}/{CONTROLPLANE}/{CONTROLPLANE}/{NAME}"


def read(config: Config, store: Store | None = None) -> tuple[list[Witness], list[str]]:
    """The witnesses on the centers, read over the management SSH key; and notes for centers that said nothing."""
    from controlplane.backup.policy import load_policies
    from controlplane.inventory import load_inventory
    from controlplane.ssh import SSHPool, Target

    inventory = load_inventory(Path(config.inventory))
    policy = load_policies(Path(config.backup), inventory)
    found: list[Witness] = []
    notes: list[str] = []
    pool = SSHPool.from_config(config)
    try:
        for center in (policy.primary, policy.secondary):
            if center is None:
                continue
            try:
                client = pool.client(Target.from_host(inventory.host(center.host), user=config.ssh_user))
                sftp = client.open_sftp()
                sftp.get_channel().settimeout(20.0)
                try:
                    with sftp.open(witness_path(center.root), "r") as handle:
                        text = handle.read(MAX_BYTES).decode("utf-8", errors="replace")
                finally:
                    sftp.close()
            except FileNotFoundError:
                notes.append(f"{center.host} holds no lease witness")
                continue
            except (EgovError, OSError, Exception) as error:  # paramiko raises its own, plus socket errors
                notes.append(f"{center.host} did not answer: {getattr(error, 'message', error)}")
                continue
            try:
                found.append(parse(text, center.host))
            except EgovError as error:
                notes.append(error.message)
    finally:
        pool.close()
    return found, notes


def verdict(witnesses: list[Witness], now: dt.datetime) -> tuple[str, Witness | None]:
    """``held`` (the newest witness holds), ``lapsed`` (it ran out) or ``unknown`` (none read), and that witness."""
    if not witnesses:
        return "unknown", None
    newest = max(witnesses, key=lambda witness: witness.expires_at)
    return ("lapsed" if newest.lapsed(now) else "held"), newest


def summary(witness: Witness | None) -> dict[str, Any] | None:
    """A witness as JSON-safe data."""
    if witness is None:
        return None
    return {"center": witness.center, "holder": witness.holder,
            "renewed_at": witness.renewed_at.isoformat(), "expires_at": witness.expires_at.isoformat()}  # fmt: skip
