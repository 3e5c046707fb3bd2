"""A gateway's live boundary ruleset, read from ``nft -j list table inet egov_boundary``, as something to reason with.

nft's JSON is parsed into :class:`Rule` objects whose matches are plain sets
(address and port intervals, protocols, conntrack states), so that two
questions can be answered without touching the gateway again:

* which rule decides a given new connection (:func:`decide`): the evidence of
  a verify path ("mn-gw-1 flow:public-web +2 packets"), together with the
  counters read before and after the probes;
* whether one rule covers another (:func:`covers`): shadowed rules.

What is not understood (interface names, rate limits, named sets of other
types, jumps) is kept as ``opaque``: a rule with an opaque part "may" match,
and is never claimed to shadow or be shadowed. Costs microseconds per rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

IP_MAX = 2**32 - 1
PORT_MAX = 65535
TERMINAL = ("accept", "drop", "reject")
CT_STATES = frozenset({"new", "established", "related", "invalid", "untracked"})
IGNORED = ("counter", "log", "comment")  # statements that never change what a rule matches

Interval = tuple[int, int]


@dataclass(frozen=True)
class Space:
    """A set of integers (IPv4 addresses or ports) as sorted, merged closed intervals."""

    intervals: tuple[Interval, ...]

    @classmethod
    def of(cls, intervals: Iterable[Interval]) -> Space:
        merged: list[list[int]] = []
        for low, high in sorted(intervals):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        return cls(tuple((low, high) for low, high in merged))

    def contains(self, value: int) -> bool:
        return any(low <= value <= high for low, high in self.intervals)

    def covers(self, other: Space) -> bool:
        """Every value of ``other`` is in this space."""
        return all(any(a <= low and high <= b for a, b in self.intervals) for low, high in other.intervals)

    def complement(self, top: int) -> Space:
        gaps, cursor = [], 0
        for low, high in self.intervals:
            if low > cursor:
                gaps.append((cursor, low - 1))
            cursor = high + 1
        if cursor <= top:
            gaps.append((cursor, top))
        return Space(tuple(gaps))


@dataclass(frozen=True)
class Packet:
    """The first packet of a connection a verify probe makes (always conntrack state ``new``)."""

    saddr: int
    daddr: int
    protocol: str  # "tcp" | "udp" | "icmp"
    port: int | None = None
    state: str = "new"

    @classmethod
    def of(cls, source: str, destination: str, protocol: str, port: int | None) -> Packet:
        return cls(int(ipaddress.IPv4Address(source)), int(ipaddress.IPv4Address(destination)), protocol, port)


@dataclass(frozen=True)
class Match:
    """What a rule matches; None in a field is "anything"."""

    saddr: Space | None = None
    daddr: Space | None = None
    protocols: frozenset[str] | None = None
    dport: Space | None = None
    states: frozenset[str] | None = None
    icmp_types: frozenset[str] | None = None
    opaque: tuple[str, ...] = ()

    def test(self, packet: Packet) -> bool | None:
        """True/False when the packet certainly does/does not match; None when an opaque part decides."""
        if self.states is not None and packet.state not in self.states:
            return False
        if self.protocols is not None and packet.protocol not in self.protocols:
            return False
        if self.dport is not None and (packet.port is None or not self.dport.contains(packet.port)):
            return False
        if self.icmp_types is not None and (packet.protocol != "icmp" or "echo-request" not in self.icmp_types):
            return False
        for space, value in ((self.saddr, packet.saddr), (self.daddr, packet.daddr)):
            if space is not None and not space.contains(value):
                return False
        return None if self.opaque else True

    @property
    def everything(self) -> bool:
        return self == Match()


@dataclass(frozen=True)
class Rule:
    """One rule of the boundary table: position, handle, comment, counters, verdict and match."""

    chain: str
    position: int
    handle: int
    comment: str
    verdict: str | None  # accept/drop/reject, "jump:<chain>"/"goto:<chain>", or None (no verdict)
    match: Match
    packets: int | None = None
    logs: bool = False
    text: str = field(default="", compare=False)

    @property
    def flow_id(self) -> str | None:
        """The flow a rule says it implements (``comment "flow:<id> <reason>"``), or None."""
        word = self.comment.split(" ", 1)[0] if self.comment else ""
        return word.removeprefix("flow:") or None if word.startswith("flow:") else None

    @property
    def label(self) -> str:
        return f"flow:{self.flow_id}" if self.flow_id else f"rule {self.handle}"

    @property
    def terminal(self) -> bool:
        return self.verdict in TERMINAL

    @property
    def conntrack(self) -> bool:
        """The ``ct state established,related accept`` / ``ct state invalid drop`` rules every boundary starts with."""
        states = self.match.states
        return states is not None and "new" not in states and self.match == Match(states=states)


@dataclass(frozen=True)
class Ruleset:
    """A gateway's boundary table: the forward chain's policy and rules, and the rules of other chains."""

    gateway: str
    policy: str | None  # of the base chain hooked on forward; None when there is none
    rules: tuple[Rule, ...]  # the forward base chain, in order
    other_rules: tuple[Rule, ...] = ()  # chains reached by jump/goto

    def counters(self) -> dict[int, int]:
        """Packets per rule handle (rules with a counter)."""
        return {rule.handle: rule.packets for rule in (*self.rules, *self.other_rules) if rule.packets is not None}

    @property
    def logs_drops(self) -> bool:
        """The last forward rule drops everything and logs it (the boundary audit MLPS 8.1.3 asks for)."""
        last = self.rules[-1] if self.rules else None
        return bool(last and last.verdict == "drop" and last.match.everything and last.logs)

    @property
    def default_deny(self) -> bool:
        """Whatever no rule accepts is dropped: policy drop, or a final catch-all drop rule."""
        last = self.rules[-1] if self.rules else None
        return self.policy == "drop" or bool(last and last.verdict in ("drop", "reject") and last.match.everything)


def _space(value: Any, sets: dict[str, list[Any]], address: bool) -> Space | None:
    """Interval space of an nft right-hand side (value, prefix, range, anonymous or named set); None: not understood."""
    items = value.get("set") if isinstance(value, dict) and "set" in value else None
    if isinstance(value, str) and value.startswith("@"):
        items = sets.get(value[1:])
    if items is not None:
        parts = [_space(item, sets, address) for item in items]
        if any(part is None for part in parts):
            return None
        return Space.of(interval for part in parts if part for interval in part.intervals)
    try:
        if isinstance(value, dict) and "prefix" in value and address:
            network = ipaddress.IPv4Network(f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False)
            return Space(((int(network.network_address), int(network.broadcast_address)),))
        if isinstance(value, dict) and "range" in value:
            low, high = value["range"]
            convert = (lambda v: int(ipaddress.IPv4Address(v))) if address else int
            return Space(((convert(low), convert(high)),))
        if address and isinstance(value, str):
            number = int(ipaddress.IPv4Address(value))
            return Space(((number, number),))
        if not address and isinstance(value, int):
            return Space(((value, value),))
    except (ValueError, TypeError, KeyError):
        return None
    return None


def _words(value: Any) -> frozenset[str] | None:
    if isinstance(value, str) and not value.startswith("@"):
        return frozenset({value})
    if isinstance(value, dict) and "set" in value:
        value = value["set"]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    return None


def _match(expressions: list[dict[str, Any]], sets: dict[str, list[Any]]) -> tuple[Match, list[str]]:
    """Fold a rule's match expressions into one Match (a conjunction); also return the verdict-side words."""
    fields: dict[str, Any] = {}
    opaque: list[str] = []

    def narrow(name: str, space: Space) -> None:
        current = fields.get(name)
        fields[name] = space if current is None else Space.of(
            (max(a, c), min(b, d)) for a, b in current.intervals for c, d in space.intervals if max(a, c) <= min(b, d)
        )  # fmt: skip

    def protocols(words: frozenset[str]) -> None:
        current = fields.get("protocols")
        fields["protocols"] = words if current is None else current & words

    rest: list[str] = []
    for expression in expressions:
        ((kind, body),) = expression.items()
        if kind != "match":
            rest.append(kind)
            continue
        left, right, op = body.get("left", {}), body.get("right"), body.get("op", "==")
        negate = op == "!="
        if op not in ("==", "!=", "in"):
            opaque.append(f"{op} match")
            continue
        payload, meta, ct = left.get("payload"), left.get("meta"), left.get("ct")
        if payload and payload.get("protocol") == "ip" and payload.get("field") in ("saddr", "daddr"):
            space = _space(right, sets, address=True)
            if space is None:
                opaque.append(f"ip {payload['field']}")
            else:
                narrow(payload["field"], space.complement(IP_MAX) if negate else space)
        elif payload and payload.get("protocol") in ("tcp", "udp", "th") and payload.get("field") == "dport":
            space = _space(right, sets, address=False)
            protocols(frozenset({"tcp", "udp"}) if payload["protocol"] == "th" else frozenset({payload["protocol"]}))
            if space is None:
                opaque.append(f"{payload['protocol']} dport")
            else:
                narrow("dport", space.complement(PORT_MAX) if negate else space)
        elif payload and payload.get("protocol") == "icmp" and payload.get("field") == "type" and not negate:
            protocols(frozenset({"icmp"}))
            words = _words(right)
            if words is None:
                opaque.append("icmp type")
            else:
                fields["icmp_types"] = words
        elif (
            (meta and meta.get("key") == "l4proto") or (payload and payload.get("field") == "protocol")
        ) and not negate:
            words = _words(right)
            if words is None:
                opaque.append("protocol")
            else:
                protocols(words)
        elif ct and ct.get("key") == "state":
            words = _words(right)
            if words is None:
                opaque.append("ct state")
            else:
                fields["states"] = CT_STATES - words if negate else words
        else:
            key = (meta or ct or {}).get("key") or (payload or {}).get("field") or "expression"
            opaque.append(str(key))
    return Match(**fields, opaque=tuple(opaque)), rest


