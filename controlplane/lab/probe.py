"""Reading the lab's real state from the system (no process is started).

Status never trusts a pid file: it looks at ``/run/netns``, at every process's
network namespace and command line in ``/proc``, at ``/sys/class/net`` for
links, and asks each init over its control socket.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.lab import names
from controlplane.lab.network import INIT_MODULE

NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")
PROC = Path("/proc")
IFF_UP = 0x1


@dataclass(frozen=True)
class Process:
    """One process as seen from the machine: pid, network namespace, command line."""

    pid: int
    net_inode: int | None
    argv: tuple[str, ...]

    @property
    def is_lab_init(self) -> bool:
        """Whether this is a lab host's init (``python -I -m controlplane.lab.init FILE``).

        Its launcher (``unshare ... -- python -I -m ...``) ends with the same
        words, so the match is on the whole command line, not its tail.
        """
        return len(self.argv) == 5 and self.argv[1:4] == ("-I", "-m", INIT_MODULE)


@dataclass
class Snapshot:
    """Processes and lab namespaces at one moment."""

    processes: list[Process] = field(default_factory=list)
    netns: dict[str, int] = field(default_factory=dict)  # lab netns name -> inode

    def in_netns(self, inode: int) -> list[Process]:
        """Processes whose network namespace is the one with this inode."""
        return [p for p in self.processes if p.net_inode == inode]

    def init_of(self, init_file: Path) -> Process | None:
        """The init started with this init.json, if one runs."""
        wanted = str(init_file)
        for process in self.processes:
            if process.is_lab_init and process.argv[-1] == wanted:
                return process
        return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def net_inode(pid: int) -> int | None:
    """The inode of a process's network namespace (None if it is gone or hidden)."""
    try:
        return os.stat(PROC / str(pid) / "ns/net").st_ino
    except OSError:
        return None


def processes() -> list[Process]:
    """Every process on the machine with its network namespace and argv."""
    found = []
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        raw = _read(PROC / entry.name / "cmdline")
        if raw is None:
            continue
        argv = tuple(word.decode("utf-8", "replace") for word in raw.split(b"\x00") if word)
        found.append(Process(pid=pid, net_inode=net_inode(pid), argv=argv))
    return found


def netns_inode(name: str) -> int | None:
    """The inode of a named network namespace, or None when it does not exist."""
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except OSError:
        return None


def lab_netns() -> dict[str, int]:
    """Every network namespace named with the lab prefix, with its inode."""
    try:
        entries = sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return {}
    found = {}
    for name in entries:
        if name.startswith(names.NETNS_PREFIX):
            inode = netns_inode(name)
            if inode is not None:
                found[name] = inode
    return found


def snapshot() -> Snapshot:
    """Take a Snapshot of processes and lab namespaces."""
    return Snapshot(processes=processes(), netns=lab_netns())


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` is a mount point in our mount namespace.

    Read from /proc/self/mountinfo: ``os.path.ismount`` misses a bind mount
    of a folder on the same filesystem, which is what /run/netns is.
    """
    raw = _read(PROC / "self/mountinfo") or b""
    wanted = str(path)
    for line in raw.decode("utf-8", "replace").splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4].encode().decode("unicode_escape") == wanted:
            return True
    return False


def link_exists(device: str) -> bool:
    """Whether a network device exists in the machine's namespace."""
    return (SYS_NET / device).exists()


def link_state(device: str, bridge: str | None = None) -> str:
    """``up``, ``down`` (admin down or not on ``bridge``) or ``missing``."""
    flags = _read(SYS_NET / device / "flags")
    if flags is None:
        return "missing"
    if not int(flags.strip(), 16) & IFF_UP:
        return "down"
    if bridge is not None:
        try:
            master = os.path.basename(os.readlink(SYS_NET / device / "master"))
        except OSError:
            return "down"
        if master != bridge:
            return "down"
    return "up"


def bridge_is_up() -> bool:
    """Whether the lab's bridge is up on this machine (one /sys read).

    The monitor is handed this check by the composition root (``egov serve``,
    ``egov monitor``): while the bridge is down a lab address would be routed
    off the machine, so the monitor does not probe lab addresses.
    """
    return link_state(names.BRIDGE) == "up"


def lab_links() -> list[str]:
    """Machine-side lab veth names present now."""
    try:
        entries = os.listdir(SYS_NET)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(names.VETH_PREFIX) and e[len(names.VETH_PREFIX) :].isdigit())


def zone_links() -> list[str]:
    """Machine-side data-plane names present now: zone legs first, then zone bridges.

    In that order a caller can delete them (a bridge's ports before the bridge).
    """
    try:
        entries = os.listdir(SYS_NET)
    except FileNotFoundError:
        return []
    found = [e for e in entries if names.is_zone_link(e)]
    return sorted(found, key=lambda name: (name.count("-") == 1, name))


def link_alias(device: str) -> str | None:
    """A device's alias, or None when it has none or does not exist."""
    raw = _read(SYS_NET / device / "ifalias")
    text = raw.decode("utf-8", "replace").strip() if raw else ""
    return text or None


def pid_alive(pid: int) -> bool:
    """Whether a pid exists and is not a zombie."""
    raw = _read(PROC / str(pid) / "stat")
    if raw is None:
        return False
    # The state letter follows the command name, which is in parentheses.
    return raw.rsplit(b")", 1)[-1].split()[0:1] != [b"Z"]


def any_alive(pids: Iterable[int]) -> list[int]:
    """The pids of the given ones that still run."""
    return [pid for pid in pids if pid_alive(pid)]


def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connect to address:port succeeds within timeout."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False
