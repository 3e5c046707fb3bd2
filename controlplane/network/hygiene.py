"""Rule hygiene of the gateways' boundaries, and the counter evidence of each tested path.

MLPS 2.0 8.1.3 asks for access control "with minimal rules" and for the
rules to be reviewed: this module reads each gateway's live ruleset
(:mod:`.ruleset`) against the flow file and says

* which accept rules no current flow justifies (no ``flow:<id>`` comment, a
  flow the file no longer has, or a flow whose path does not cross that
  gateway): ``unjustified-rule``;
* which rules an earlier rule always decides first: ``shadowed-rule``;
* which addresses answer on a zone that the inventory does not place there:
  ``unknown-host``, from the gateway's neighbour table (every host that
  talked to or answered the gateway on a zone, which after the probes is
  every live host there). An active sweep of each /24 was rejected: every
  address probed takes an entry in the kernel's neighbour table, which is
  shared by the whole machine in the lab (1024 entries), so a sweep of seven
  zones would overflow it for every lab host at once.

and turns a path's :class:`~controlplane.network.ruleset.Decision` on each
gateway plus the counters read before and after the probes into the text
stored with the path ("mn-gw-1 flow:public-web +2 packets").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from controlplane.network.results import Finding
from controlplane.network.ruleset import Decision, Ruleset, covers, describe

if TYPE_CHECKING:
    from controlplane.network.model import Flow, NetworkModel

NEIGHBOUR_DEAD = ("FAILED", "INCOMPLETE", "NOARP")
ISOLATION = "isolate:"  # comment of the isolate-host runbook's drop rules (controlplane.network.runbook_facade)


def flow_gateways(model: NetworkModel, flow: Flow) -> set[str]:
    """The gateways a flow's traffic crosses (from any zone of its sources to any zone of its destinations)."""

    def zones(selectors: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for selector in selectors:
            for host in model.hosts_of(selector) if selector != "management" else ():
                zone = model.zone_of(host)
                if zone is not None:
                    found.add(zone.name)
        return found

    crossed: set[str] = set()
    for source in zones(flow.sources):
        for destination in zones(flow.destinations):
            if source != destination:
                crossed.update(model.gateway_path(source, destination))
    return crossed


def rule_findings(ruleset: Ruleset, model: NetworkModel) -> list[Finding]:
    """Unjustified and shadowed rules of one gateway's boundary, in rule order."""
    flows = {flow.id: flow for flow in model.flows}
    findings: list[Finding] = []
    crossing: dict[str, set[str]] = {}
    for rule in (*ruleset.rules, *ruleset.other_rules):
        if rule.verdict != "accept" or rule.conntrack:
            continue
        what = f"rule {rule.handle} (accept {describe(rule.match)})"
        if rule.flow_id is None:
            findings.append(Finding("unjustified-rule", ruleset.gateway, f"{what} has no flow:<id> comment"))
        elif rule.flow_id not in flows:
            findings.append(
                Finding("unjustified-rule", ruleset.gateway, f"{what} names flow:{rule.flow_id}, not in the flow file")
            )
        else:
            if rule.flow_id not in crossing:
                crossing[rule.flow_id] = flow_gateways(model, flows[rule.flow_id])
            if ruleset.gateway not in crossing[rule.flow_id]:
                findings.append(
                    Finding(
                        "unjustified-rule",
                        ruleset.gateway,
                        f"{what} names flow:{rule.flow_id}, whose traffic does not cross {ruleset.gateway}",
                    )
                )
    for later_index, later in enumerate(ruleset.rules):
        if not later.terminal or later.match.everything:
            continue  # the final catch-all drop is meant to come last
        for earlier in ruleset.rules[:later_index]:
            if earlier.comment.startswith(ISOLATION):
                continue  # an incident's isolation cuts flows on purpose, for a while: not a hygiene problem
            if earlier.terminal and covers(earlier.match, later.match):
                findings.append(
                    Finding(
                        "shadowed-rule",
                        ruleset.gateway,
                        f"{later.label} (rule {later.handle}: {later.verdict} {describe(later.match)}) is never "
                        f"reached: {earlier.label} (rule {earlier.handle}: {earlier.verdict}) before it matches "
                        "all of its traffic",
                    )
                )
                break
    return findings


def known_zone_addresses(model: NetworkModel) -> set[ipaddress.IPv4Address]:
    """Every address the model places on a zone: members' zone addresses and the gateways' legs."""
    known: set[ipaddress.IPv4Address] = set()
    for zone in model.zones.values():
        known.update(zone.routers.values())
        for host in zone.members:
            address = model.zone_address(host)
            if address is not None:
                known.add(address)
    return known


def unknown_hosts(gateway: str, neighbours: Iterable[dict[str, Any]], model: NetworkModel) -> list[Finding]:
    """Addresses in a zone subnet with a live neighbour entry on the gateway that the model does not know."""
    known = known_zone_addresses(model)
    subnets = {zone.name: zone.subnet for zone in model.zones.values() if gateway in zone.routers}
    findings: list[Finding] = []
    seen: set[ipaddress.IPv4Address] = set()
    for entry in neighbours:
        states = entry.get("state") or []
        if not entry.get("lladdr") or any(state in NEIGHBOUR_DEAD for state in states):
            continue
        try:
            address = ipaddress.IPv4Address(str(entry.get("dst")))
        except ValueError:
            continue
        if address in known or address in seen:
            continue
        for name, subnet in subnets.items():
            if address in subnet:
                seen.add(address)
                findings.append(
                    Finding(
                        "unknown-host",
                        name,
                        f"{address} ({entry.get('lladdr')}) answers on zone {name} via {gateway} "
                        f"({entry.get('dev', '?')}) but is no host of the inventory there",
                    )
                )
    return findings


def gateway_state(gateway: str, ruleset: Ruleset | None, reachable: bool = True) -> dict[str, Any]:
    """What the report keeps of a gateway's boundary (the compliance checks read it): table, policy, rules, logging."""
    if not reachable:
        return {"reachable": False, "table": None}
    if ruleset is None:
        return {"reachable": True, "table": False, "default_deny": False, "logs_drops": False, "rules": 0}
    return {
        "reachable": True,
        "table": True,
        "policy": ruleset.policy,
        "default_deny": ruleset.default_deny,
        "logs_drops": ruleset.logs_drops,
        "rules": len(ruleset.rules) + len(ruleset.other_rules),
        "flow_rules": sum(1 for rule in ruleset.rules if rule.flow_id),
    }


def delta(before: Ruleset | None, after: Ruleset, handle: int) -> int | None:
    """Packets a rule counted between the two readings (a rule added meanwhile counts from 0); None: no counter."""
    now = after.counters().get(handle)
    if now is None:
        return None
    earlier = before.counters().get(handle, 0) if before is not None else 0
    return max(0, now - earlier)


def decision_text(decision: Decision, before: Ruleset | None, after: Ruleset) -> str:
    """One gateway's part of a path's evidence: ``gd-gw-1 flow:x +3 packets`` / ``gd-gw-1 dropped (policy)``."""
    rule = decision.rule
    if rule is None:
        text = f"{decision.gateway} {'accepted' if decision.verdict == 'accept' else 'dropped'} (chain policy)"
    else:
        packets = delta(before, after, rule.handle)
        counted = f" +{packets} packets" if packets is not None else ""
        if decision.verdict == "drop" and rule.match.everything:
            text = f"{decision.gateway} dropped (policy){counted}"
        elif decision.verdict == "drop":
            text = f"{decision.gateway} dropped by {rule.label}{counted}"
        else:
            text = f"{decision.gateway} {rule.label}{counted}"
            if rule.flow_id is None:
                text += " (no flow comment)"
    if decision.maybe is not None:
        text += f" (or {decision.maybe.label}: {', '.join(decision.maybe.match.opaque) or decision.maybe.verdict})"
    return text
