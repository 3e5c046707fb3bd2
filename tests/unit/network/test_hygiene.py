"""Rule hygiene and path evidence from real ``nft -j`` listings: unjustified, shadowed, unknown hosts, counters."""

from __future__ import annotations

import pytest

from controlplane.network.hygiene import decision_text, gateway_state, rule_findings, unknown_hosts
from controlplane.network.rules import render_gateway_ruleset
from controlplane.network.ruleset import Packet, decide, parse_ruleset
from tests.unit.network.shipped_network import lab_network
from tests.unit.network.verify_fakes import bump, nft_json, shipped_ruleset_json, with_rule

TABLE_HEAD = "table inet egov_boundary {\n chain forward {\n  type filter hook forward priority filter; policy drop;\n"


def listing(*rules: str, policy: str = "drop") -> dict:  # type: ignore[type-arg]
    text = TABLE_HEAD.replace("policy drop", f"policy {policy}") + "".join(f"  {rule}\n" for rule in rules) + " }\n}\n"
    return nft_json(text)


def tcp_rule(handle: int, port: int, comment: str | None = None, verdict: str = "accept") -> dict:  # type: ignore[type-arg]
    rule = {"handle": handle, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": port}},
        {"counter": {"packets": 0, "bytes": 0}}, {verdict: None}]}  # fmt: skip
    return {**rule, "comment": comment} if comment else rule


@pytest.mark.parametrize("gateway", ["mn-gw-1", "gd-gw-1", "hn-gw-1"])
def test_a_boundary_as_provision_renders_it_has_no_finding(gateway: str) -> None:
    ruleset = parse_ruleset(gateway, nft_json(render_gateway_ruleset(lab_network(), gateway)))
    assert rule_findings(ruleset, lab_network()) == []
    assert ruleset.default_deny and ruleset.logs_drops and ruleset.policy == "drop"
    assert gateway_state(gateway, ruleset)["flow_rules"] == sum(1 for rule in ruleset.rules if rule.flow_id)


def test_an_accept_rule_without_a_flow_comment_is_unjustified_and_named_by_handle_and_match() -> None:
    ruleset = parse_ruleset("gd-gw-1", with_rule(shipped_ruleset_json("gd-gw-1"), tcp_rule(99, 8080)))
    [finding] = rule_findings(ruleset, lab_network())
    assert (finding.kind, finding.where) == ("unjustified-rule", "gd-gw-1")
    assert finding.detail == "rule 99 (accept tcp any -> any dport 8080) has no flow:<id> comment"


def test_a_rule_naming_a_flow_the_file_lacks_or_one_that_does_not_cross_the_gateway_is_unjustified() -> None:
    document = with_rule(shipped_ruleset_json("gd-gw-1"), tcp_rule(98, 8080, "flow:old-service gone"))
    document = with_rule(document, tcp_rule(97, 80, "flow:public-web 公众"))
    details = [f.detail for f in rule_findings(parse_ruleset("gd-gw-1", document), lab_network())]
    assert details == [
        "rule 97 (accept tcp any -> any dport 80) names flow:public-web, whose traffic does not cross gd-gw-1",
        "rule 98 (accept tcp any -> any dport 8080) names flow:old-service, not in the flow file",
    ]


def test_drop_rules_like_an_isolation_are_never_unjustified() -> None:
    document = with_rule(shipped_ruleset_json("gd-gw-1"), tcp_rule(96, 22, "isolate:gd-edu-1", verdict="drop"))
    assert rule_findings(parse_ruleset("gd-gw-1", document), lab_network()) == []


def test_a_rule_an_earlier_broader_rule_always_decides_first_is_shadowed() -> None:
    school = "ip saddr 10.198.50.51 ip daddr 10.198.40.41 tcp dport"
    document = listing(
        "ct state established,related accept",
        "ip saddr 10.198.50.0/24 ip daddr 10.198.40.0/24 tcp dport { 443, 8443 } accept "
        'comment "flow:school-gd-province"',
        f'{school} 443 counter accept comment "flow:school-gd-province b"',
        f'{school} 22 counter accept comment "flow:school-gd-province c"',
        'counter log prefix "egov-drop " drop',
    )
    findings = rule_findings(parse_ruleset("gd-gw-1", document), lab_network())
    [shadowed] = [f for f in findings if f.kind == "shadowed-rule"]
    assert shadowed.detail == (
        "flow:school-gd-province (rule 5: accept tcp 10.198.50.51 -> 10.198.40.41 dport 443) is never reached: "
        "flow:school-gd-province (rule 4: accept) before it matches all of its traffic"
    )


def test_a_forward_chain_that_accepts_by_default_is_not_default_deny() -> None:
    ruleset = parse_ruleset("gd-gw-1", listing("tcp dport 443 accept", policy="accept"))
    assert not ruleset.default_deny and not ruleset.logs_drops
    assert decide(ruleset, Packet.of("10.198.50.51", "10.198.11.14", "tcp", 5432)).verdict == "accept"


