"""What a verify reads from the gateways, and what it makes of it: counters before and after, evidence, findings.

Each gateway is read twice over SSH (``nft -j list table inet egov_boundary``:
before the probes and after, with ``ip -j -4 neigh show`` the second time);
:meth:`GatewayReadings.evidence` walks a path's packet through the rulesets of
the gateways it crosses (:func:`~controlplane.network.ruleset.decide`) and
:meth:`GatewayReadings.findings` turns the rulesets into hygiene findings
(:mod:`.hygiene`). A gateway that cannot be read is a finding, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError
from controlplane.network import hygiene, probe
from controlplane.network.matrix import CONTROL_PLANE, PlannedPath, Source
from controlplane.network.results import Finding
from controlplane.network.ruleset import Packet, Ruleset, decide, parse_ruleset

if TYPE_CHECKING:
    from controlplane.network.model import NetworkModel
    from controlplane.ssh import SSHPool, Target


class GatewayReadings:
    """The gateways' rulesets before and after the probes, their neighbour tables, and which could not be read."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.before: dict[str, Ruleset | None] = {}
        self.after: dict[str, Ruleset | None] = {}
        self.neighbours: dict[str, list[dict[str, Any]]] = {}
        self.errors: dict[str, str] = {}

    def read(self, pool: SSHPool, target: Target, *, after: bool) -> None:
        try:
            document = probe.read_ruleset(pool, target)
            ruleset = parse_ruleset(target.name, document) if document is not None else None
            (self.after if after else self.before)[target.name] = ruleset
            if after:
                self.neighbours[target.name] = probe.read_neighbours(pool, target)
        except EgovError as error:
            self.errors.setdefault(target.name, error.message)

    def evidence(self, model: NetworkModel, source: Source, path: PlannedPath) -> str | None:
        """The deciding rule on each gateway the path crosses (up to the first that drops it)."""
        if source.name == CONTROL_PLANE or source.address is None:
            return None
        try:
            crossed = model.gateway_path(path.source_zone, path.destination_zone)
        except (KeyError, ValueError):
            return None
        packet = Packet.of(source.address, path.address, path.protocol, path.port)
        parts: list[str] = []
        for gateway in crossed:
            if gateway in self.errors or gateway not in self.after:
                parts.append(f"{gateway} ruleset not read")
                continue
            after = self.after[gateway]
            if after is None:
                parts.append(f"{gateway} has no boundary table (forwards everything)")
                continue
            decision = decide(after, packet)
            parts.append(hygiene.decision_text(decision, self.before.get(gateway), after))
            if decision.verdict == "drop":
                break
        return "; ".join(parts) or None

    def findings(self, model: NetworkModel) -> list[Finding]:
        found: list[Finding] = []
        for name in self.names:
            if name in self.errors:
                found.append(Finding("gateway-unreachable", name, self.errors[name]))
                continue
            ruleset = self.after.get(name)
            if ruleset is None:
                found.append(
                    Finding("boundary-missing", name, "no table inet egov_boundary: the gateway forwards everything")
                )
            else:
                found.extend(hygiene.rule_findings(ruleset, model))
            found.extend(hygiene.unknown_hosts(name, self.neighbours.get(name, []), model))
        return found

    def states(self) -> dict[str, dict[str, Any]]:
        return {
            name: hygiene.gateway_state(name, self.after.get(name), reachable=name not in self.errors)
            for name in self.names
        }
