"""Cabling the data plane on the machine: zone bridges, host legs, routes, forwarding.

Follows the plan of :mod:`controlplane.lab.plane` with argv from
:mod:`controlplane.lab.network`, converging like the rest of ``lab up``:
what exists is kept, what is missing is made, and every command is a
``replace``/``set`` that changes nothing the second time. The machine gets
no address, route or forwarding on the data plane: it only holds the
bridges, which switch frames between the hosts' legs; the gateway hosts
route between zones inside their own namespaces. Its one route is a fence:
``unreachable`` for the data plane's address space, so a zone address is
never sent along the machine's default route.
"""

from __future__ import annotations

import json

from controlplane import execute
from controlplane.errors import EgovError
from controlplane.lab import network, probe
from controlplane.lab.common import run_checked, write_proc
from controlplane.lab.plane import NO_PLANE, DataPlane, HostPlane
from controlplane.lab.spec import HostSpec, LabSpec

# arp_ignore 8: the machine answers no ARP request on a zone bridge, for any of its addresses.
ARP_IGNORE_ALL = "8"


def quiet_link(device: str) -> None:
    """Keep the machine silent on a lab link: no IPv6 (router solicitations, MLD), no ARP answers."""
    write_proc(f"/proc/sys/net/ipv6/conf/{device}/disable_ipv6", "1")


def _delete_link(device: str) -> None:
    if probe.link_exists(device):  # a leg goes with its host's namespace, usually
        result = execute.run(network.link_delete(device), timeout=30)
        if not result.ok and probe.link_exists(device):
            raise EgovError(result.error_message(f"deleting {device}"))


def remove_links(keep: frozenset[str] = frozenset()) -> list[str]:
    """Delete the machine's zone legs and bridges except ``keep``; return what was deleted.

    Found by name on the machine, so a zone that left the network file, or
    a lab whose file is gone, is removed too. Raises EgovError when a link
    cannot be deleted.
    """
    removed = []
    for device in probe.zone_links():
        if device not in keep:
            _delete_link(device)
            removed.append(device)
    return removed


def guarded_bridges(plane: DataPlane | None) -> tuple[str, ...]:
    """The zone bridges the machine's guard table must cover: the plan's, then any other already present.

    A zone bridge on the machine that the plan does not name (a zoned lab
    brought up before, a spec without a data plane) stays guarded until it
    is removed.
    """
    planned = plane.bridge_names if plane is not None else ()
    present = [link for link in probe.zone_links() if link.count("-") == 1 and link not in planned]
    return (*planned, *sorted(present))


def ensure_bridges(plane: DataPlane) -> None:
    """Create or check every zone bridge (no address of the machine's, up); drop stale zone links first."""
    remove_links(keep=plane.links())
    for zone in plane.bridges:
        if not probe.link_exists(zone.bridge):
            run_checked(network.bridge_add(zone.bridge), f"creating the bridge of zone {zone.zone}")
        if probe.link_alias(zone.bridge) != zone.alias:
            run_checked(network.link_alias(zone.bridge, zone.alias), f"labelling the bridge of zone {zone.zone}")
        quiet_link(zone.bridge)
        write_proc(f"/proc/sys/net/ipv4/conf/{zone.bridge}/arp_ignore", ARP_IGNORE_ALL)
        run_checked(network.addr_flush(zone.bridge), f"keeping the machine off zone {zone.zone}")
        run_checked(network.link_up(zone.bridge), f"starting the bridge of zone {zone.zone}")


def _fences() -> list[str]:
    result = run_checked(network.fences_json(), "ip route (the lab's own routes)")
    return [str(route.get("dst")) for route in json.loads(result.stdout or "[]") if route.get("dst")]


def ensure_fence(plane: DataPlane) -> None:
    """Keep the machine from sending to the data plane's address space off the machine (one ``unreachable`` route).

    A fence for another address space (network.yml changed) is removed.
    Costs one ``ip route show`` when nothing changes.
    """
    wanted = str(plane.address_space)
    present = _fences()
    for dst in present:
        if dst != wanted:
            run_checked(network.fence_delete(dst), f"removing the lab's route {dst}")
    if wanted not in present:
        run_checked(network.fence_add(wanted), f"fencing {wanted} off the machine's default route")


