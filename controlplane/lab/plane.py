"""The lab's data plane as a plan: zone bridges, host legs, routes, forwarding.

:func:`build_plane` turns the network model (``inventory/network.yml``, read
by :func:`controlplane.network.model.load_network`) and the lab's hosts into a
:class:`DataPlane`. It is pure, so every name, address and route is checked
before anything reaches a command line: each zone subnet and every route
lies inside the model's ``address_space``, which must be private; a route is
never a default route and always goes via a router on one of the host's own
legs. Without a network file the lab has no data plane (``LabSpec.plane`` is
None) and is the flat lab of one bridge.

The cabling itself is done by :mod:`controlplane.lab.cabling`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError, ConfigError
from controlplane.lab import names

if TYPE_CHECKING:
    from controlplane.lab.spec import HostSpec
    from controlplane.network.model import NetworkModel

# Interface names inside a host: eth0 is the management leg, eth1.. the zones.
_LEG_INTERFACE = re.compile(r"eth[1-9][0-9]{0,2}")


@dataclass(frozen=True)
class ZoneBridge:
    """One data-plane zone on the machine: a bridge without any address of the machine's."""

    zone: str
    bridge: str
    subnet: ipaddress.IPv4Network

    @property
    def alias(self) -> str:
        """What ``ip link show`` tells about the bridge (which zone it carries)."""
        return f"egov-lab zone {self.zone} {self.subnet}"


@dataclass(frozen=True)
class LegSpec:
    """One leg of a host in a zone: ``veth`` on the machine's zone bridge, ``interface`` inside the host."""

    zone: str
    bridge: str
    veth: str
    interface: str
    address: ipaddress.IPv4Address
    prefixlen: int

    @property
    def cidr(self) -> str:
        """The zone address with its prefix, e.g. ``10.198.40.41/24``."""
        return f"{self.address}/{self.prefixlen}"

    def alias(self, host: str) -> str:
        """The machine-side veth's alias: whose leg it is, which interface inside, which address.

        ``lab up`` compares it with the plan, so a leg whose interface or
        address changed in ``network.yml`` is made again rather than kept.
        """
        return f"egov-lab leg {host} {self.interface} {self.cidr} {self.zone}"


@dataclass(frozen=True)
class RouteSpec:
    """A route inside a host: a lab network via a router on one of its legs."""

    network: ipaddress.IPv4Network
    via: ipaddress.IPv4Address
    device: str


