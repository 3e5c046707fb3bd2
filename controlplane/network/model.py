"""The network model: zones, the gateways between them and the flows allowed across them.

Read from the operator's flow file (``network.yml`` next to the inventory,
:func:`network_file`) together with the inventory, validated as a whole
(:mod:`controlplane.network.schema`: every problem at once, exit 2), and
then pure: every question the lab, the boundary rulesets, verify and the
console ask (a host's legs and routes, the gateways a path crosses, the
hosts a selector names, the flow that allows a connection) is answered
here, so they cannot disagree.

Two planes. The management network (``management:``) is out of band: the
control plane reaches every host on its ``ansible_host`` directly and never
through a gateway, so management flows never need a boundary rule. The data
plane is one subnet per zone; a host of a zone has one leg there whose
address is numbered like its management address (10.198.0.41 is
10.198.40.41 in a /24 zone); a gateway (``role: gateway``) has one leg per
zone it routes (``routers:``), numbered ``eth1``, ``eth2``, ... in the order
of ``zones:`` in the file.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import ConfigError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host, Inventory

Selector = str
"""``management`` | ``all`` | ``zone:NAME`` | ``role:NAME`` | ``site:NAME`` | ``host:NAME``."""

NETWORK_FILE_NAME = "network.yml"
MANAGEMENT = "management"
ALL = "all"
CONTROL_PLANE = "controlplane"
"""The source name that stands for the management zone (the control plane itself) in :meth:`allowing_flow`."""
GATEWAY_ROLE = "gateway"
PROTOCOLS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class Zone:
    """One zone: a subnet, the gateways routing it and the hosts in it."""

    name: str
    title_zh: str
    subnet: ipaddress.IPv4Network
    routers: dict[str, ipaddress.IPv4Address]  # gateway host -> its address in this zone (file order)
    members: tuple[str, ...]  # host names (inventory order); () for backbone/management
    external: bool = False

    @property
    def gateway(self) -> tuple[str, ipaddress.IPv4Address] | None:
        """The router the zone's members route through (the first one listed); None for an unrouted zone."""
        for name, address in self.routers.items():
            return name, address
        return None


@dataclass(frozen=True)
class Flow:
    """One allowed flow: sources to destinations on these ports, and why."""

    id: str
    sources: tuple[Selector, ...]
    destinations: tuple[Selector, ...]
    tcp: tuple[int, ...]
    udp: tuple[int, ...]
    icmp: bool
    reason: str

    def allows(self, protocol: str, port: int | None) -> bool:
        """Whether the flow names this protocol (and port: ICMP has none)."""
        if protocol == "icmp":
            return self.icmp
        if protocol == "tcp":
            return port in self.tcp
        if protocol == "udp":
            return port in self.udp
        return False


@dataclass(frozen=True)
class Leg:
    """One interface of a host on the data plane."""

    host: str
    zone: str
    interface: str  # "eth1", "eth2", ...
    address: ipaddress.IPv4Address
    prefixlen: int


