"""Pure builders of the command lines the lab runs (tested by exact argv).

Nothing here starts a process: :mod:`controlplane.lab.manager` hands these
lists to :mod:`controlplane.execute`. Every builder takes names already
checked by :mod:`controlplane.lab.names` and addresses from the checked
:class:`~controlplane.lab.spec.LabSpec`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from controlplane.lab import caps

IP = "ip"
PEER_NAME = "eth0"  # the interface name inside every host
INIT_MODULE = "controlplane.lab.init"
# Route protocol number marking the machine routes the lab makes (unassigned in iproute2's rt_protos).
LAB_ROUTE_PROTO = "198"


def _ip(netns: str | None, *words: str) -> list[str]:
    return [IP, *(("-n", netns) if netns else ()), *words]


def netns_add(netns: str) -> list[str]:
    """``ip netns add NETNS``: create a named network namespace."""
    return [IP, "netns", "add", netns]


def netns_delete(netns: str) -> list[str]:
    """``ip netns delete NETNS``: remove a named network namespace."""
    return [IP, "netns", "delete", netns]


def umount(path: str) -> list[str]:
    """``umount PATH`` (the lab removes ``/run/netns`` once it holds no namespace)."""
    return ["umount", path]


def bridge_add(bridge: str) -> list[str]:
    """Create the lab bridge (no STP: ports forward at once)."""
    return [IP, "link", "add", "name", bridge, "type", "bridge", "stp_state", "0"]


def link_alias(device: str, alias: str) -> list[str]:
    """Set an interface's alias (the lab records its owner on the bridge)."""
    return [IP, "link", "set", "dev", device, "alias", alias]


def addr_replace(device: str, cidr: str, netns: str | None = None) -> list[str]:
    """Give a device an address; ``replace`` makes a second run a no-op."""
    return _ip(netns, "addr", "replace", cidr, "dev", device)


def link_up(device: str, netns: str | None = None) -> list[str]:
    """Set a device up (a no-op when it already is)."""
    return _ip(netns, "link", "set", "dev", device, "up")


def link_down(device: str) -> list[str]:
    """Set a machine-side device down (``fault isolate``)."""
    return [IP, "link", "set", "dev", device, "down"]


def veth_add(veth: str, netns: str, peer: str = PEER_NAME) -> list[str]:
    """Create a veth pair: ``veth`` on the machine, ``peer`` (``eth0``, a zone leg ``eth1``...) inside ``netns``."""
    return [IP, "link", "add", "name", veth, "type", "veth", "peer", "name", peer, "netns", netns]


def addr_flush(device: str) -> list[str]:
    """Remove every address of a machine device (a zone bridge carries none: the machine is not on the data plane)."""
    return [IP, "addr", "flush", "dev", device]


def route_replace(netns: str, network: str, via: str, device: str) -> list[str]:
    """Add or update a route inside a host; ``replace`` makes a second run a no-op.

    Only ever a lab network (the zone plan refuses a default route), via a
    router on one of the host's own zone legs.
    """
    return _ip(netns, "route", "replace", network, "via", via, "dev", device)


def netns_sysctl(netns: str, settings: Sequence[tuple[str, str]]) -> list[str]:
    """Set ``net.*`` sysctls inside a host's network namespace, never the machine's.

    ``ip netns exec`` runs ``sysctl`` in the namespace, where ``/proc/sys/net``
    is the host's own (ip_forward on a gateway, off on every other host).
    """
    return [IP, "netns", "exec", netns, "sysctl", "-q", "-w", *(f"{key}={value}" for key, value in settings)]


def link_attach(veth: str, bridge: str) -> list[str]:
    """Plug a machine-side veth into the bridge and set it up (also ``fault heal``)."""
    return [IP, "link", "set", "dev", veth, "master", bridge, "up"]


def link_delete(device: str) -> list[str]:
    """Delete an interface (deleting one end of a veth deletes both)."""
    return [IP, "link", "delete", "dev", device]


def fence_add(network: str) -> list[str]:
    """Make the machine refuse to send to the data plane's address space (an ``unreachable`` route).

    The machine has no leg in the zones, so without it a zone address would
    follow the machine's default route off the machine. The management
    subnet on the lab bridge is more specific and keeps working. Marked
    with :data:`LAB_ROUTE_PROTO` so ``lab down`` finds it without the inventory.
    """
    return [IP, "route", "replace", "unreachable", network, "proto", LAB_ROUTE_PROTO]


def fence_delete(network: str) -> list[str]:
    """Remove the machine's ``unreachable`` route of the data plane's address space."""
    return [IP, "route", "delete", "unreachable", network, "proto", LAB_ROUTE_PROTO]


