"""What the ``/network`` page and ``GET /api/v1/network`` show, cut to the reader's scope.

Pure: it takes the network model, the latest verify report, the inventory
and a site predicate (the reader's :class:`controlplane.web.policy.Scope`),
and returns plain data the SVG renderer, the template and the API share, so
the page and the API can never disagree on what a province may see.

Scope is a security boundary here. A reader limited to some sites sees:

* in full (hosts, zone addresses, subnet) only the zones holding at least one
  host of their sites, and of those zones only those hosts;
* the flows and verify paths that touch such a zone; the far end of such a
  flow is a *stub* (zone name and title, no subnet, no hosts);
* of a path whose far end is a host outside the scope, neither that host's
  name nor (for a destination) its address: the zone stands in for it, and
  the gateway evidence has out-of-scope host names masked;
* counts (violations, breakages) over those paths only, so a province never
  learns that another province has problems;
* only the gateways of its sites by name, and hygiene findings about its
  zones or gateways.

Every other zone, host, address, path and finding is left out, not hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlplane.inventory import Inventory
    from controlplane.network.model import Flow, NetworkModel
    from controlplane.network.results import Finding, PathResult, VerifyReport

MANAGEMENT = "management"
CONTROLPLANE = "controlplane"  # the source name of probes run from the control plane (management flows)
MASK = "…"  # what stands in for an out-of-scope host in evidence text
PROBLEMS = ("violation", "breakage")

SitePredicate = Callable[[str | None], bool]


@dataclass(frozen=True)
class HostDot:
    """One host inside a zone box: its name, zone address and role; ``problem`` when a failing path ends there."""

    name: str
    address: str | None
    role: str
    site: str
    problem: bool = False


@dataclass(frozen=True)
class ZoneBox:
    """A zone as drawn; a ``stub`` is outside the reader's scope (name and title only)."""

    name: str
    title_zh: str
    kind: str
    gateway: str | None  # the router its members use (for the layout; shown only when the gateway is visible)
    subnet: str | None = None
    external: bool = False
    stub: bool = False
    hosts: tuple[HostDot, ...] = ()
    problem: bool = False


@dataclass(frozen=True)
class GatewayNode:
    """A gateway host and the zones it routes; ``name`` is None when the gateway is outside the reader's scope."""

    key: str  # stable id for the layout (the host name; never rendered unless ``name`` is set)
    name: str | None
    zones: tuple[str, ...]


@dataclass(frozen=True)
class Arrow:
    """Traffic from one zone to another: the flows allowing it (``ports``) and the verify's verdict on it.

    ``allowed`` is False for an arrow only a violation drew (a path open that
    no flow allows); ``state`` is "bad" when a path of this pair failed,
    "ok" when the latest verify tested it clean, "unknown" when untested.
    """

    source: str
    destination: str
    flows: tuple[str, ...]
    ports: tuple[str, ...]
    allowed: bool
    state: str
    violations: int = 0
    breakages: int = 0


@dataclass(frozen=True)
class FlowRow:
    """An allowed flow as listed under the picture: id, reason, protocol/ports, the zone pairs it covers in view."""

    id: str
    reason: str
    ports: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PathRow:
    """One tested path, with out-of-scope ends masked (None)."""

    source: str | None
    source_zone: str
    destination: str | None
    destination_zone: str
    address: str | None
    protocol: str
    port: int | None
    expected: str
    flow: str | None
    observed: str
    verdict: str
    rule: str | None


@dataclass(frozen=True)
class Cell:
    """One cell of the zone × zone matrix: the ports allowed and the verify's counts on that pair."""

    ports: tuple[str, ...] = ()
    ok: int = 0
    violations: int = 0
    breakages: int = 0

    @property
    def verdict(self) -> str:
        """The worst verdict on the pair: violation, breakage, ok, or untested."""
        if self.violations:
            return "violation"
        if self.breakages:
            return "breakage"
        return "ok" if self.ok else "untested"


@dataclass(frozen=True)
class ReportSummary:
    """The verify as the reader sees it: when, which run, and the counts over the paths in view."""

    id: int | None
    run_id: int | None
    started_at: str
    finished_at: str
    paths: int
    violations: int
    breakages: int
    findings: int

    @property
    def ok(self) -> bool:
        """True when no path in view failed and no finding in view stands."""
        return not (self.violations or self.breakages or self.findings)


@dataclass(frozen=True)
class FindingRow:
    """A rule-hygiene finding (kind, where, detail)."""

    kind: str
    where: str
    detail: str


@dataclass(frozen=True)
class NetworkView:
    """Everything the page draws, already cut to the reader's scope."""

    scoped: bool
    zones: tuple[ZoneBox, ...]
    gateways: tuple[GatewayNode, ...]
    arrows: tuple[Arrow, ...]
    flows: tuple[FlowRow, ...]
    matrix_zones: tuple[str, ...]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    report: ReportSummary | None = None
    paths: tuple[PathRow, ...] = ()
    findings: tuple[FindingRow, ...] = ()

    @property
    def problems(self) -> tuple[PathRow, ...]:
        """The violations then the breakages among the paths in view."""
        return tuple(p for kind in PROBLEMS for p in self.paths if p.verdict == kind)