def _rule(item: dict[str, Any], position: int, sets: dict[str, list[Any]]) -> Rule:
    expressions = [expr for expr in item.get("expr", []) if isinstance(expr, dict) and len(expr) == 1]
    match, rest = _match(expressions, sets)
    verdict: str | None = None
    packets: int | None = None
    logs = False
    opaque = list(match.opaque)
    for expression in expressions:
        ((kind, body),) = expression.items()
        if kind in TERMINAL:
            verdict = kind
        elif kind in ("jump", "goto"):
            verdict = f"{kind}:{(body or {}).get('target', '?')}"
        elif kind == "counter" and isinstance(body, dict):
            packets = int(body.get("packets", 0))
        elif kind == "log":
            logs = True
    opaque += [kind for kind in rest if kind not in (*IGNORED, *TERMINAL, "jump", "goto", "match")]
    if opaque != list(match.opaque):
        match = Match(**{**match.__dict__, "opaque": tuple(opaque)})
    return Rule(
        chain=str(item.get("chain", "")),
        position=position,
        handle=int(item.get("handle", 0)),
        comment=str(item.get("comment", "")),
        verdict=verdict,
        match=match,
        packets=packets,
        logs=logs,
    )


def parse_ruleset(gateway: str, document: dict[str, Any]) -> Ruleset:
    """Read ``nft -j list table inet egov_boundary`` output into a Ruleset (unknown items are skipped)."""
    items = [item for item in document.get("nftables", []) if isinstance(item, dict)]
    sets = {
        str(body["name"]): list(body.get("elem", []))
        for item in items
        if isinstance(body := item.get("set"), dict) and "name" in body
    }
    chains = [item["chain"] for item in items if isinstance(item.get("chain"), dict)]
    base = next((chain for chain in chains if chain.get("hook") == "forward"), None)
    forward, other = [], []
    for position, item in enumerate(item["rule"] for item in items if isinstance(item.get("rule"), dict)):
        rule = _rule(item, position, sets)
        (forward if base is not None and rule.chain == base.get("name") else other).append(rule)
    return Ruleset(gateway, base.get("policy", "accept") if base else None, tuple(forward), tuple(other))


