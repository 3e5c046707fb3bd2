"""Each gateway's boundary ruleset (nftables), rendered from the network model.

MLPS 2.0 8.1.3.2 asks for default-deny access control at every boundary
with minimal rules, each traceable to a need: a gateway's forward chain
drops by policy, accepts replies of connections already allowed, and then
has one rule per flow (and protocol) whose path crosses this gateway,
carrying ``counter`` (the evidence verify reads) and ``comment "flow:<id>
<reason>"`` (the justification an assessor and the hygiene check read).
Whatever reaches the end is counted, logged with the prefix ``egov-drop ``
and dropped.

Addresses are the narrowest the flow file allows: a zone's subnet for
``zone:`` and ``all``, the members' zone addresses for ``role:``, ``site:``
and ``host:``. Flows from or to ``management`` get no rule: the management
network is out of band and never crosses a gateway.

The text replaces only its own table (``table inet egov_boundary``), in one
atomic ``nft -f`` transaction; the table's comment carries a digest of the
rules so a table changed by hand is drift even when the file is unchanged.
Pure and cheap (no I/O): rendered for every gateway at each provision.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.network.model import ALL, MANAGEMENT

if TYPE_CHECKING:
    from controlplane.network.model import Flow, NetworkModel, Selector

TABLE = "egov_boundary"
DIGEST_PREFIX = "egov-boundary "
DROP_LOG_PREFIX = "egov-drop "
COMMENT_MAX_BYTES = 128  # nft refuses longer rule comments
INDENT = "    "

Network = ipaddress.IPv4Network


@dataclass(frozen=True)
class Endpoint:
    """One end of a flow on the data plane: a zone subnet or a member's address, and its zone."""

    zone: str
    network: Network


@dataclass(frozen=True)
class BoundaryRule:
    """One accept rule of a gateway: a flow's sources to its destinations on one protocol."""

    flow: str
    protocol: str  # "tcp" | "udp" | "icmp"
    sources: tuple[Network, ...]
    destinations: tuple[Network, ...]
    ports: tuple[int, ...]  # () for icmp
    comment: str

    def text(self) -> str:
        """The rule in nft syntax, as it appears in the forward chain."""
        match = f"ip saddr {_set(self.sources)} ip daddr {_set(self.destinations)}"
        if self.protocol == "icmp":
            match += " icmp type echo-request"
        else:
            ports = ", ".join(str(port) for port in self.ports)
            match += f" {self.protocol} dport {ports if len(self.ports) == 1 else '{ ' + ports + ' }'}"
        return f'{match} counter accept comment "{self.comment}"'


def _set(networks: tuple[Network, ...]) -> str:
    words = [str(net.network_address) if net.prefixlen == 32 else str(net) for net in networks]
    return words[0] if len(words) == 1 else "{ " + ", ".join(words) + " }"


def rule_comment(flow: Flow) -> str:
    """``flow:<id> <reason>`` without quotes, backslashes or control characters, cut to 128 bytes (whole characters)."""
    text = "".join(c for c in f"flow:{flow.id} {flow.reason}" if c not in "\"'`\\" and c.isprintable())
    encoded = text.encode("utf-8")[:COMMENT_MAX_BYTES]
    return encoded.decode("utf-8", errors="ignore").rstrip()


def endpoints(model: NetworkModel, selector: Selector) -> tuple[Endpoint, ...]:
    """Where a selector is on the data plane: zone subnets for ``zone:``/``all``, member addresses otherwise.

    ``management`` has none (out of band).
    """
    if selector == MANAGEMENT:
        return ()
    kind, _, value = selector.partition(":")
    if selector == ALL:
        return tuple(
            Endpoint(zone.name, zone.subnet) for zone in model.zones.values() if zone.members and not zone.external
        )
    if kind == "zone":
        zone = model.zones.get(value)
        return () if zone is None else (Endpoint(zone.name, zone.subnet),)
    found = []
    for host in model.hosts_of(selector):
        zone, address = model.zone_of(host), model.zone_address(host)
        if zone is not None and address is not None:
            found.append(Endpoint(zone.name, ipaddress.IPv4Network(address)))
    return tuple(found)


