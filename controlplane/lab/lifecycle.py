"""Bringing the lab up and down.

Every change goes through :mod:`controlplane.execute` with argv from
:mod:`controlplane.lab.network`. ``up`` converges: whatever is missing
(bridge, namespace, link, address, init, sshd) is created, whatever exists is
kept, so a second ``up`` changes nothing and an ``up`` after a crash repairs
the lab. ``down`` removes every lab namespace, link, process and the guard
table, found on the machine by name prefix, so it also cleans up after a lab
whose inventory changed or whose files are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane import execute
from controlplane.errors import EgovError
from controlplane.lab import cabling, control, disk, names, network, probe
from controlplane.lab.common import (
    READY_TIMEOUT,
    STOP_TIMEOUT,
    load_spec,
    locked,
    require_root,
    run_checked,
    stop_processes,
    wait_port,
    write_proc,
)
from controlplane.lab.host_state import LabHost
from controlplane.lab.report import status
from controlplane.lab.spec import HostSpec, LabSpec

if TYPE_CHECKING:
    from controlplane.config import Config

MANAGEMENT_KEY_COMMENT = "egov-lab-management"


def owner_tag(lab_dir: Path) -> str:
    """The alias the bridge carries: which lab folder owns the lab on this machine."""
    text = f"egov-lab {lab_dir}"
    if len(text) > 250:  # IFALIASZ is 256 bytes
        text = "egov-lab sha256:" + hashlib.sha256(str(lab_dir).encode()).hexdigest()[:40]
    return text


def _disable_ipv6(device: str) -> None:
    # Lab links carry IPv4 only: no router solicitations or MLD from the machine.
    write_proc(f"/proc/sys/net/ipv6/conf/{device}/disable_ipv6", "1")


def ensure_management_key(spec: LabSpec) -> str:
    """Create the management key pair if missing (0600); return the public key line."""
    key = spec.key_file
    public = key.with_name(key.name + ".pub")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        run_checked(network.ssh_keygen(key, MANAGEMENT_KEY_COMMENT), "ssh-keygen (management key)")
    os.chmod(key, 0o600)
    if not public.exists():
        result = run_checked(["ssh-keygen", "-y", "-f", str(key)], "ssh-keygen -y (management key)")
        public.write_text(result.stdout.strip() + f" {MANAGEMENT_KEY_COMMENT}\n", encoding="ascii")
    return disk.public_key(public) + f" {MANAGEMENT_KEY_COMMENT}"


def _check_routes(spec: LabSpec) -> None:
    """Refuse a lab subnet (or the data plane's address space) that overlaps a network the machine routes elsewhere."""
    result = run_checked(network.routes_json(), "ip route")
    lab_links = {spec.bridge, *(spec.plane.bridge_names if spec.plane else ())}
    for route in json.loads(result.stdout or "[]"):
        dst, dev = route.get("dst", ""), route.get("dev")
        ours = str(route.get("protocol")) == network.LAB_ROUTE_PROTO  # the fence of an earlier zoned lab
        if dst in ("default", "") or dev in lab_links or ours or route.get("type") in ("broadcast", "local"):
            continue
        try:
            other = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        if other.overlaps(spec.subnet) and other.prefixlen > 0:
            raise EgovError(f"lab subnet {spec.subnet} overlaps {other} on {dev}: change lab_subnet in the inventory")
        if spec.plane is not None and other.overlaps(spec.plane.address_space) and other.prefixlen > 0:
            raise EgovError(
                f"the lab's address space {spec.plane.address_space} overlaps {other} on {dev}: "
                "change address_space in network.yml"
            )


def ensure_bridge(spec: LabSpec) -> None:
    """Create or check the lab bridge with the gateway address, the guard table and the zone bridges."""
    tag = owner_tag(spec.lab_dir)
    if probe.link_exists(spec.bridge):
        alias = probe.link_alias(spec.bridge)
        if alias and alias != tag:
            raise EgovError(
                f"another lab is up on this machine ({alias.removeprefix('egov-lab ')}); "
                "bring it down with its own configuration first (egov --config ... lab down)"
            )
    else:
        _check_routes(spec)
        run_checked(network.bridge_add(spec.bridge), "creating the lab bridge")
    run_checked(network.link_alias(spec.bridge, tag), "labelling the lab bridge")
    _disable_ipv6(spec.bridge)
    run_checked(network.addr_replace(spec.bridge, spec.gateway_cidr), "addressing the lab bridge")
    run_checked(network.link_up(spec.bridge), "starting the lab bridge")
    # The guard covers the zone bridges before they exist, and any zone bridge already on the machine.
    zones = cabling.guarded_bridges(spec.plane)
    guard = network.nft_guard_ruleset(names.NFT_TABLE, spec.bridge, str(spec.gateway), zones)
    run_checked(network.nft_apply(), "nft (lab guard table)", input_text=guard)
    # A spec without a data plane (a flat inventory, or one host brought up on its own with
    # ``up(config, spec)``) leaves the zones alone: ``lab down`` removes them.
    if spec.plane is not None:
        cabling.ensure_bridges(spec.plane)
        cabling.ensure_fence(spec.plane)


def _ensure_host_key(host: HostSpec) -> None:
    key = host.upper / disk.HOST_KEY
    if key.exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(key.parent, 0o755)  # noqa: S103 - /etc/ssh of the host, as on any Debian
    run_checked(network.ssh_keygen(key, f"root@{host.name}"), f"ssh-keygen ({host.name} host key)")


def _init_spec(spec: LabSpec, host: HostSpec) -> dict[str, Any]:
    return {
        "name": host.name,
        "address": host.address,
        "folder": str(host.folder),
        "root": str(host.root),
        "upper": str(host.upper),
        "work": str(host.work),
        "hide": [str(path) for path in spec.hidden_paths],
    }


def _log_tail(host: HostSpec, lines: int = 8) -> str:
    try:
        text = host.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _start_init(spec: LabSpec, host: HostSpec, management_key: str) -> None:
    """Prepare a stopped host's files and start its init; wait until sshd answers."""
    _ensure_host_key(host)
    disk.prepare_host(spec, host, management_key)
    disk.write_if_changed(host.init_file, json.dumps(_init_spec(spec, host), indent=2) + "\n", 0o600)
    with open(host.log_file, "ab") as log:
        process = execute.start(
            network.launcher(host.netns, sys.executable, host.init_file), stdout=log.fileno(), stderr=log.fileno()
        )
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise EgovError(f"{host.name}: its init exited ({process.returncode}):\n{_log_tail(host)}")
        with contextlib.suppress(control.ControlError):
            answer = control.request(host.folder, {"op": "status"}, timeout=2)
            if answer["services"].get(names.DEFAULT_SERVICE, {}).get("running"):
                break
        if time.monotonic() > deadline:
            raise EgovError(f"{host.name}: its init did not become ready in {READY_TIMEOUT:.0f} s:\n{_log_tail(host)}")
        time.sleep(0.02)
    wait_port(host, deadline)


def ensure_host(spec: LabSpec, host: HostSpec, management_key: str) -> bool:
    """Bring one host to running; return True when its init had to be started.

    Raises EgovError naming the host when a step fails.
    """
    snap = probe.Snapshot(processes=probe.processes())
    init = snap.init_of(host.init_file)
    inode = probe.netns_inode(host.netns)
    if init is not None and (inode is None or init.net_inode != inode):
        # An init whose namespace name was deleted: restart the host cleanly,
        # once its old namespace (and the veth pair inside it) is gone.
        stop_processes([init.pid])
        init = None
        deadline = time.monotonic() + STOP_TIMEOUT
        links = (host.veth, *(leg.veth for leg in cabling.legs_of(spec, host).legs))
        while any(probe.link_exists(link) for link in links) and time.monotonic() < deadline:
            time.sleep(0.02)
    if inode is None:
        run_checked(network.netns_add(host.netns), f"{host.name}: ip netns add")
    if not probe.link_exists(host.veth):
        run_checked(network.veth_add(host.veth, host.netns), f"{host.name}: creating its link")
        _disable_ipv6(host.veth)
    run_checked(network.link_attach(host.veth, spec.bridge), f"{host.name}: attaching its link")
    run_checked(network.addr_replace(network.PEER_NAME, spec.cidr(host), host.netns), f"{host.name}: addressing eth0")
    run_checked(network.link_up("lo", host.netns), f"{host.name}: lo up")
    run_checked(network.link_up(network.PEER_NAME, host.netns), f"{host.name}: eth0 up")
    cabling.ensure_legs(spec, host)
    if init is None:
        _start_init(spec, host, management_key)
        return True
    answer = control.request(host.folder, {"op": "status"})
    if not answer["services"].get(names.DEFAULT_SERVICE, {}).get("running"):
        control.request(host.folder, {"op": "start", "service": names.DEFAULT_SERVICE})
    wait_port(host, time.monotonic() + READY_TIMEOUT)
    return False


def write_known_hosts(spec: LabSpec) -> None:
    """Pin every managed lab host's key in the configured known_hosts, by address and name.

    An unmanaged host's key is pinned nowhere (a stale pin of its address or
    name is removed): the operator who enrols it checks the key themselves.
    """
    entries, forget = [], []
    for host in spec.hosts:
        public = host.upper / (disk.HOST_KEY + ".pub")
        if host.unmanaged:
            forget.append((host.address, host.name, host.port))
        elif public.exists():
            entries.append((host.address, host.name, host.port, disk.public_key(public)))
    path = spec.known_hosts
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    disk.write_if_changed(path, disk.known_hosts_text(existing, entries, forget), 0o644)


def remove_host(spec: LabSpec, host: HostSpec, *, purge: bool = False) -> None:
    """Stop one lab host and remove its namespace and link; ``purge`` also deletes its disk.

    For a host brought up on its own (an unmanaged host a test or an
    operator started with ``up(config, spec)``); the rest of the lab keeps
    running. Raises EgovError when something cannot be removed.
    """
    require_root()
    with locked(spec.lab_dir):
        snap = probe.snapshot()
        init = snap.init_of(host.init_file)
        if init is not None:
            stop_processes([init.pid], timeout=STOP_TIMEOUT)
        inode = probe.netns_inode(host.netns)
        if inode is not None:
            stop_processes([p.pid for p in probe.snapshot().in_netns(inode)], timeout=STOP_TIMEOUT)
            run_checked(network.netns_delete(host.netns), f"ip netns delete {host.netns}")
        for link in (host.veth, *(leg.veth for leg in cabling.legs_of(spec, host).legs)):
            if probe.link_exists(link):
                result = execute.run(network.link_delete(link), timeout=30)
                if not result.ok and probe.link_exists(link):
                    raise EgovError(result.error_message(f"deleting {link}"))
        host.control_socket.unlink(missing_ok=True)
        if purge:
            shutil.rmtree(host.folder, ignore_errors=True)


def up(config: Config, spec: LabSpec | None = None) -> list[LabHost]:
    """Bring the lab up (idempotent; repairs a half-up lab) and return its status.

    Needs root; hosts start in parallel and one failing does not stop the
    others. Raises EgovError when not root, when another lab owns the
    bridge, or listing every host that failed to start;
    ConfigError/BadInputError for an unusable inventory or folder.
    """
    spec = spec or load_spec(config)
    require_root()
    with locked(spec.lab_dir):
        management_key = ensure_management_key(spec)
        ensure_bridge(spec)
        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(spec.hosts)))) as pool:
            futures = {host.name: pool.submit(ensure_host, spec, host, management_key) for host in spec.hosts}
            for name, future in futures.items():
                error = future.exception()
                if error is not None:
                    message = error.message if isinstance(error, EgovError) else f"{name}: {error}"
                    failures.append(message)
        write_known_hosts(spec)
    if failures:
        raise EgovError("lab up failed for some hosts:\n" + "\n".join(failures))
    return status(config, spec)


