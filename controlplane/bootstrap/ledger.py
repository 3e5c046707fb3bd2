"""What the bootstrap remembers: which steps it did on which lab, and how to tell the lab is still that lab.

The record is one row of the store's ``settings`` table (key
:data:`RECORD_KEY`), so it lives and dies with the store. A step counts as
done only on the lab it was done on, told apart by two fingerprints that
cost a file read and one look at the machine's processes, never a
connection to a host:

* ``disks``: the pinned host keys (``ssh.known_hosts``). A purged lab
  (``egov lab down --purge``), a new host or another lab gets new host keys,
  and then every step is due again.
* ``boot``: each host's init process (pid and start time). A lab host that
  restarted (``egov lab down`` then ``up``, or the machine rebooted) kept its
  disk but lost what lives in its namespaces: the portal VIP, the nftables
  ruleset, the ``net.*`` sysctls. The steps in :data:`RUNTIME_STEPS` put
  those back, so they are due again after a restart; the others (accounts,
  snapshots, drills, a scan) are on disk or in the store and stay done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.store.models import Setting, utcnow

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

RECORD_KEY = "bootstrap.record"
# In the order they run: a scan last, so the backup controls see the first backups.
STEPS = ("provision", "backup-setup", "harden", "backup", "copy", "drill", "scan")
RUNTIME_STEPS = frozenset({"provision", "harden"})


@dataclass(frozen=True)
class LabIdentity:
    """The two fingerprints of a running lab (see the module docstring)."""

    disks: str
    boot: str


@dataclass
class Record:
    """The steps done, each with when, on which boot, and its runs."""

    disks: str = ""
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"disks": self.disks, "steps": self.steps}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Record:
        """Parse a stored record; an unreadable one counts as no record (every step is due)."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
            return cls()
        return cls(disks=str(data.get("disks") or ""), steps=dict(data["steps"]))

    def mark_done(self, step: str, identity: LabIdentity, runs: list[int], message: str) -> None:
        """Remember that ``step`` succeeded on this lab and boot."""
        if self.disks != identity.disks:
            self.disks, self.steps = identity.disks, {}
        self.steps[step] = {"boot": identity.boot, "at": utcnow().isoformat(), "runs": runs, "message": message}


def fingerprint(parts: list[str]) -> str:
    """A short stable digest of some strings (order matters)."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def disks_fingerprint(known_hosts: Path) -> str:
    """The digest of the pinned host keys; an empty string when there is no such file."""
    try:
        return fingerprint([known_hosts.read_text(encoding="utf-8")])
    except OSError:
        return ""


def boot_fingerprint(hosts: list[tuple[str, int | None, str | None]]) -> str:
    """The digest of each host's (name, init pid, init start time), whatever their order."""
    return fingerprint([f"{name} {pid} {started}" for name, pid, started in sorted(hosts, key=lambda h: h[0])])


def pending(record: Record | None, identity: LabIdentity, force: bool = False) -> list[str]:
    """The steps still to do, in order (pure).

    All of them without a record, with ``force`` or on other disks; else the
    steps never done, and the runtime steps done on an earlier boot.
    """
    if force or record is None or not record.disks or record.disks != identity.disks:
        return list(STEPS)
    due = []
    for step in STEPS:
        done = record.steps.get(step)
        if done is None or (step in RUNTIME_STEPS and done.get("boot") != identity.boot):
            due.append(step)
    return due


def load_record(store: Store) -> Record | None:
    """The stored record, or None when the bootstrap never finished a step here."""
    with store.session() as session:
        row = session.get(Setting, RECORD_KEY)
        return Record.from_json(row.value) if row is not None else None


def save_record(store: Store, record: Record) -> None:
    """Store the record (one row, replaced)."""
    with store.session() as session:
        row = session.get(Setting, RECORD_KEY)
        if row is None:
            session.add(Setting(key=RECORD_KEY, value=record.to_json()))
        else:
            row.value = record.to_json()


def lab_identity(config: Config) -> LabIdentity:
    """The fingerprints of this site's lab as it runs now (root; reads /proc and the known_hosts file).

    Raises EgovError (exit 1) when a lab host is not running: the bootstrap
    needs every host, and ``egov lab up`` repairs a half-up lab.
    """
    from controlplane.errors import EgovError
    from controlplane.lab import manager
    from controlplane.runs import process_start_time

    hosts = manager.status(config)
    down = [f"{host.name} ({host.state})" for host in hosts if host.state != "running"]
    if down:
        raise EgovError(f"lab hosts not running: {', '.join(down)}: run `egov lab up` first")
    boot = boot_fingerprint([(h.name, h.pid, process_start_time(h.pid) if h.pid else None) for h in hosts])
    return LabIdentity(disks=disks_fingerprint(config.ssh_known_hosts), boot=boot)


def lab_is_up(config: Config) -> bool:
    """Whether this site's own lab is up on this machine (root, and the bridge names our lab folder)."""
    import os

    if os.geteuid() != 0:
        return False
    from controlplane.lab import manager, names, probe

    return probe.link_alias(names.BRIDGE) == manager.owner_tag(config.lab_dir.resolve())