def _narrowed(networks: set[Network]) -> tuple[Network, ...]:
    """Sorted, without networks inside another listed one (nft refuses overlapping set elements)."""
    return tuple(
        sorted(
            (net for net in networks if not any(other != net and net.subnet_of(other) for other in networks)),
            key=lambda net: (net.network_address, net.prefixlen),
        )
    )


def boundary_rules(model: NetworkModel, gateway: str) -> tuple[BoundaryRule, ...]:
    """The accept rules of one gateway, in flow-file order (tcp, udp, icmp within a flow).

    A source is kept when its path to some destination of the flow crosses
    this gateway, and a destination likewise; pairing the kept ones can
    never allow more than the flow does (every source-destination pair of
    a flow is allowed), and a pair that does not cross this gateway never
    reaches it.
    """
    rules: list[BoundaryRule] = []
    for flow in model.flows:
        sources = [end for selector in flow.sources for end in endpoints(model, selector)]
        destinations = [end for selector in flow.destinations for end in endpoints(model, selector)]
        crossing = {
            (source, destination)
            for source in sources
            for destination in destinations
            if gateway in model.gateway_path(source.zone, destination.zone)
        }
        if not crossing:
            continue
        kept_sources = _narrowed({source.network for source, _ in crossing})
        kept_destinations = _narrowed({destination.network for _, destination in crossing})
        comment = rule_comment(flow)
        for protocol, ports in (("tcp", flow.tcp), ("udp", flow.udp)):
            if ports:
                rules.append(
                    BoundaryRule(flow.id, protocol, kept_sources, kept_destinations, tuple(sorted(ports)), comment)
                )
        if flow.icmp:
            rules.append(BoundaryRule(flow.id, "icmp", kept_sources, kept_destinations, (), comment))
    return tuple(rules)


def _chain(rules: tuple[BoundaryRule, ...]) -> str:
    inner = INDENT * 2
    lines = [
        f"{INDENT}chain forward {{",
        f"{inner}type filter hook forward priority filter; policy drop;",
        f"{inner}ct state established,related accept",
        f"{inner}ct state invalid drop",
        *(f"{inner}{rule.text()}" for rule in rules),
        f'{inner}counter log prefix "{DROP_LOG_PREFIX}" drop',
        f"{INDENT}}}",
    ]
    return "\n".join(lines)


def ruleset_digest(chain_text: str) -> str:
    """A short digest of the rules, kept in the live table's comment to spot hand edits."""
    return hashlib.sha256(chain_text.encode("utf-8")).hexdigest()[:16]


def render_gateway_ruleset(model: NetworkModel, gateway: str) -> str:
    """The nft file for one gateway: replaces ``table inet egov_boundary`` atomically and leaves other tables alone.

    Raises ValueError when ``gateway`` routes no zone of the model.
    """
    if gateway not in model.gateways:
        raise ValueError(f"{gateway!r} is not a gateway of {model.source}")
    chain = _chain(boundary_rules(model, gateway))
    return "\n".join(
        [
            "#!/usr/sbin/nft -f",
            f"# Boundary of gateway {gateway}: generated by the EduGov control plane from the flow file",
            f"# ({model.source.name}; egov provision, role network_gateway). Edit the flow file, not this one.",
            f"# Default deny; one rule per flow crossing this gateway. Only table inet {TABLE} is replaced.",
            f"table inet {TABLE} {{}}",
            f"delete table inet {TABLE}",
            f"table inet {TABLE} {{",
            f'{INDENT}comment "{DIGEST_PREFIX}{ruleset_digest(chain)}"',
            chain,
            "}",
            "",
        ]
    )


def gateway_rulesets(model: NetworkModel) -> dict[str, str]:
    """Every routing gateway's ruleset text, by host name (what provision hands the network playbook)."""
    return {gateway: render_gateway_ruleset(model, gateway) for gateway in model.gateways}