def _lab_processes(lab_dir: Path | None) -> list[int]:
    """Every process in a lab network namespace, and every lab init of this lab folder."""
    snap = probe.snapshot()
    inodes = set(snap.netns.values())
    pids = {p.pid for p in snap.processes if p.net_inode in inodes}
    for process in snap.processes:
        if process.is_lab_init and (lab_dir is None or process.argv[-1].startswith(str(lab_dir) + "/")):
            pids.add(process.pid)
    pids.discard(os.getpid())
    return sorted(pids)


def _remove_empty_netns_mount() -> None:
    """Undo the mount ``ip netns add`` makes on /run/netns, once no namespace is left.

    iproute2 bind-mounts /run/netns on itself (shared) the first time; left
    alone it would be the one mount the lab leaves behind. It recreates it
    when needed, and a folder still holding a namespace is never touched.
    """
    folder = probe.NETNS_DIR
    if folder.is_dir() and probe.is_mount_point(folder) and not any(folder.iterdir()):
        result = execute.run(network.umount(str(folder)), timeout=30)
        if not result.ok and probe.is_mount_point(folder):
            raise EgovError(result.error_message(f"umount {folder}"))


def down(config: Config, *, purge: bool = False) -> None:
    """Remove the lab: processes, namespaces, links, bridges (zone bridges too) and guard table.

    ``purge`` also deletes the hosts' disks (their upper dirs and host
    keys). Works from what is on the machine, not from the inventory, so a
    lab whose inventory changed, whose files are gone or that another state
    folder started is removed too (only one lab can be up on a machine).
    Raises EgovError when something cannot be removed.
    """
    require_root()
    lab_dir = Path(config.lab_dir).resolve()
    with locked(lab_dir):
        snap = probe.snapshot()
        inits = [p.pid for p in snap.processes if p.is_lab_init]
        # A polite TERM to the inits first: they stop their services; the
        # kernel then kills the rest of each PID namespace with its PID 1.
        stop_processes(inits, timeout=STOP_TIMEOUT)
        stop_processes(_lab_processes(lab_dir), timeout=STOP_TIMEOUT)
        for netns in probe.lab_netns():
            run_checked(network.netns_delete(netns), f"ip netns delete {netns}")
        _remove_empty_netns_mount()
        for link in probe.lab_links():
            if probe.link_exists(link):  # gone with its namespace, usually
                result = execute.run(network.link_delete(link), timeout=30)
                if not result.ok and probe.link_exists(link):
                    raise EgovError(result.error_message(f"deleting {link}"))
        cabling.remove_links()
        cabling.remove_fence()
        if probe.link_exists(names.BRIDGE):
            run_checked(network.link_delete(names.BRIDGE), "deleting the lab bridge")
        removal = network.nft_remove_ruleset(names.NFT_TABLE)
        run_checked(network.nft_apply(), "nft (removing the lab guard table)", input_text=removal)
        leftovers = _lab_processes(lab_dir)
        if leftovers:
            raise EgovError(f"lab processes still running after down: {leftovers}")
        hosts_dir = lab_dir / "hosts"
        if purge:
            shutil.rmtree(hosts_dir, ignore_errors=True)
        elif hosts_dir.is_dir():
            for socket_file in hosts_dir.glob(f"*/{control.SOCKET_NAME}"):
                socket_file.unlink(missing_ok=True)