def test_a_new_connection_is_decided_by_the_first_matching_rule_like_the_kernel() -> None:
    ruleset = parse_ruleset("mn-gw-1", shipped_ruleset_json("mn-gw-1"))
    web = decide(ruleset, Packet.of("10.198.90.91", "10.198.10.12", "tcp", 443))
    assert web.verdict == "accept" and web.rule is not None and web.rule.flow_id == "public-web"
    database = decide(ruleset, Packet.of("10.198.90.91", "10.198.11.14", "tcp", 5432))
    assert database.verdict == "drop" and database.rule is not None and database.rule.match.everything
    ping = decide(ruleset, Packet.of("10.198.90.91", "10.198.10.12", "icmp", None))
    assert ping.verdict == "drop"


def test_a_rule_on_an_interface_may_decide_and_the_evidence_says_so() -> None:
    document = listing('iifname "eth1" tcp dport 8080 counter accept', 'counter log prefix "egov-drop " drop')
    decision = decide(parse_ruleset("gd-gw-1", document), Packet.of("10.198.50.51", "10.198.40.41", "tcp", 8080))
    assert decision.verdict == "drop" and decision.maybe is not None
    text = decision_text(decision, None, parse_ruleset("gd-gw-1", document))
    assert text == "gd-gw-1 dropped (policy) +0 packets (or rule 2: iifname)"


def test_the_evidence_counts_the_packets_the_deciding_rule_saw_during_the_verify() -> None:
    before = shipped_ruleset_json("gd-gw-1")
    ruleset = parse_ruleset("gd-gw-1", before)
    school = next(rule for rule in ruleset.rules if rule.flow_id == "school-gd-province")
    after = parse_ruleset("gd-gw-1", bump(bump(before, school.handle, 2), ruleset.rules[-1].handle, 40))
    allowed = decide(after, Packet.of("10.198.50.51", "10.198.40.41", "tcp", 443))
    assert decision_text(allowed, ruleset, after) == "gd-gw-1 flow:school-gd-province +2 packets"
    dropped = decide(after, Packet.of("10.198.50.51", "10.198.40.41", "tcp", 22))
    assert decision_text(dropped, ruleset, after) == "gd-gw-1 dropped (policy) +40 packets"


def test_an_address_the_gateway_sees_on_a_zone_that_the_inventory_does_not_know_is_an_unknown_host() -> None:
    neighbours = [
        {"dst": "10.198.50.51", "dev": "eth2", "lladdr": "02:00:00:00:00:51", "state": ["REACHABLE"]},  # gd-school-1
        {"dst": "10.198.50.99", "dev": "eth2", "lladdr": "02:00:00:00:00:99", "state": ["STALE"]},  # unknown
        {"dst": "10.198.50.98", "dev": "eth2", "state": ["FAILED"]},  # probed, never answered
        {"dst": "10.198.1.1", "dev": "eth1", "lladdr": "02:00:00:00:01:01", "state": ["REACHABLE"]},  # mn-gw-1
        {"dst": "10.198.0.77", "dev": "eth0", "lladdr": "02:00:00:00:00:77", "state": ["REACHABLE"]},  # management
        {"dst": "10.198.70.50", "dev": "eth9", "lladdr": "02:00:00:00:70:50", "state": ["REACHABLE"]},  # not its zone
    ]
    [finding] = unknown_hosts("gd-gw-1", neighbours, lab_network())
    assert (finding.kind, finding.where) == ("unknown-host", "school-gd")
    assert finding.detail.startswith("10.198.50.99 (02:00:00:00:00:99) answers on zone school-gd via gd-gw-1")


def test_icmp_and_udp_rules_decide_their_own_packets_and_a_tcp_rule_never_takes_an_echo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from controlplane.network.model import load_network
    from tests.unit.network.shipped_network import SMALL_NETWORK, small_inventory

    (tmp_path / "network.yml").write_text(SMALL_NETWORK.replace("tcp: [5432]", "tcp: [5432]\n    udp: [53]"))
    model = load_network(tmp_path / "network.yml", small_inventory(tmp_path / "lab.yml"))
    assert model is not None
    ruleset = parse_ruleset("gw-2", nft_json(render_gateway_ruleset(model, "gw-2")))
    assert rule_findings(ruleset, model) == []
    verdicts = [
        decide(ruleset, Packet.of("10.9.10.11", "10.9.20.12", protocol, port)).rule.label  # type: ignore[union-attr]
        for protocol, port in (("icmp", None), ("udp", 53), ("tcp", 5432), ("tcp", 53))
    ]
    assert verdicts == ["flow:web-db", "flow:web-db", "flow:web-db", f"rule {ruleset.rules[-1].handle}"]
    echo = decide(ruleset, Packet.of("10.9.10.11", "10.9.20.12", "icmp", None)).rule
    assert echo is not None and echo.match.icmp_types == frozenset({"echo-request"})