def fences_json() -> list[str]:
    """List the machine's routes the lab made (protocol :data:`LAB_ROUTE_PROTO`) as JSON."""
    return [IP, "-j", "-4", "route", "show", "proto", LAB_ROUTE_PROTO]


def routes_json() -> list[str]:
    """List the machine's IPv4 routes as JSON (to refuse an overlapping subnet)."""
    return [IP, "-j", "-4", "route", "show", "table", "all"]


def nft_apply() -> list[str]:
    """``nft -f -``: apply the ruleset text given on stdin atomically."""
    return ["nft", "-f", "-"]


def nft_guard_ruleset(table: str, bridge: str, gateway: str, zone_bridges: Sequence[str] = ()) -> str:
    """The machine-side guard: lab traffic stays on the lab bridges.

    Lab hosts have no default route, and the lab never enables forwarding on
    the machine; this table is the second lock: nothing is routed between
    any lab bridge and any other interface (another lab bridge included:
    zones meet only through the gateway hosts), and a host can reach the
    machine only at the gateway address of the management bridge. The
    machine has no address on a zone bridge and takes and sends nothing
    there. It replaces an older copy of itself atomically.
    """
    forward = "".join(
        f'    iifname "{name}" oifname != "{name}" drop\n    oifname "{name}" iifname != "{name}" drop\n'
        for name in (bridge, *zone_bridges)
    )
    zones = ", ".join(f'"{name}"' for name in zone_bridges)
    data_in = f"    iifname {{ {zones} }} drop\n" if zone_bridges else ""
    output = (
        "  chain output {\n"
        "    type filter hook output priority filter - 1; policy accept;\n"
        f"    oifname {{ {zones} }} drop\n"
        "  }\n"
    ) if zone_bridges else ""  # fmt: skip
    return (
        f"table inet {table} {{}}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter - 1; policy accept;\n"
        f"{forward}"
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority filter - 1; policy accept;\n"
        f'    iifname "{bridge}" meta nfproto ipv4 ip daddr != {gateway} drop\n'
        f'    iifname "{bridge}" meta nfproto ipv6 drop\n'
        f"{data_in}"
        "  }\n"
        f"{output}"
        "}\n"
    )


def nft_remove_ruleset(table: str) -> str:
    """Ruleset text that removes the guard table, whether or not it exists."""
    return f"table inet {table} {{}}\ndelete table inet {table}\n"


def launcher(netns: str, python: str, init_file: Path) -> list[str]:
    """Start a host's init as PID 1 of new UTS, IPC, PID and mount namespaces.

    ``ip netns exec`` puts it in the host's network namespace; ``unshare
    --fork`` makes the init PID 1 (``--kill-child``: if the launcher dies the
    host dies with it, nothing lingers). ``python -I`` ignores the caller's
    environment and user site: the init runs only code from this project.
    """
    return [
        IP, "netns", "exec", netns,
        "unshare", "--uts", "--ipc", "--pid", "--mount", "--fork", "--kill-child",
        "--propagation", "private",
        "--", python, "-I", "-m", INIT_MODULE, str(init_file),
    ]  # fmt: skip


def nsenter(pid: int, argv: Sequence[str]) -> list[str]:
    """Run argv inside the host whose init has machine PID ``pid``.

    Enters all of the host's namespaces and its root (``--root --wd``), then
    ``setpriv`` gives the command a clean environment and the host's reduced
    capability bounding set, so control-plane commands obey the same limits
    as the host's own processes.
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise ValueError(f"bad init pid {pid!r}")
    return [
        "nsenter", "--target", str(pid),
        "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
        "--", "setpriv", "--reset-env", "--bounding-set", caps.setpriv_bounding_set(),
        "--", *argv,
    ]  # fmt: skip


def ssh_keygen(path: Path, comment: str) -> list[str]:
    """Generate an ed25519 key pair without passphrase at ``path`` (and ``path``.pub)."""
    return ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]


def ssh(
    *,
    key_file: Path,
    known_hosts: Path,
    user: str,
    address: str,
    port: int = 22,
    argv: Sequence[str] = (),
    tty: bool = False,
) -> list[str]:
    """The ``ssh`` command line for a lab host, with pinned host keys only.

    The remote command is one string of ``shlex.quote``d words, so the remote
    shell sees each word as data. ``--`` before the address stops ssh from
    reading options after it (ssh re-parses options after the host otherwise).
    """
    words = [
        "ssh",
        "-i", str(key_file),
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        "-p", str(port),
        "-l", user,
    ]  # fmt: skip
    if tty:
        words.append("-t")
    words += ["--", address]
    if argv:
        words.append(shlex.join(argv))
    return words
