"""Helpers every lab operation shares: root check, spec loading, locking, waiting."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane import execute
from controlplane.errors import EgovError
from controlplane.lab import names, probe
from controlplane.lab.spec import HostSpec, LabSpec, build_spec

if TYPE_CHECKING:
    from controlplane.config import Config

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


def require_root() -> None:
    """Raise EgovError unless we run as root on Linux (namespaces and mounts)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        raise EgovError("the lab needs root on Linux (network namespaces, mounts): run it with sudo")


def load_spec(config: Config) -> LabSpec:
    """Load the configured inventory and its network file; return the checked LabSpec (see build_spec).

    Without ``network.yml`` next to the inventory the lab is flat. Raises
    ConfigError for an invalid inventory or network file.
    """
    from controlplane.inventory import load_inventory
    from controlplane.network.model import load_network

    inventory = load_inventory(Path(config.inventory))
    return build_spec(config, inventory, load_network(config, inventory))


def run_checked(argv: list[str], what: str, *, input_text: str | None = None) -> execute.ProcessResult:
    """Run a lab command; return its result, or raise EgovError naming ``what`` with its output."""
    result = execute.run(argv, timeout=30, input_text=input_text)
    if not result.ok:
        raise EgovError(result.error_message(what))
    return result


@contextlib.contextmanager
def locked(lab_dir: Path) -> Iterator[None]:
    """Serialise lab changes (two ``up`` at once would race on the same names)."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    with open(lab_dir / ".lock", "w", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_proc(path: str, value: str) -> None:
    """Write a /proc or /sys value, ignoring a knob this kernel does not have."""
    with contextlib.suppress(OSError), open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def wait_port(host: HostSpec, deadline: float) -> None:
    """Wait until the host's sshd accepts TCP; raise EgovError at ``deadline``."""
    # Only ever probe through the lab bridge: without it the address would
    # route to the machine's default gateway, off the lab subnet.
    if probe.link_state(names.BRIDGE) != "up":
        raise EgovError(f"{host.name}: the lab bridge {names.BRIDGE} is not up")
    while not probe.tcp_open(host.address, host.port, timeout=0.5):
        if time.monotonic() > deadline:
            raise EgovError(f"{host.name}: sshd does not accept connections on {host.address}:{host.port}")
        time.sleep(0.02)


def stop_processes(pids: Sequence[int], timeout: float = STOP_TIMEOUT) -> None:
    """TERM the given processes, KILL what is left after ``timeout``, wait until gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while probe.any_alive(pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in probe.any_alive(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while probe.any_alive(pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def running_init(host: HostSpec) -> int:
    """Return the machine pid of a host's init; raise EgovError when it does not run."""
    init = probe.snapshot().init_of(host.init_file)
    inode = probe.netns_inode(host.netns)
    if init is None or inode is None or init.net_inode != inode:
        raise EgovError(f"lab host {host.name} is not running: run `egov lab up`")
    return init.pid
