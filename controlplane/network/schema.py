"""The schema of the flow file ``network.yml``: it validates, documents and produces the sample.

Two passes, both reported together so one edit fixes the file: the JSON
schema (:data:`SCHEMA`: shapes, names, ports, strings) and the checks only
the inventory can answer (:func:`semantic_problems`: unknown hosts, roles,
sites and zones in selectors, a host in two zones, overlapping subnets or
subnets outside the address space, router addresses outside their subnet,
routers that are not ``role: gateway``, zones no gateway connects,
duplicate flow ids).

Safety by pattern: zone names become bridge names and nft identifiers,
reasons become nft comments and titles become console text, so names keep
to a small character set and free text refuses control characters, quotes
and backslashes (a quote would end an nft comment early).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from controlplane.yamlfile import schema_problems

if TYPE_CHECKING:
    from controlplane.inventory import Host, Inventory

ZONE_NAME = r"^(?!management$)(?!all$)[a-z0-9][a-z0-9-]{0,30}$"
FLOW_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
HOST_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
SITE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
ROLE_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
SELECTOR = (
    r"^(?:management|all|zone:[a-z0-9][a-z0-9-]{0,30}|role:[a-z][a-z0-9_-]{0,31}"
    r"|site:[a-z0-9][a-z0-9-]{0,62}|host:[A-Za-z0-9][A-Za-z0-9._-]{0,62})$"
)
CIDR = r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}/[0-9]{1,2}$"
IPV4 = r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$"
# Free text: no control characters, quotes or backslashes (it becomes an nft comment in double quotes).
TEXT = r"^[^\x00-\x1f\x7f\"'`\\]{1,200}$"


def _string(pattern: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "description": description, **extra}


def _names(pattern: str, description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": f"a list of names: {description}",
        "uniqueItems": True,
        "maxItems": 256,
        "items": _string(pattern, description),
    }


PORTS: dict[str, Any] = {
    "type": "array",
    "uniqueItems": True,
    "maxItems": 64,
    "items": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "a port number (1-65535)"},
}

SELECTORS: dict[str, Any] = {
    "description": "One selector or a list: management, all, zone:NAME, role:NAME, site:NAME or host:NAME.",
    "oneOf": [
        _string(SELECTOR, "management, all, zone:NAME, role:NAME, site:NAME or host:NAME"),
        {
            "type": "array",
            "description": "a list of selectors (the flow applies to each)",
            "minItems": 1,
            "maxItems": 64,
            "uniqueItems": True,
            "items": _string(SELECTOR, "management, all, zone:NAME, role:NAME, site:NAME or host:NAME"),
        },
    ],
}

ZONE: dict[str, Any] = {
    "type": "object",
    "description": "A zone: its subnet, the gateways routing it and the hosts in it.",
    "additionalProperties": False,
    "required": ["subnet"],
    "properties": {
        "title_zh": _string(TEXT, "the zone's name as the console shows it"),
        "subnet": _string(CIDR, "the zone's IPv4 subnet (a.b.c.d/n) inside address_space", examples=["10.198.40.0/24"]),
        "external": {
            "type": "boolean",
            "description": "an external zone (the public): `all` in a flow does not include it",
        },
        "routers": {
            "type": "object",
            "description": "gateway host (role gateway) -> its address in this zone; members route through the first",
            "maxProperties": 16,
            "propertyNames": {"pattern": HOST_NAME},
            "additionalProperties": _string(IPV4, "an IPv4 address inside the zone's subnet"),
        },
        "members": {
            "type": "object",
            "description": "the hosts in the zone: by name, by role, by site (exact, not its children)",
            "additionalProperties": False,
            "properties": {
                "hosts": _names(HOST_NAME, "an inventory host name"),
                "roles": _names(ROLE_NAME, "an inventory role"),
                "sites": _names(SITE_NAME, "an inventory site"),
            },
        },
    },
}

FLOW: dict[str, Any] = {
    "type": "object",
    "description": "One allowed flow between zones; everything not listed is denied.",
    "additionalProperties": False,
    "required": ["id", "from", "to", "reason"],
    "anyOf": [{"required": ["tcp"]}, {"required": ["udp"]}, {"required": ["icmp"]}],
    "properties": {
        "id": _string(FLOW_ID, "the flow's id (lowercase letters, digits, '-'), in every rule comment"),
        "from": SELECTORS,
        "to": SELECTORS,
        "tcp": {**PORTS, "description": "TCP ports allowed"},
        "udp": {**PORTS, "description": "UDP ports allowed"},
        "icmp": {"type": "boolean", "description": "ICMP echo (ping) allowed"},
        "reason": _string(TEXT, "why the flow exists (the rule's comment, the assessor's evidence)"),
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "egov network (zones, gateways, flows)",
    "type": "object",
    "additionalProperties": False,
    "required": ["address_space", "management", "zones", "flows"],
    "properties": {
        "address_space": _string(
            CIDR, "the range hosts route through their zone's gateway", examples=["10.198.0.0/16"]
        ),
        "sample_ports": {**PORTS, "description": "ports verify tests on every host besides those the flows name"},
        "management": {
            "type": "object",
            "description": "the out-of-band management network (every host's ansible_host, the control plane)",
            "additionalProperties": False,
            "required": ["subnet"],
            "properties": {
                "title_zh": _string(TEXT, "the zone's name as the console shows it"),
                "subnet": _string(CIDR, "the management subnet", examples=["10.198.0.0/24"]),
            },
        },
        "zones": {
            "type": "object",
            "description": "zone name -> zone, in the order gateways number their legs (eth1, eth2, ...)",
            "minProperties": 1,
            "maxProperties": 64,
            "propertyNames": {"pattern": ZONE_NAME},
            "additionalProperties": ZONE,
        },
        "flows": {"type": "array", "description": "the allowed flows", "maxItems": 1024, "items": FLOW},
    },
}


def validate(data: Any, inventory: Inventory) -> list[tuple[str, str]]:
    """Every problem of the document, schema and semantics, as ``(key_path, message)`` pairs (empty: valid)."""
    problems = schema_problems(data, SCHEMA)
    if isinstance(data, dict):
        problems += semantic_problems(data, inventory)
    return sorted(set(problems))


def _network(text: Any, where: str, problems: list[tuple[str, str]]) -> ipaddress.IPv4Network | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as error:
        problems.append((where, f"{text!r} is not a valid IPv4 network: {error}"))
        return None


def _address(text: Any, where: str, problems: list[tuple[str, str]]) -> ipaddress.IPv4Address | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        problems.append((where, f"{text!r} is not a valid IPv4 address"))
        return None


def semantic_problems(data: dict[str, Any], inventory: Inventory) -> list[tuple[str, str]]:
    """What only the whole file and the inventory can tell; tolerant of shapes the schema already refused."""
    problems: list[tuple[str, str]] = []
    space = _network(data.get("address_space"), "address_space", problems)
    management_raw = data.get("management") if isinstance(data.get("management"), dict) else {}
    management = _network(management_raw.get("subnet"), "management.subnet", problems)
    subnets: list[tuple[str, ipaddress.IPv4Network]] = []
    if management is not None:
        subnets.append(("management.subnet", management))
    zones = data.get("zones") if isinstance(data.get("zones"), dict) else {}
    hosts = {host.name: host for host in inventory.hosts}
    roles = {host.role for host in inventory.hosts}
    placed: dict[str, str] = {}
    zone_subnets: dict[str, ipaddress.IPv4Network] = {}
    routers: dict[str, set[str]] = {}
    for name, raw in zones.items():
        if not isinstance(raw, dict):
            continue
        where = f"zones.{name}"
        subnet = _network(raw.get("subnet"), f"{where}.subnet", problems)
        if subnet is not None:
            zone_subnets[name] = subnet
            subnets.append((f"{where}.subnet", subnet))
        routers[name] = set()
        used: dict[ipaddress.IPv4Address, str] = {}
        for gateway, text in (raw.get("routers") or {}).items() if isinstance(raw.get("routers"), dict) else ():
            at = f"{where}.routers.{gateway}"
            routers[name].add(gateway)
            if gateway not in hosts:
                problems.append((at, f"unknown host {gateway!r} (not in {inventory.source})"))
            elif hosts[gateway].role != "gateway":
                problems.append((at, f"host {gateway!r} routes but is role {hosts[gateway].role!r}, not gateway"))
            address = _address(text, at, problems)
            if address is None or subnet is None:
                continue
            if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
                problems.append((at, f"{address} is not a host address of the zone's subnet {subnet}"))
            if address in used:
                problems.append((at, f"{address} is also the address of router {used[address]!r}"))
            used[address] = gateway
        members = raw.get("members") if isinstance(raw.get("members"), dict) else {}
        problems += _member_problems(name, members, inventory, roles)
        selected = _selected(members, inventory)
        if selected and not routers[name]:
            problems.append((f"{where}.routers", "a zone with members needs a router (a gateway) to leave it"))
        for host in selected:
            if host in placed:
                problems.append((f"{where}.members", f"host {host!r} is already in zone {placed[host]!r}"))
                continue
            placed[host] = name
            problems += _zone_address_problems(hosts[host], name, subnet, management, set(used))
    for index, (where, subnet) in enumerate(subnets):
        if space is not None and not subnet.subnet_of(space):
            problems.append((where, f"{subnet} is outside address_space {space}"))
        for other_where, other in subnets[:index]:
            if subnet.overlaps(other):
                problems.append((where, f"{subnet} overlaps {other} ({other_where})"))
    problems += _connection_problems(routers)
    problems += _flow_problems(data.get("flows"), zones, placed, inventory)
    return problems


def _selected(members: dict[str, Any], inventory: Inventory) -> list[str]:
    def listed(key: str) -> set[Any]:
        value = members.get(key)
        return {item for item in value if isinstance(item, str)} if isinstance(value, list) else set()

    names, roles, sites = listed("hosts"), listed("roles"), listed("sites")
    return [
        host.name
        for host in inventory.hosts
        if host.role != "gateway" and (host.name in names or host.role in roles or host.site in sites)
    ]


def _member_problems(
    zone: str, members: dict[str, Any], inventory: Inventory, roles: set[str]
) -> list[tuple[str, str]]:
    problems = []
    hosts = {host.name: host for host in inventory.hosts}
    for key, known, what in (("hosts", hosts, "host"), ("roles", roles, "role"), ("sites", inventory.sites, "site")):
        value = members.get(key)
        for index, item in enumerate(value if isinstance(value, list) else ()):
            if not isinstance(item, str):
                continue
            at = f"zones.{zone}.members.{key}[{index}]"
            if item not in known:
                problems.append((at, f"unknown {what} {item!r} (not in {inventory.source})"))
            elif (key == "hosts" and hosts[item].role == "gateway") or (key == "roles" and item == "gateway"):
                problems.append((at, "gateways are not zone members: they appear under routers"))
    return problems


def _zone_address_problems(
    host: Host,
    zone: str,
    subnet: ipaddress.IPv4Network | None,
    management: ipaddress.IPv4Network | None,
    routers: set[ipaddress.IPv4Address],
) -> list[tuple[str, str]]:
    """A member's zone address is numbered like its management address: both must fit."""
    where = f"zones.{zone}.members"
    if subnet is None or management is None:
        return []
    try:
        address = ipaddress.IPv4Address(host.address)
    except ValueError:
        return [(where, f"host {host.name!r}: ansible_host {host.address!r} is not an IPv4 address to number from")]
    if address not in management:
        return [(where, f"host {host.name!r}: ansible_host {address} is outside the management subnet {management}")]
    number = int(address) - int(management.network_address)
    if number >= subnet.num_addresses - 1:
        return [(where, f"host {host.name!r}: host number {number} does not fit the zone's subnet {subnet}")]
    if subnet.network_address + number in routers:
        return [(where, f"host {host.name!r}: zone address {subnet.network_address + number} is a router's address")]
    return []


