"""Building a lab host's root from inside its fresh namespaces (run by its init).

:func:`build_root` mounts under the host's ``root`` folder: the overlay
(lower ``/``, upper and work dirs in the host folder), a fresh ``/run``, a
minimal ``/dev`` (null, zero, full, random, urandom, tty, its own devpts and
shm), ``/proc`` of the host's PID namespace with ``/proc/sys`` read-only
except ``/proc/sys/net`` and a few kernel files masked, ``/sys`` read-only,
and an empty read-only cover over the control plane's state folder and keys.
:func:`enter_root` ``pivot_root``s into it and detaches the machine's tree
(unlike chroot there is no way back). :func:`harden` then disables IPv6 in
the host's network namespace, unsets the audit login uid (so PAM in sshd may
set one without CAP_AUDIT_CONTROL) and drops the capabilities of
:mod:`controlplane.lab.caps` from the bounding set and the init's own sets.

All mounts live in the host's private mount namespace: when its last process
exits, the kernel frees them, and the machine's mount table never sees them.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any

from controlplane import execute
from controlplane.lab import caps, control

DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
READ_ONLY_PROC = ("sys", "sysrq-trigger", "irq", "bus", "fs")
MASKED_PROC = ("kcore", "keys", "timer_list", "sched_debug")


class SetupError(Exception):
    """The host's root could not be built; the init exits and the manager reports it."""


def say(message: str) -> None:
    """Write one line to the init's log (the host's init.log on the machine)."""
    sys.stderr.write(f"egov-lab-init: {message}\n")
    sys.stderr.flush()


def run(argv: list[str]) -> None:
    """Run a setup command; raise SetupError with its output when it fails."""
    result = execute.run(argv, timeout=30)
    if not result.ok:
        raise SetupError(result.error_message(execute.describe(argv)))


def mount(*words: str) -> None:
    """``mount WORDS...``."""
    run(["mount", *words])


def inside(root: Path, path: str | Path) -> Path:
    """The place of an absolute machine path inside the new root."""
    return root / str(path).lstrip("/")


def bind_control_socket(folder: Path) -> socket.socket:
    """Bind and return the control socket in the host folder (machine side, 0600)."""
    dir_fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    try:
        path = control.short_path(dir_fd)
        if os.path.lexists(path):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o600)
    finally:
        # Never keep a handle on a machine folder: root in the host could
        # reach it through /proc/1/fd and walk out of its root.
        os.close(dir_fd)
    return listener


def make_dev(root: Path) -> None:
    """A minimal /dev: a few character devices, its own devpts, a tmpfs shm."""
    dev = root / "dev"
    mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=1m", "tmpfs", str(dev))
    for name, (major, minor) in DEVICES.items():
        os.mknod(dev / name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(dev / name, 0o666)  # noqa: S103 - device nodes every user needs; mknod honours the umask
    (dev / "pts").mkdir(mode=0o755)
    (dev / "shm").mkdir(mode=0o1777)
    mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec", "devpts", str(dev / "pts"))
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=64m", "tmpfs", str(dev / "shm"))
    for link, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, dev / link)


def make_proc(root: Path) -> None:
    """/proc of the host's PID namespace: kernel-wide knobs read-only, net writable."""
    proc = root / "proc"
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(proc))
    for name in READ_ONLY_PROC:
        if (proc / name).exists():
            mount("-o", "bind,ro", str(proc / name), str(proc / name))
    # net.* sysctls belong to the host's own network namespace: writable. A
    # bind inherits the read-only flag of /proc/sys, so remount it rw.
    mount("--bind", str(proc / "sys/net"), str(proc / "sys/net"))
    mount("-o", "remount,bind,rw", str(proc / "sys/net"))
    for name in MASKED_PROC:
        if (proc / name).exists():
            mount("-o", "bind,ro", str(root / "dev/null"), str(proc / name))


def build_root(spec: dict[str, Any]) -> None:
    """Mount the host's root under spec["root"] (see the module docstring)."""
    root = Path(spec["root"])
    mount("-t", "overlay", "-o", f"lowerdir=/,upperdir={spec['upper']},workdir={spec['work']}", "overlay", str(root))
    mount("-t", "tmpfs", "-o", "mode=755,nosuid,nodev,size=64m", "tmpfs", str(root / "run"))
    for folder in ("run/sshd", "run/egov-lab", "run/lock"):
        (root / folder).mkdir(mode=0o755, exist_ok=True)
    # Login records (who, last; sshd writes them at login and logout).
    utmp = root / "run/utmp"
    utmp.touch(mode=0o664)
    with contextlib.suppress(KeyError):
        os.chown(utmp, 0, grp.getgrnam("utmp").gr_gid)
    make_dev(root)
    make_proc(root)
    mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", str(root / "sys"))
    for hidden in spec.get("hide", []):
        target = inside(root, hidden)
        if target.is_dir():
            mount("-t", "tmpfs", "-o", "ro,mode=755,size=16k", "tmpfs", str(target))
        elif target.exists():
            mount("-o", "bind,ro", str(root / "dev/null"), str(target))


def enter_root(root: Path) -> None:
    """pivot_root into the new root and detach the machine's tree."""
    old = root / "run/.oldroot"
    old.mkdir(mode=0o700)
    # pivot_root(2) moves the root and cwd of every process of this mount
    # namespace whose root is the old one, so this init moves too.
    run(["pivot_root", str(root), str(old)])
    os.chdir("/")
    run(["umount", "-l", "/run/.oldroot"])
    os.rmdir("/run/.oldroot")


def write_quietly(path: str, value: str) -> None:
    """Write a /proc file, ignoring what this kernel lacks or forbids."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(value)
    except OSError as error:
        say(f"cannot write {path}: {error.strerror}")


def drop_own_capabilities() -> None:
    """Remove the dropped capabilities from this process's own sets too.

    The bounding set limits what children get; the init's own effective set
    must shrink as well, or root in the host could ptrace PID 1 and borrow it.
    """

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]  # fmt: skip

    libc = ctypes.CDLL(None, use_errno=True)
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    for number in caps.DROPPED.values():
        word, bit = divmod(number, 32)
        mask = ~(1 << bit) & 0xFFFFFFFF
        data[word].effective &= mask
        data[word].permitted &= mask
        data[word].inheritable &= mask
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def harden() -> None:
    """Step 3 after pivot_root: IPv6 off, login uid unset, capabilities dropped."""
    for scope in ("all", "default", "lo", "eth0"):
        path = f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6"
        if os.path.exists(path):
            write_quietly(path, "1")
    write_quietly("/proc/self/loginuid", "4294967295")
    skipped = caps.drop_bounding_set()
    if skipped:
        say(f"kernel does not know: {', '.join(skipped)}")
    drop_own_capabilities()
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: /proc/1 stays private


def preload() -> None:
    """Import now what later code imports lazily.

    After pivot_root the interpreter's own files may be out of sight (the
    host's /root is its own, and a pyenv Python lives under the machine's
    /root), so nothing may be imported from disk after that point.
    """
    import importlib

    # Codecs looked up by name, and shlex, which execute.describe imports lazily.
    for name in ("encodings.ascii", "encodings.latin_1", "shlex"):
        importlib.import_module(name)