def ports_of(flow: Flow) -> tuple[str, ...]:
    """``("tcp 22", "udp 53", "icmp")``: what a flow allows, as the page labels it."""
    labels = []
    if flow.tcp:
        labels.append("tcp " + ",".join(str(p) for p in flow.tcp))
    if flow.udp:
        labels.append("udp " + ",".join(str(p) for p in flow.udp))
    if flow.icmp:
        labels.append("icmp")
    return tuple(labels)


def _zones_of(model: NetworkModel, selectors: Iterable[str]) -> list[str]:
    """The zones a flow's selectors reach, in file order ("management" for the control plane)."""
    found: set[str] = set()
    for selector in selectors:
        if selector == MANAGEMENT:
            found.add(MANAGEMENT)
        elif selector.startswith("zone:"):
            found.add(selector[5:])
        else:
            for host in model.hosts_of(selector):
                zone = model.zone_of(host)
                if zone is not None:
                    found.add(zone.name)
    order = [MANAGEMENT, *model.zones]
    return [name for name in order if name in found]


def flow_pairs(model: NetworkModel, flow: Flow) -> list[tuple[str, str]]:
    """Every (source zone, destination zone) a flow allows traffic between (intra-zone traffic is a LAN)."""
    sources, destinations = _zones_of(model, flow.sources), _zones_of(model, flow.destinations)
    return [(s, d) for s in sources for d in destinations if s != d]


class _Cut:
    """The reader's scope applied to one model and inventory: which hosts, zones and gateways are visible."""

    def __init__(self, model: NetworkModel, inventory: Inventory, allows: SitePredicate, scoped: bool) -> None:
        self.model, self.scoped = model, scoped
        self.site = {host.name: host.site for host in inventory.hosts}
        self.role = {host.name: host.role for host in inventory.hosts}
        self.hosts = {name for name, site in self.site.items() if allows(site)}
        self.addresses = {host.name: host.address for host in inventory.hosts}
        self._hidden: re.Pattern[str] | None = None
        self.full = {name for name, zone in model.zones.items() if any(h in self.hosts for h in zone.members)}
        if not scoped:
            self.full = set(model.zones)

    def host_visible(self, name: str | None) -> bool:
        return name is not None and name in self.hosts

    def touches(self, source_zone: str, destination_zone: str) -> bool:
        return not self.scoped or source_zone in self.full or destination_zone in self.full

    def path_visible(self, path: PathResult) -> bool:
        if not self.scoped:
            return True
        return self.host_visible(path.source) or self.host_visible(path.destination)

    def mask(self, text: str | None) -> str | None:
        """Evidence text with the names and addresses of hosts outside the scope replaced by MASK.

        Whole tokens only (``isolate:hn-edu-1`` and ``hn-gw-1;`` are masked,
        ``10.198.0.41`` does not hide inside ``10.198.0.4``). The pattern is
        built once per request on first use: one alternation of a few
        thousand names at national size, well under a millisecond a line.
        """
        if text is None or not self.scoped:
            return text
        if self._hidden is None:
            words = set()
            for name in set(self.site) - self.hosts:
                zone_address = self.model.zone_address(name)
                words |= {name, self.addresses.get(name, ""), str(zone_address) if zone_address else ""}
            words.discard("")
            ordered = sorted((re.escape(word) for word in words), key=len, reverse=True) or ["(?!)"]
            self._hidden = re.compile(r"(?<![\w.-])(?:" + "|".join(ordered) + r")(?![\w-]|\.\d)")
        return self._hidden.sub(MASK, text)


def _path_row(cut: _Cut, path: PathResult) -> PathRow:
    source_shown = path.source == CONTROLPLANE or not cut.scoped or cut.host_visible(path.source)
    destination_shown = not cut.scoped or cut.host_visible(path.destination)
    return PathRow(
        source=path.source if source_shown else None,
        source_zone=path.source_zone,
        destination=path.destination if destination_shown else None,
        destination_zone=path.destination_zone,
        address=path.address if destination_shown else None,
        protocol=path.protocol,
        port=path.port,
        expected=path.expected,
        flow=path.flow,
        observed=path.observed,
        verdict=path.verdict,
        rule=cut.mask(path.rule),
    )


def _finding_visible(cut: _Cut, finding: Finding) -> bool:
    if not cut.scoped:
        return True
    return finding.where in cut.full or cut.host_visible(finding.where)