@dataclass(frozen=True)
class Decision:
    """What a gateway does with a new connection: the deciding rule (None: the chain policy) and the verdict."""

    gateway: str
    verdict: str  # "accept" | "drop"
    rule: Rule | None
    maybe: Rule | None = None  # an earlier rule that might decide instead (opaque match or jump)


def decide(ruleset: Ruleset, packet: Packet) -> Decision:
    """Walk the forward chain like the kernel would for the first packet of a connection."""
    maybe: Rule | None = None
    for rule in ruleset.rules:
        result = rule.match.test(packet)
        if result is False:
            continue
        if not rule.terminal:
            if rule.verdict and maybe is None:
                maybe = rule  # a jump we do not follow: that chain might decide
            continue
        if result is None:
            maybe = maybe or rule
            continue
        return Decision(ruleset.gateway, "accept" if rule.verdict == "accept" else "drop", rule, maybe)
    return Decision(ruleset.gateway, "accept" if ruleset.policy in (None, "accept") else "drop", None, maybe)


def covers(first: Match, second: Match) -> bool:
    """Whether every packet ``second`` matches is matched by ``first`` (False when either has opaque parts)."""
    if first.opaque or second.opaque:
        return False
    for name in ("saddr", "daddr", "dport"):
        mine, theirs = getattr(first, name), getattr(second, name)
        if mine is not None and (theirs is None or not mine.covers(theirs)):
            return False
    for name in ("protocols", "states", "icmp_types"):
        mine, theirs = getattr(first, name), getattr(second, name)
        if mine is not None and (theirs is None or not theirs <= mine):
            return False
    return True


def describe(match: Match) -> str:
    """A short human text of a match (for findings): ``tcp 10.198.50.0/24 -> 10.198.40.41 dport 443``."""

    def interval(low: int, high: int) -> str:
        first, last = ipaddress.IPv4Address(low), ipaddress.IPv4Address(high)
        networks = list(ipaddress.summarize_address_range(first, last))
        return str(first) if low == high else str(networks[0]) if len(networks) == 1 else f"{first}-{last}"

    def text(space: Space | None, address: bool) -> str:
        if space is None:
            return "any"
        if address:
            return ",".join(interval(low, high) for low, high in space.intervals)
        return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in space.intervals)

    parts = ["/".join(sorted(match.protocols)) if match.protocols else "any"]
    parts.append(f"{text(match.saddr, True)} -> {text(match.daddr, True)}")
    if match.dport is not None:
        parts.append(f"dport {text(match.dport, False)}")
    if match.states is not None:
        parts.append("ct state " + ",".join(sorted(match.states)))
    if match.opaque:
        parts.append("(+" + ", ".join(match.opaque) + ")")
    return " ".join(parts)