def _connection_problems(routers: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every routed zone must reach every other through the gateways (else a flow could never pass)."""
    routed = [zone for zone, names in routers.items() if names]
    if not routed:
        return []
    reached, frontier = {routed[0]}, [routed[0]]
    while frontier:
        zone = frontier.pop()
        for other in routed:
            if other not in reached and routers[zone] & routers[other]:
                reached.add(other)
                frontier.append(other)
    return [
        (f"zones.{zone}.routers", f"no gateway connects zone {zone!r} to zone {routed[0]!r}")
        for zone in routed
        if zone not in reached
    ]


def _flow_problems(
    flows: Any, zones: dict[str, Any], placed: dict[str, str], inventory: Inventory
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    hosts = {host.name: host for host in inventory.hosts}
    for index, flow in enumerate(flows if isinstance(flows, list) else ()):
        if not isinstance(flow, dict):
            continue
        where = f"flows[{index}]"
        flow_id = flow.get("id")
        if isinstance(flow_id, str):
            if flow_id in seen:
                problems.append((f"{where}.id", f"duplicate flow id {flow_id!r} (also flows[{seen[flow_id]}])"))
            seen.setdefault(flow_id, index)
        for key in ("from", "to"):
            value = flow.get(key)
            selectors = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            for position, selector in enumerate(selectors):
                if not isinstance(selector, str):
                    continue
                at = f"{where}.{key}" if isinstance(value, str) else f"{where}.{key}[{position}]"
                message = _selector_problem(selector, zones, placed, hosts, inventory)
                if message:
                    problems.append((at, message))
    return problems


def _selector_problem(
    selector: str, zones: dict[str, Any], placed: dict[str, str], hosts: dict[str, Host], inventory: Inventory
) -> str | None:
    kind, _, value = selector.partition(":")
    if kind == "zone":
        return None if value in zones else f"unknown zone {value!r}"
    if kind == "host":
        if value not in hosts:
            return f"unknown host {value!r} (not in {inventory.source})"
        if hosts[value].role == "gateway":
            return "gateways are not flow endpoints (they are managed over the management network)"
        return None if value in placed else f"host {value!r} is in no zone"
    if kind == "role":
        if value == "gateway":
            return "gateways are not flow endpoints (they are managed over the management network)"
        if not any(host.role == value for host in inventory.hosts):
            return f"unknown role {value!r} (no host of {inventory.source} has it)"
        if not any(hosts[name].role == value for name in placed):
            return f"role {value!r} names no host in a zone"
        return None
    if kind == "site":
        if value not in inventory.sites:
            return f"unknown site {value!r} (not in {inventory.source})"
        if not any(hosts[name].site == value for name in placed):
            return f"site {value!r} names no host in a zone"
    return None