def remove_fence() -> None:
    """Remove every route the lab made on the machine (``lab down``, which works without the inventory)."""
    for dst in _fences():
        run_checked(network.fence_delete(dst), f"removing the lab's route {dst}")


def ensure_legs(spec: LabSpec, host: HostSpec) -> None:
    """Give a host (its namespace exists, eth0 is up) its zone legs, routes and forwarding setting.

    Legs are created down, their IPv6 switched off in the namespace, then
    addressed, attached and set up, then the routes are added (a route
    needs its router's leg up). Raises EgovError naming the host and step.
    """
    plane = legs_of(spec, host)
    if not plane.legs:
        return
    # A leg cabled for another interface or address (network.yml changed) goes first, so names inside are free.
    for leg in plane.legs:
        if probe.link_exists(leg.veth) and probe.link_alias(leg.veth) != leg.alias(host.name):
            _delete_link(leg.veth)
    for leg in plane.legs:
        if not probe.link_exists(leg.veth):
            run_checked(
                network.veth_add(leg.veth, host.netns, leg.interface), f"{host.name}: creating its {leg.zone} leg"
            )
            run_checked(
                network.link_alias(leg.veth, leg.alias(host.name)), f"{host.name}: labelling its {leg.zone} leg"
            )
            quiet_link(leg.veth)
    run_checked(network.netns_sysctl(host.netns, plane.sysctls()), f"{host.name}: net sysctls")
    for leg in plane.legs:
        run_checked(
            network.addr_replace(leg.interface, leg.cidr, host.netns), f"{host.name}: addressing {leg.interface}"
        )
        run_checked(network.link_attach(leg.veth, leg.bridge), f"{host.name}: attaching its {leg.zone} leg")
        run_checked(network.link_up(leg.interface, host.netns), f"{host.name}: {leg.interface} up")
    for route in plane.routes:
        argv = network.route_replace(host.netns, str(route.network), str(route.via), route.device)
        run_checked(argv, f"{host.name}: route to {route.network}")


def legs_of(spec: LabSpec, host: HostSpec) -> HostPlane:
    """A host's data-plane part (nothing in a flat lab)."""
    return spec.plane.host(host.name) if spec.plane else NO_PLANE


def cut(spec: LabSpec, host: HostSpec) -> None:
    """``fault isolate``: set every machine-side leg of the host down (management and zones)."""
    for device in (host.veth, *(leg.veth for leg in legs_of(spec, host).legs)):
        run_checked(network.link_down(device), f"isolating {host.name} ({device})")


def heal(spec: LabSpec, host: HostSpec) -> None:
    """``fault heal``: plug every machine-side leg of the host back into its bridge, up."""
    run_checked(network.link_attach(host.veth, spec.bridge), f"healing {host.name}")
    for leg in legs_of(spec, host).legs:
        run_checked(network.link_attach(leg.veth, leg.bridge), f"healing {host.name} ({leg.zone})")


def leg_states(spec: LabSpec, host: HostSpec) -> list[dict[str, str]]:
    """Each zone leg of a host as ``lab status`` shows it: zone, interface, address, machine link, state."""
    return [
        {"zone": leg.zone, "interface": leg.interface, "address": leg.cidr, "link": leg.veth,
         "state": probe.link_state(leg.veth, leg.bridge)}
        for leg in legs_of(spec, host).legs
    ]  # fmt: skip


def zone_states(spec: LabSpec) -> list[dict[str, object]]:
    """Each zone bridge as ``lab status --json`` shows it (empty for a flat lab)."""
    if spec.plane is None:
        return []
    return [
        {"zone": zone.zone, "bridge": zone.bridge, "subnet": str(zone.subnet),
         "up": probe.link_state(zone.bridge) == "up"}
        for zone in spec.plane.bridges
    ]  # fmt: skip