@dataclass(frozen=True)
class NetworkModel:
    """The validated network: zones, gateways and flows, with the inventory's hosts placed in them."""

    source: Path
    address_space: ipaddress.IPv4Network
    management: Zone  # name "management", members = every inventory host
    zones: dict[str, Zone]  # file order, management excluded
    flows: tuple[Flow, ...]
    sample_ports: tuple[int, ...]
    gateways: tuple[str, ...]  # host names with role gateway that route (appear in routers)
    # Inventory facts the answers need, kept so the model stays pure after loading.
    host_roles: dict[str, str] | None = None  # host -> role (inventory order)
    host_sites: dict[str, str] | None = None  # host -> site
    management_addresses: dict[str, ipaddress.IPv4Address] | None = None  # host -> ansible_host

    # --- placing hosts -------------------------------------------------

    def zone_of(self, host: str) -> Zone | None:
        """The zone a host is a member of; None for gateways, the control plane and hosts in no zone."""
        for zone in self.zones.values():
            if host in zone.members:
                return zone
        return None

    def legs(self, host: str) -> tuple[Leg, ...]:
        """The host's data-plane interfaces: one in its zone, or one per zone a gateway routes (file order)."""
        if host in self.gateways:
            routed = [zone for zone in self.zones.values() if host in zone.routers]
            return tuple(
                Leg(host, zone.name, f"eth{index}", zone.routers[host], zone.subnet.prefixlen)
                for index, zone in enumerate(routed, start=1)
            )
        zone = self.zone_of(host)
        address = self.zone_address(host)
        if zone is None or address is None:
            return ()
        return (Leg(host, zone.name, "eth1", address, zone.subnet.prefixlen),)

    def zone_address(self, host: str) -> ipaddress.IPv4Address | None:
        """The member's address in its zone (zone network + its management host number); None when not a member."""
        zone = self.zone_of(host)
        management = (self.management_addresses or {}).get(host)
        if zone is None or management is None:
            return None
        return zone_address_for(zone.subnet, self.management.subnet, management)

    def routes(self, host: str) -> tuple[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address], ...]:
        """The ``(destination, via)`` routes of a host on the data plane (no default route anywhere).

        A member routes the whole address space through its zone's gateway
        (the management subnet stays directly connected, more specific). A
        gateway routes each zone it is not attached to through the
        neighbouring gateway on the way there (the gateways form a tree
        through the zones they share). Hosts in no zone get none.
        """
        if host in self.gateways:
            routes = []
            for zone in self.zones.values():
                if host in zone.routers:
                    continue
                hop = self._next_hop(host, zone.name)
                if hop is not None:
                    routes.append((zone.subnet, hop))
            return tuple(routes)
        zone = self.zone_of(host)
        if zone is None or zone.gateway is None:
            return ()
        return ((self.address_space, zone.gateway[1]),)

    # --- paths ---------------------------------------------------------

    def gateway_path(self, from_zone: str, to_zone: str) -> tuple[str, ...]:
        """The gateway hosts a packet from one zone to another crosses, in order.

        ``()`` within a zone and for the management zone (out of band:
        it never crosses a gateway). Raises KeyError for an unknown zone and
        ValueError when no gateway connects the two (the schema refuses such
        a file, so only a hand-built model gets there).
        """
        if MANAGEMENT in (from_zone, to_zone) or from_zone == to_zone:
            return ()
        for name in (from_zone, to_zone):
            if name not in self.zones:
                raise KeyError(f"unknown zone {name!r}")
        path = self._zone_graph_path(("zone", from_zone), ("zone", to_zone))
        if path is None:
            raise ValueError(f"no gateway connects zone {from_zone!r} to zone {to_zone!r}")
        return tuple(name for kind, name in path if kind == "gateway")

    def _zone_graph_path(self, start: tuple[str, str], goal: tuple[str, str]) -> list[tuple[str, str]] | None:
        """Breadth-first over zones and gateways (neighbours in file order, so the answer is stable)."""
        previous: dict[tuple[str, str], tuple[str, str] | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == goal:
                path = [node]
                while (before := previous[path[-1]]) is not None:
                    path.append(before)
                return path[::-1]
            kind, name = node
            if kind == "zone":
                neighbours = [("gateway", gateway) for gateway in self.zones[name].routers]
            else:
                neighbours = [("zone", zone.name) for zone in self.zones.values() if name in zone.routers]
            for neighbour in neighbours:
                if neighbour not in previous:
                    previous[neighbour] = node
                    queue.append(neighbour)
        return None

    def _next_hop(self, gateway: str, zone: str) -> ipaddress.IPv4Address | None:
        """The neighbour gateway's address in the zone both share on the way from ``gateway`` to ``zone``."""
        path = self._zone_graph_path(("gateway", gateway), ("zone", zone))
        if path is None or len(path) < 3:
            return None
        (_, shared), (_, neighbour) = path[1], path[2]
        return self.zones[shared].routers[neighbour]

    # --- selectors and flows -------------------------------------------

    def hosts_of(self, selector: Selector) -> tuple[str, ...]:
        """The hosts a selector names on the data plane, in inventory order.

        ``management`` names every inventory host (their management
        addresses; as a flow's source it stands for the control plane);
        ``all`` every member of every zone but the external ones; the
        others the zone members that match (gateways are never flow
        endpoints: they are reached over management). Unknown selectors
        name nothing (the schema refuses them in a file).
        """
        if selector == MANAGEMENT:
            return self.management.members
        kind, _, value = selector.partition(":")
        roles, sites = self.host_roles or {}, self.host_sites or {}
        members = {host: zone for zone in self.zones.values() for host in zone.members}
        ordered = [host for host in self.management.members if host in members]
        if selector == ALL:
            return tuple(host for host in ordered if not members[host].external)
        if kind == "zone":
            return tuple(host for host in ordered if members[host].name == value)
        if kind == "role":
            return tuple(host for host in ordered if roles.get(host) == value)
        if kind == "site":
            return tuple(host for host in ordered if sites.get(host) == value)
        if kind == "host":
            return tuple(host for host in ordered if host == value)
        return ()

    def flows_between(self, source_host: str, destination_host: str) -> tuple[Flow, ...]:
        """Every flow whose sources name ``source_host`` and destinations name ``destination_host``."""
        return tuple(
            flow
            for flow in self.flows
            if self._names_source(flow, source_host)
            and any(destination_host in self.hosts_of(selector) for selector in flow.destinations)
        )

    def _names_source(self, flow: Flow, host: str) -> bool:
        if host == CONTROL_PLANE:
            return MANAGEMENT in flow.sources
        return any(host in self.hosts_of(selector) for selector in flow.sources if selector != MANAGEMENT)

    def allowing_flow(self, source_host: str, destination_host: str, protocol: str, port: int | None) -> Flow | None:
        """The first flow that allows this connection, or None (denied).

        ``source_host`` ``"controlplane"`` stands for the management zone;
        ``protocol`` is ``tcp``, ``udp`` or ``icmp`` (port None).
        """
        for flow in self.flows_between(source_host, destination_host):
            if flow.allows(protocol, port):
                return flow
        return None


def zone_address_for(
    subnet: ipaddress.IPv4Network, management: ipaddress.IPv4Network, address: ipaddress.IPv4Address
) -> ipaddress.IPv4Address:
    """The zone address numbered like a management address (its host number within the management subnet)."""
    return subnet.network_address + (int(address) - int(management.network_address))


def network_file(config: Config) -> Path:
    """The flow file: ``network.yml`` in the inventory file's folder (or in the parent of an inventory folder).

    Next to a folder rather than inside it, because ansible would read
    every YAML file inside an inventory folder as inventory.
    """
    return config.inventory.parent / NETWORK_FILE_NAME


def load_network(config_or_path: Config | Path, inventory: Inventory) -> NetworkModel | None:
    """Read, validate and build the network model; None when the flow file does not exist.

    Raises ConfigError naming every problem of the file (with its key path)
    and of its fit with the inventory at once (exit 2). Costs one small
    YAML read and schema validation.
    """
    from controlplane.network.schema import validate
    from controlplane.yamlfile import read_yaml

    path = config_or_path if isinstance(config_or_path, Path) else network_file(config_or_path)
    if not path.exists():
        return None
    data = read_yaml(path)
    problems = validate(data, inventory)
    if problems:
        raise ConfigError(str(path), problems)
    return build_model(data, inventory, path)


def _listed(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def build_model(data: dict[str, Any], inventory: Inventory, source: Path) -> NetworkModel:
    """Build the model from a validated document (:func:`controlplane.network.schema.validate` found no problem)."""
    hosts = list(inventory.hosts)
    gateway_hosts = {host.name for host in hosts if host.role == GATEWAY_ROLE}
    management_raw = data["management"]
    management_subnet = ipaddress.IPv4Network(management_raw["subnet"])
    zones: dict[str, Zone] = {}
    for name, raw in (data.get("zones") or {}).items():
        zones[name] = Zone(
            name=name,
            title_zh=str(raw.get("title_zh") or name),
            subnet=ipaddress.IPv4Network(raw["subnet"]),
            routers={
                gateway: ipaddress.IPv4Address(address) for gateway, address in (raw.get("routers") or {}).items()
            },
            members=members_of(raw.get("members") or {}, hosts, gateway_hosts),
            external=bool(raw.get("external", False)),
        )
    routed = {gateway for zone in zones.values() for gateway in zone.routers}
    return NetworkModel(
        source=source,
        address_space=ipaddress.IPv4Network(data["address_space"]),
        management=Zone(
            name=MANAGEMENT,
            title_zh=str(management_raw.get("title_zh") or MANAGEMENT),
            subnet=management_subnet,
            routers={},
            members=tuple(host.name for host in hosts),
        ),
        zones=zones,
        flows=tuple(
            Flow(
                id=raw["id"],
                sources=_listed(raw["from"]),
                destinations=_listed(raw["to"]),
                tcp=tuple(raw.get("tcp") or ()),
                udp=tuple(raw.get("udp") or ()),
                icmp=bool(raw.get("icmp", False)),
                reason=str(raw["reason"]),
            )
            for raw in data.get("flows") or ()
        ),
        sample_ports=tuple(data.get("sample_ports") or ()),
        gateways=tuple(host.name for host in hosts if host.name in routed),
        host_roles={host.name: host.role for host in hosts},
        host_sites={host.name: host.site for host in hosts},
        management_addresses={host.name: address for host in hosts if (address := _ipv4(host.address)) is not None},
    )


def members_of(members: dict[str, Any], hosts: Iterable[Host], gateways: set[str]) -> tuple[str, ...]:
    """The inventory hosts a zone's ``members:`` names (by host, role or exact site), gateways left out."""
    names, roles, sites = (set(members.get(key) or ()) for key in ("hosts", "roles", "sites"))
    return tuple(
        host.name
        for host in hosts
        if host.name not in gateways and (host.name in names or host.role in roles or host.site in sites)
    )


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None