def _zone_boxes(cut: _Cut, shown: set[str], failing: set[str], bad_zones: set[str]) -> list[ZoneBox]:
    model = cut.model
    boxes = []
    if MANAGEMENT in shown:
        boxes.append(ZoneBox(MANAGEMENT, model.management.title_zh, MANAGEMENT, None, str(model.management.subnet)))
    for name, zone in model.zones.items():
        transit = not zone.members and len(zone.routers) > 1
        if name not in shown:
            continue
        gateway = zone.gateway[0] if zone.gateway else None
        kind = "backbone" if transit else "zone"
        if name not in cut.full:
            boxes.append(ZoneBox(name, zone.title_zh, kind, gateway, external=zone.external, stub=True,
                                 problem=name in bad_zones))  # fmt: skip
            continue
        hosts = tuple(
            HostDot(
                host,
                _text(model.zone_address(host)),
                cut.role.get(host, ""),
                cut.site.get(host, ""),
                problem=host in failing,
            )
            for host in zone.members
            if not cut.scoped or cut.host_visible(host)
        )
        boxes.append(ZoneBox(name, zone.title_zh, kind, gateway, str(zone.subnet), zone.external, False, hosts,
                             name in bad_zones))  # fmt: skip
    return boxes


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def build_view(
    model: NetworkModel, report: VerifyReport | None, inventory: Inventory, allows: SitePredicate, *, scoped: bool
) -> NetworkView:
    """The page's data for a reader whose scope ``allows`` sites (``scoped`` False: a ministry-level reader).

    Costs one pass over the flows and one over the report's paths (a few
    thousand at national size); raises nothing for a report older than the
    model (paths naming zones the model lost are still listed).
    """
    cut = _Cut(model, inventory, allows, scoped)
    allowed: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    flows = []
    for flow in model.flows:
        pairs = [pair for pair in flow_pairs(model, flow) if cut.touches(*pair)]
        if not pairs:
            continue
        flows.append(FlowRow(flow.id, flow.reason, ports_of(flow), tuple(pairs)))
        for pair in pairs:
            ids, ports = allowed.setdefault(pair, ([], []))
            ids.append(flow.id)
            ports.extend(p for p in ports_of(flow) if p not in ports)
    paths = [_path_row(cut, p) for p in (report.paths if report else ()) if cut.path_visible(p)]
    tested: dict[tuple[str, str], list[PathRow]] = {}
    for row in paths:
        tested.setdefault((row.source_zone, row.destination_zone), []).append(row)
    arrows, cells = [], {}
    for pair in [*allowed, *(p for p in tested if p not in allowed)]:
        rows = tested.get(pair, [])
        violations = sum(1 for r in rows if r.verdict == "violation")
        breakages = sum(1 for r in rows if r.verdict == "breakage")
        ids, ports = allowed.get(pair, ([], []))
        cells[pair] = Cell(tuple(ports), len(rows) - violations - breakages, violations, breakages)
        if pair not in allowed and not violations:
            continue  # a closed path that stayed closed: a cell of the matrix, not an arrow
        state = "bad" if violations or breakages else ("ok" if rows else "unknown")
        arrows.append(Arrow(pair[0], pair[1], tuple(ids), tuple(ports), pair in allowed, state, violations, breakages))
    failing = {p.destination for p in paths if p.verdict in PROBLEMS and p.destination}
    bad_zones = {p.destination_zone for p in paths if p.verdict in PROBLEMS}
    shown = set(cut.full) | {zone for arrow in arrows for zone in (arrow.source, arrow.destination)}
    for name in list(shown):
        zone = model.zones.get(name)
        for gateway in zone.routers if zone is not None and name in cut.full else ():
            # A province's gateway and the transit zones it joins belong to the picture of that province.
            shown |= {z for z, other in model.zones.items() if gateway in other.routers and not other.members}
    zones = _zone_boxes(cut, shown, failing, bad_zones)
    drawn = {box.name for box in zones}
    members = {box.name for box in zones if box.kind == "zone"}
    gateways = tuple(
        GatewayNode(
            g,
            g if not scoped or cut.host_visible(g) else None,
            tuple(z for z, zone in model.zones.items() if g in zone.routers and z in drawn),
        )
        for g in model.gateways
        # An out-of-scope gateway only as the unnamed joint of zones drawn anyway (not one that routes transit only).
        if (not scoped or cut.host_visible(g)) or any(g in model.zones[z].routers for z in members)
    )
    in_matrix = {zone for pair in cells for zone in pair}
    order = [box.name for box in zones if box.name in in_matrix]
    findings = tuple(
        FindingRow(f.kind, f.where, cut.mask(f.detail) or "")
        for f in (report.findings if report else ())
        if _finding_visible(cut, f)
    )
    summary = None
    if report is not None:
        summary = ReportSummary(
            report.id, report.run_id, report.started_at.isoformat(), report.finished_at.isoformat(), len(paths),
            sum(1 for p in paths if p.verdict == "violation"), sum(1 for p in paths if p.verdict == "breakage"),
            len(findings),
        )  # fmt: skip
    return NetworkView(scoped, tuple(zones), gateways, tuple(arrows), tuple(flows), tuple(order), cells, summary,
                       tuple(paths), findings)  # fmt: skip


def visible_paths(
    model: NetworkModel, inventory: Inventory, allows: SitePredicate, paths: Iterable[PathResult]
) -> list[PathRow]:
    """The paths a reader limited to the sites ``allows`` may see, their out-of-scope ends masked (see above).

    For the output of a verify run that a provincial operator started: the
    run belongs to their site, so its lines must say no more than the page.
    """
    cut = _Cut(model, inventory, allows, scoped=True)
    return [_path_row(cut, path) for path in paths if cut.path_visible(path)]
