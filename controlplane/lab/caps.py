"""Capabilities a lab host's processes never get.

Lab hosts share one kernel with the machine. Root inside a host keeps what a
server needs (setuid, chown, binding ports, network administration of its
own namespace, nftables, ``net.*`` sysctls), and loses what would change the
machine for everyone: loading modules, setting the clock, rebooting, kernel
audit rules, mounting (which would undo the read-only ``/proc/sys``), raw
devices and device nodes, reading files by handle outside its root.

The init drops these from its bounding set before starting anything
(``prctl(PR_CAPBSET_DROP)``), so every process of the host, including root
logins over ssh, runs without them; commands the control plane runs inside a
host go through ``setpriv --bounding-set`` with the same list.
"""

from __future__ import annotations

import ctypes
import os

# name (as setpriv spells it, without "cap_") -> number (linux/capability.h)
DROPPED: dict[str, int] = {
    "dac_read_search": 2,  # open_by_handle_at can reach files outside the root
    "linux_immutable": 9,
    "sys_module": 16,
    "sys_rawio": 17,
    "sys_pacct": 20,
    "sys_admin": 21,  # mount, setns, sethostname, remounting /proc/sys rw
    "sys_boot": 22,
    "sys_time": 25,
    "sys_tty_config": 26,
    "mknod": 27,  # a device node for the machine's disk
    "audit_control": 30,
    "mac_override": 32,
    "mac_admin": 33,
    "syslog": 34,
    "wake_alarm": 35,
    "block_suspend": 36,
    "audit_read": 37,
    "perfmon": 38,
    "bpf": 39,
    "checkpoint_restore": 40,
}

PR_CAPBSET_DROP = 24


def setpriv_bounding_set() -> str:
    """Return the ``setpriv --bounding-set`` value that drops every capability in DROPPED."""
    return ",".join(f"-{name}" for name in DROPPED)


def last_cap() -> int:
    """Return the highest capability number this kernel knows (40 if unknown)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 40


def drop_bounding_set() -> list[str]:
    """Drop DROPPED from this process's bounding set (inherited by every child).

    Returns the names this kernel does not know and that were skipped.
    Raises OSError when the kernel refuses a drop (no CAP_SETPCAP).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    highest = last_cap()
    skipped: list[str] = []
    for name, number in DROPPED.items():
        if number > highest:
            skipped.append(name)
            continue
        if libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"cannot drop cap_{name}: {os.strerror(errno)}")
    return skipped