@dataclass(frozen=True)
class HostPlane:
    """A host's part of the data plane. ``forwarding``: a gateway (ip_forward on in its namespace)."""

    legs: tuple[LegSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    forwarding: bool = False

    def sysctls(self) -> tuple[tuple[str, str], ...]:
        """The ``net.*`` settings the lab gives the host's namespace (empty for a host without legs).

        ip_forward is set either way, so a namespace never inherits the
        machine's value; a gateway forwards between its zone legs but not
        from its management leg (eth0 is never a way into the zones). IPv6
        is off on the legs, as on eth0.
        """
        if not self.legs:
            return ()
        settings = [("net.ipv4.ip_forward", "1" if self.forwarding else "0")]
        if self.forwarding:
            settings.append(("net.ipv4.conf.eth0.forwarding", "0"))
        settings += [(f"net.ipv6.conf.{leg.interface}.disable_ipv6", "1") for leg in self.legs]
        return tuple(settings)


NO_PLANE = HostPlane()


@dataclass(frozen=True)
class DataPlane:
    """Every zone bridge (in ``zones:`` order) and every host's legs and routes."""

    address_space: ipaddress.IPv4Network
    bridges: tuple[ZoneBridge, ...]
    hosts: tuple[tuple[str, HostPlane], ...]

    @property
    def bridge_names(self) -> tuple[str, ...]:
        """The zone bridges' names (for the machine's guard table)."""
        return tuple(bridge.bridge for bridge in self.bridges)

    def host(self, name: str) -> HostPlane:
        """A host's legs, routes and forwarding (nothing for a host in no zone)."""
        for host, plane in self.hosts:
            if host == name:
                return plane
        return NO_PLANE

    def links(self) -> frozenset[str]:
        """Every machine-side name the plane owns: zone bridges and legs."""
        legs = {leg.veth for _, plane in self.hosts for leg in plane.legs}
        return frozenset(legs | set(self.bridge_names))


def _lab_network(network: ipaddress.IPv4Network, space: ipaddress.IPv4Network) -> bool:
    """Whether a network is one the lab may route: private, not a default route, inside the address space."""
    return network.prefixlen > 0 and network.is_private and network.subnet_of(space)


def _host_plane(
    model: NetworkModel,
    host: HostSpec,
    indexes: dict[str, int],
    space: ipaddress.IPv4Network,
    problems: list[tuple[str, str]],
) -> HostPlane:
    """One host's legs and routes from the model; problems are added with their key path."""
    legs: list[LegSpec] = []
    for leg in model.legs(host.name):
        where = f"zones.{leg.zone}"
        zone = model.zones.get(leg.zone)
        if zone is None:
            problems.append((where, f"{host.name}: a leg in unknown zone {leg.zone!r}"))
            continue
        if leg.zone not in indexes:
            continue  # its subnet is already reported
        if not _LEG_INTERFACE.fullmatch(leg.interface):
            problems.append((where, f"{host.name}: interface {leg.interface!r} must be eth1..eth999"))
            continue
        usable = leg.address in zone.subnet and leg.address not in (zone.subnet.network_address,
                                                                     zone.subnet.broadcast_address)  # fmt: skip
        if not usable or leg.prefixlen != zone.subnet.prefixlen:
            problems.append(
                (where, f"{host.name}: {leg.address}/{leg.prefixlen} is not a host address of {zone.subnet}")
            )
            continue
        legs.append(
            LegSpec(zone=leg.zone, bridge=names.zone_bridge_name(indexes[leg.zone]),
                    veth=names.leg_name(indexes[leg.zone], host.offset), interface=leg.interface,
                    address=leg.address, prefixlen=leg.prefixlen)
        )  # fmt: skip
    routes: list[RouteSpec] = []
    for network, via in model.routes(host.name):
        where = f"hosts.{host.name}.routes"
        device = next((leg.interface for leg in legs if via in ipaddress.IPv4Network(leg.cidr, strict=False)), None)
        if not _lab_network(network, space):
            problems.append((where, f"{network} is not a lab network inside {space} (no default routes)"))
        elif device is None:
            problems.append((where, f"{network} via {via}: {via} is on none of {host.name}'s zone legs"))
        else:
            routes.append(RouteSpec(network=network, via=via, device=device))
    return HostPlane(legs=tuple(legs), routes=tuple(routes), forwarding=host.name in model.gateways)


def build_plane(
    model: NetworkModel, hosts: Sequence[HostSpec], management: ipaddress.IPv4Network, source: str
) -> DataPlane:
    """Check the network model against the lab and return its data plane.

    ``management`` is the lab subnet (``lab_subnet``): it must be the
    model's management subnet, and no zone may overlap it. Unmanaged hosts
    (not in the inventory) get no legs. Only reads. Raises ConfigError
    naming every problem at once (``source`` is the network file): a public
    or default address space, a zone subnet outside it, more zones than
    bridge names allow, a leg address outside its zone, a route that is not
    a lab network or has no router on the host's legs.
    """
    space = model.address_space
    problems: list[tuple[str, str]] = []
    if not space.is_private or space.prefixlen < 8:
        problems.append(("address_space", f"{space} must be a private network of /8 or longer"))
    if model.management.subnet != management:
        problems.append(("management.subnet", f"{model.management.subnet} is not the lab subnet {management}"))
    bridges: list[ZoneBridge] = []
    indexes: dict[str, int] = {}
    for index, (name, zone) in enumerate(model.zones.items()):
        try:
            bridge = names.zone_bridge_name(index)
        except BadInputError as error:
            problems.append((f"zones.{name}", error.message))
            break
        if not _lab_network(zone.subnet, space) or zone.subnet.overlaps(management):
            problems.append((f"zones.{name}.subnet", f"{zone.subnet} must be a lab network inside {space}, "
                                                     f"apart from the management subnet {management}"))  # fmt: skip
            continue
        indexes[name] = index
        bridges.append(ZoneBridge(zone=name, bridge=bridge, subnet=zone.subnet))
    planes = [(host.name, _host_plane(model, host, indexes, space, problems)) for host in hosts if not host.unmanaged]
    if problems:
        raise ConfigError(source, problems)
    return DataPlane(address_space=space, bridges=tuple(bridges), hosts=tuple(planes))
