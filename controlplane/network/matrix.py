"""The matrix a verify tests: which source probes which address and port, and what the flow file expects.

Pure (no I/O): from the :class:`~controlplane.network.model.NetworkModel` only.

* Sources: the first member of every zone that has members, the first host of
  every selector a flow starts from (so role and host selectors are exercised
  too), and ``controlplane`` for the flows from ``management``.
* From a zone's host: every member of every *other* zone (intra-zone traffic
  is a LAN no gateway filters), on each TCP port a flow allows to that host,
  plus the file's ``sample_ports``, plus ICMP echo. A port open that no flow
  allows is a violation, so the sampled ports are where a forgotten
  ``accept`` shows up.
* From the control plane: only what the management flows name (SSH and ICMP
  to every host's management address). The management network is out of
  band: no gateway filters it, and hosts legitimately answer the control
  plane there on other ports (the portal's health check, the exporters), so
  sampling ports there would report host services, not boundary violations.

UDP flows are not probed: a UDP "connect" proves nothing without an answer
from the service, so the matrix would guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from controlplane.network.model import NetworkModel

CONTROL_PLANE = "controlplane"
MANAGEMENT = "management"


@dataclass(frozen=True)
class PlannedPath:
    """One probe to make and what the flow file says about it."""

    source: str
    source_zone: str
    destination: str
    destination_zone: str
    address: str
    protocol: str  # "tcp" | "icmp"
    port: int | None
    expected: str  # "allow" | "deny"
    flow: str | None


@dataclass(frozen=True)
class Source:
    """A host the probes start from (or the control plane), its zone and address there, and its probes."""

    name: str
    zone: str
    address: str | None  # its zone address (the source of its probes' packets); None for the control plane
    paths: tuple[PlannedPath, ...]


def source_hosts(model: NetworkModel) -> list[tuple[str, str]]:
    """``(host, zone)`` of every verify source, in a stable order (control plane first, then zone order)."""
    found: dict[str, str] = {}
    if any(MANAGEMENT in flow.sources for flow in model.flows):
        found[CONTROL_PLANE] = MANAGEMENT
    for zone in model.zones.values():
        if zone.members:
            found.setdefault(zone.members[0], zone.name)
    for flow in model.flows:
        for selector in flow.sources:
            if selector == MANAGEMENT:
                continue
            hosts = model.hosts_of(selector)
            zone = model.zone_of(hosts[0]) if hosts else None
            if zone is not None:
                found.setdefault(hosts[0], zone.name)
    return list(found.items())


def allowed_ports(model: NetworkModel) -> dict[str, set[int]]:
    """Host -> every TCP port some flow allows to it (from any source)."""
    ports: dict[str, set[int]] = {}
    for flow in model.flows:
        if not flow.tcp:
            continue
        for selector in flow.destinations:
            for host in model.hosts_of(selector):
                ports.setdefault(host, set()).update(flow.tcp)
    return ports


def _path(
    model: NetworkModel, source: str, source_zone: str, host: str, zone: str, address: str, protocol: str,
    port: int | None,
) -> PlannedPath:  # fmt: skip
    flow = model.allowing_flow(source, host, protocol, port)
    return PlannedPath(
        source, source_zone, host, zone, address, protocol, port, "allow" if flow else "deny", flow.id if flow else None
    )


def _control_plane_paths(model: NetworkModel) -> list[PlannedPath]:
    addresses = model.management_addresses or {}
    paths: dict[tuple[str, str, int | None], PlannedPath] = {}
    for flow in model.flows:
        if MANAGEMENT not in flow.sources:
            continue
        for selector in flow.destinations:
            for host in model.hosts_of(selector):
                if host not in addresses:
                    continue
                zone = model.zone_of(host)
                zone_name = zone.name if zone is not None else MANAGEMENT
                checks: list[tuple[str, int | None]] = [("tcp", port) for port in flow.tcp]
                if flow.icmp:
                    checks.append(("icmp", None))
                for protocol, port in checks:
                    key = (host, protocol, port)
                    if key not in paths:
                        address = str(addresses[host])
                        paths[key] = _path(model, CONTROL_PLANE, MANAGEMENT, host, zone_name, address, protocol, port)
    return list(paths.values())


def _zone_paths(model: NetworkModel, source: str, source_zone: str, ports: dict[str, set[int]]) -> list[PlannedPath]:
    paths: list[PlannedPath] = []
    for zone in model.zones.values():
        if zone.name == source_zone:
            continue
        for host in zone.members:
            address = model.zone_address(host)
            if address is None:
                continue
            for port in sorted(set(model.sample_ports) | ports.get(host, set())):
                paths.append(_path(model, source, source_zone, host, zone.name, str(address), "tcp", port))
            paths.append(_path(model, source, source_zone, host, zone.name, str(address), "icmp", None))
    return paths


def zone_names(model: NetworkModel) -> list[str]:
    """The names ``--zone`` accepts: ``management`` and every zone of the file."""
    return [MANAGEMENT, *model.zones]


def plan_matrix(model: NetworkModel, zone: str | None = None, hosts: Iterable[str] = ()) -> tuple[Source, ...]:
    """Every source with its planned probes; with ``zone``, only the paths from or to that zone.

    With ``hosts`` (a runbook verifying one host), each of them that is a
    zone member becomes a source too, and only the paths from or to them
    are kept. Raises BadInputError (exit 2) for a zone the file does not
    have or a host that is no zone member and no management flow names. Costs
    one :meth:`allowing_flow` per probe: about a thousand for the lab, a few
    milliseconds.
    """
    if zone is not None and zone not in zone_names(model):
        raise BadInputError(f"unknown zone {zone!r} (zones: {', '.join(zone_names(model))})")
    ports = allowed_ports(model)
    only = tuple(hosts)
    members = {host for zone_ in model.zones.values() for host in zone_.members}
    unknown = [host for host in only if host not in members and host not in (model.management_addresses or {})]
    if unknown:
        raise BadInputError(f"unknown host(s) for a verify: {', '.join(unknown)}")
    pairs = source_hosts(model)
    for host in only:
        host_zone = model.zone_of(host)
        if host_zone is not None and host not in dict(pairs):
            pairs.append((host, host_zone.name))
    sources: list[Source] = []
    for name, source_zone in pairs:
        if name == CONTROL_PLANE:
            paths = _control_plane_paths(model)
            address = None
        else:
            paths = _zone_paths(model, name, source_zone, ports)
            zone_address = model.zone_address(name)
            address = str(zone_address) if zone_address is not None else None
        if zone is not None:
            paths = [path for path in paths if zone in (path.source_zone, path.destination_zone)]
        if only:
            paths = [path for path in paths if path.source in only or path.destination in only]
        if paths:
            sources.append(Source(name, source_zone, address, tuple(paths)))
    if only and not sources:
        raise BadInputError(
            f"no path of the flow file starts or ends at {', '.join(only)} (a gateway or no zone member)"
        )
    return tuple(sources)


def count_paths(sources: Iterable[Source]) -> int:
    return sum(len(source.paths) for source in sources)


def isolate(sources: tuple[Source, ...], hosts: Iterable[str]) -> tuple[Source, ...]:
    """The matrix while ``hosts`` are isolated (isolate-host): every path from or to them is expected closed.

    Only the control plane's allowed TCP paths (SSH to their management
    address: the path the incident is handled over) stay allowed. Without this, the runbook's own
    check would be stored as a failed verify full of "breakages" that are
    the isolation working, and fire RunsFailed.
    """
    cut = set(hosts)
    if not cut:
        return sources

    def expected(path: PlannedPath) -> PlannedPath:
        if path.source not in cut and path.destination not in cut:
            return path
        kept = path.source == CONTROL_PLANE and path.protocol == "tcp" and path.expected == "allow"
        return path if kept else replace(path, expected="deny", flow=None)

    return tuple(replace(source, paths=tuple(expected(path) for path in source.paths)) for source in sources)
