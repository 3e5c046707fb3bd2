"""Breaking and mending hosts for drills, and running commands inside them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from typing import Any

from controlplane import execute
from controlplane.errors import BadInputError, EgovError
from controlplane.lab import cabling, control, names, network, probe
from controlplane.lab.common import (
    READY_TIMEOUT,
    load_spec,
    locked,
    require_root,
    running_init,
    wait_port,
)
from controlplane.lab.host_state import LabHost
from controlplane.lab.report import host_status
from controlplane.lab.spec import HostSpec, LabSpec

ACTIONS = ("down", "up", "isolate", "wedge", "heal")


def fault(config: Any, host: str, action: str, service: str | None = None, spec: LabSpec | None = None) -> LabHost:
    """Break or mend one host for a drill, and return its new status.

    ``down``/``up`` stop/start a service (default sshd; others are registered
    inside the host, see :mod:`controlplane.lab`); ``isolate`` cuts its link
    to the bridge; ``wedge`` freezes its sshd processes with SIGSTOP (the
    kernel still accepts TCP connections, nothing answers: a hung host);
    ``heal`` restores the link and continues frozen sshd processes (SIGCONT).
    In a zoned lab ``isolate`` cuts every leg (management and zones) and
    ``heal`` restores them all.
    Raises BadInputError for an unknown
    host, action or service name (exit 2); EgovError when the host is not
    running or the service cannot be started.
    """
    spec = spec or load_spec(config)
    target = spec.host(host)
    if action not in ACTIONS:
        raise BadInputError(f"unknown fault action {action!r}: use {', '.join(ACTIONS)}")
    if service is not None and action in ("isolate", "wedge", "heal"):
        raise BadInputError("--service applies to down and up only")
    name = names.validate_service_name(service or names.DEFAULT_SERVICE)
    require_root()
    with locked(spec.lab_dir):
        running_init(target)
        if action in ("down", "up"):
            control.request(target.folder, {"op": "stop" if action == "down" else "start", "service": name})
            if action == "up" and name == names.DEFAULT_SERVICE and probe.link_state(target.veth, spec.bridge) == "up":
                wait_port(target, time.monotonic() + READY_TIMEOUT)
        elif action == "isolate":
            cabling.cut(spec, target)
        elif action == "wedge":
            signal_sshd(target, signal.SIGSTOP)
        else:
            cabling.heal(spec, target)
            signal_sshd(target, signal.SIGCONT)
    return host_status(spec, target)


def sshd_pids(host: HostSpec, snap: probe.Snapshot | None = None) -> list[int]:
    """Machine pids of a host's sshd processes: the listener and one or two per connection.

    Found by network namespace and command line (sshd retitles itself
    ``sshd: ...``); the commands sshd runs for a session are not among them.
    """
    snap = snap or probe.snapshot()
    inode = probe.netns_inode(host.netns)
    if inode is None:
        return []
    return [
        process.pid
        for process in snap.in_netns(inode)
        if process.argv and (process.argv[0].startswith("sshd") or os.path.basename(process.argv[0]) == "sshd")
    ]


def signal_sshd(host: HostSpec, signum: int) -> list[int]:
    """Send a signal to every sshd process of a host; return their pids.

    For SIGSTOP, looks again until no new sshd process appears (one may fork
    for a connection accepted just before the listener stopped). Raises
    nothing for a process that ended meanwhile.
    """
    sent: list[int] = []
    for _ in range(5):
        fresh = [pid for pid in sshd_pids(host) if pid not in sent]
        if not fresh:
            break
        for pid in fresh:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue
            sent.append(pid)
        if signum != signal.SIGSTOP:
            break
    return sent


def host_command(config: Any, host: str, argv: Sequence[str], spec: LabSpec | None = None) -> list[str]:
    """The machine-side argv that runs ``argv`` inside a running lab host.

    For callers that need to stream or start it themselves through
    :mod:`controlplane.execute`. Raises BadInputError for an unknown host or a
    malformed argv, EgovError when the host is not running.
    """
    spec = spec or load_spec(config)
    target = spec.host(host)
    words = execute.validate_argv(argv)
    require_root()
    return network.nsenter(running_init(target), words)


def exec_in_host(
    config: Any,
    host: str,
    argv: Sequence[str],
    *,
    timeout: float | None = None,
    input_text: str | None = None,
    dry_run: bool = False,
    spec: LabSpec | None = None,
) -> execute.ProcessResult:
    """Run ``argv`` inside a lab host (its namespaces and root, its reduced capabilities).

    For control-plane work such as moving the portal VIP:
    ``exec_in_host(config, "mn-portal-2", ["ip", "addr", "add", "10.198.0.100/24", "dev", "eth0"])``.
    Returns the ProcessResult (a non-zero exit is not raised). Raises
    BadInputError for an unknown host or bad argv, EgovError when the host is
    not running.
    """
    words = host_command(config, host, argv, spec)
    return execute.run(words, timeout=timeout, input_text=input_text, dry_run=dry_run)


def ssh_command(
    config: Any, host: str, argv: Sequence[str] = (), *, tty: bool = False, spec: LabSpec | None = None
) -> list[str]:
    """The ``ssh`` argv for a lab host with the management key and pinned host keys.

    Raises BadInputError for an unknown host, EgovError when the management
    key or known_hosts file does not exist yet (run ``egov lab up``).
    """
    spec = spec or load_spec(config)
    target = spec.host(host)
    if argv:
        execute.validate_argv(argv)
    if not spec.key_file.exists() or not spec.known_hosts.exists():
        raise EgovError("the lab's management key or known_hosts is missing: run `egov lab up`")
    return network.ssh(
        key_file=spec.key_file,
        known_hosts=spec.known_hosts,
        user=config.ssh_user,
        address=target.address,
        port=target.port,
        argv=argv,
        tty=tty,
    )
