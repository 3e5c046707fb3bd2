"""The network controls: a gateway's recorded boundary ruleset, and the newest verify as control-plane facts."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.checks import CheckContext, run_check
from controlplane.compliance.evaluate import HostContext, evaluate_host
from tests.unit.compliance.conftest import EVIDENCE, SCAN_TIME, recorded

NETWORK_CONTROLS = (
    "network.default-deny",
    "network.drops-logged",
    "network.rules-justified",
    "network.no-violations",
    "network.allowed-flows-work",
    "network.verify-recent",
)
FLOWS = ["management-ssh", "backup-sftp", "public-web", "portal-database", "provinces-ministry-office"]
VIOLATION = "gd-school-1 -> mn-db-1 10.198.11.14:5432/tcp open (expected deny); mn-gw-1 flow:hand-made +1 packets"


def gateway_nft() -> dict[str, Any]:
    """mn-gw-1's `nft -j list ruleset` after provision (evidence/gateway/mn-gw-1.nft loaded in a namespace)."""
    return json.loads((EVIDENCE / "gateway" / "mn-gw-1.json").read_text(encoding="utf-8"))


def boundary_rules(nft: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in nft["ruleset"]["nftables"] if item.get("rule", {}).get("table") == "egov_boundary"]


def add_rule(nft: dict[str, Any], expr: list[dict[str, Any]], comment: str | None = None, top: bool = False) -> None:
    """A rule as `nft add rule` (or `insert`, ``top``) puts it in the boundary's forward chain."""
    rule: dict[str, Any] = {"family": "inet", "table": "egov_boundary", "chain": "forward", "handle": 99, "expr": expr}
    if comment:
        rule["comment"] = comment
    items = nft["ruleset"]["nftables"]
    rules = boundary_rules(nft)
    anchor = items.index(rules[0]) if top else items.index(rules[-1])  # add goes before our final drop in tests
    items.insert(anchor, {"rule": rule})


def verify_fact(**changes: Any) -> dict[str, Any]:
    fact = {"id": 7, "run_id": 70, "finished_at": (SCAN_TIME - timedelta(hours=3)).isoformat(), "paths": 24,
            "violations": [], "breakages": []}  # fmt: skip
    return {**fact, **changes}


def facts(**verify: Any) -> dict[str, Any]:
    return {"network.zoned": True, "network.flows": FLOWS, "network.verify": verify_fact(**verify)}


def gateway(store: dict[str, Any] | None = None) -> HostContext:
    return HostContext("mn-gw-1", "ministry", ("gateway",), store if store is not None else facts())


def outcome(check: dict[str, Any], nft: dict[str, Any] | None = None, store: dict[str, Any] | None = None) -> Any:
    evidence = {"nft": nft if nft is not None else gateway_nft()}
    return run_check(check, CheckContext(evidence, ("gateway",), store if store is not None else facts(), SCAN_TIME))


def lab_gateway_evidence(nft: dict[str, Any] | None = None) -> dict[str, Any]:
    evidence = recorded("lab_host")
    evidence["nft"] = nft if nft is not None else gateway_nft()
    evidence["host"]["hostname"] = "mn-gw-1"
    return evidence


def by_id(results: list[Any]) -> dict[str, Any]:
    return {result.control_id: result for result in results}


def test_a_provisioned_gateway_with_a_clean_verify_passes_every_network_control(catalog: Catalog) -> None:
    results = by_id(evaluate_host(catalog, lab_gateway_evidence(), gateway(), SCAN_TIME))
    failing = {cid: (results[cid].status, results[cid].found) for cid in NETWORK_CONTROLS}
    assert {cid: found for cid, found in failing.items() if found[0] != "pass"} == {}
    assert "policy drop" in results["network.default-deny"].found
    assert 'prefix "egov-drop "' in results["network.drops-logged"].found
    assert results["network.rules-justified"].found == "4 rule(s), each naming a current flow"


def test_a_gateway_before_provision_forwards_everything_and_fails_the_ruleset_controls(catalog: Catalog) -> None:
    results = by_id(evaluate_host(catalog, recorded("lab_host"), gateway(), SCAN_TIME))
    for control_id in ("network.default-deny", "network.drops-logged", "network.rules-justified"):
        assert results[control_id].status == "fail", control_id
        assert "no table inet egov_boundary: the gateway forwards everything" in results[control_id].found


def test_a_rule_opened_by_hand_is_unjustified_and_names_its_handle() -> None:
    nft = gateway_nft()
    add_rule(nft, [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5432}},
                   {"accept": None}])  # fmt: skip
    result = outcome({"type": "nft_boundary", "rule": "rules_justified"}, nft)
    assert result.status == "fail"
    assert result.found == "1 unjustified rule(s): handle 99 accept (no flow)"


def test_a_rule_of_a_flow_removed_from_network_yml_is_unjustified() -> None:
    store = {**facts(), "network.flows": [flow for flow in FLOWS if flow != "public-web"]}
    result = outcome({"type": "nft_boundary", "rule": "rules_justified"}, store=store)
    assert result.status == "fail"
    assert "(no flow of network.yml crossing this gateway)" in result.found and "flow:public-web" in result.found


def test_isolate_hosts_drop_rules_are_listed_but_not_counted_as_unjustified() -> None:
    nft = gateway_nft()
    match = {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.198.11.14"}}
    add_rule(nft, [match, {"counter": {"packets": 0, "bytes": 0}}, {"drop": None}], "isolate:mn-db-1 run 5", top=True)
    result = outcome({"type": "nft_boundary", "rule": "rules_justified"}, nft)
    assert result.status == "pass"
    assert result.found.endswith("isolation in force: isolate:mn-db-1")


def test_rules_justified_without_the_flow_file_is_an_error_not_a_pass() -> None:
    result = outcome({"type": "nft_boundary", "rule": "rules_justified"}, store={})
    assert result.status == "error" and "gave no flows" in result.message


def test_an_unconditional_accept_or_an_accept_policy_fails_default_deny() -> None:
    nft = gateway_nft()
    add_rule(nft, [{"accept": None}])
    result = outcome({"type": "nft_boundary", "rule": "default_deny"}, nft)
    assert result.status == "fail" and "accepts everything" in result.found
    nft = gateway_nft()
    chain = next(i["chain"] for i in nft["ruleset"]["nftables"] if i.get("chain", {}).get("table") == "egov_boundary")
    chain["policy"] = "accept"
    result = outcome({"type": "nft_boundary", "rule": "default_deny"}, nft)
    assert result.status == "fail" and "egov_boundary/forward policy accept" in result.found


def test_a_final_drop_without_log_fails_drops_logged() -> None:
    nft = gateway_nft()
    last = boundary_rules(nft)[-1]["rule"]
    last["expr"] = [expression for expression in last["expr"] if "log" not in expression]
    result = outcome({"type": "nft_boundary", "rule": "drops_logged"}, nft)
    assert result.status == "fail" and result.message == "no log"


def test_a_violation_in_the_newest_verify_fails_no_violations_with_the_path_and_rule() -> None:
    result = outcome({"type": "network_verify", "rule": "no_violations"}, store=facts(violations=[VIOLATION]))
    assert result.status == "fail"
    assert result.found == f"verify 7 of {verify_fact()['finished_at']}: 1 violation: {VIOLATION}"


def test_a_breakage_fails_allowed_flows_work_and_leaves_no_violations_passing() -> None:
    broken = "ext-probe-1 -> mn-portal-1 10.198.10.11:443/tcp refused (expected allow, flow public-web)"
    store = facts(breakages=[broken])
    assert outcome({"type": "network_verify", "rule": "allowed_flows_work"}, store=store).status == "fail"
    assert outcome({"type": "network_verify", "rule": "no_violations"}, store=store).status == "pass"


def test_no_verify_yet_is_an_error_for_the_paths_and_a_failure_for_recency(catalog: Catalog) -> None:
    store = {"network.zoned": True, "network.flows": FLOWS}
    results = by_id(evaluate_host(catalog, lab_gateway_evidence(), gateway(store), SCAN_TIME))
    assert results["network.no-violations"].status == "error"
    assert "no network verify has covered this host yet" in results["network.no-violations"].message
    assert results["network.verify-recent"].status == "fail"


def test_a_verify_older_than_two_days_fails_verify_recent() -> None:
    old = (SCAN_TIME - timedelta(hours=49)).isoformat()
    check = {"type": "network_verify", "rule": "recent", "max_age_seconds": 172800}
    result = outcome(check, store=facts(finished_at=old))
    assert result.status == "fail" and result.found.endswith("49.0 h ago")
    assert outcome(check).status == "pass"


def test_a_network_yml_that_does_not_load_makes_the_network_controls_errors_with_its_message(catalog: Catalog) -> None:
    store = {"network.zoned": True, "network.error": "the network model does not load: zones.dmz.subnet: bad"}
    results = by_id(evaluate_host(catalog, lab_gateway_evidence(), gateway(store), SCAN_TIME))
    for control_id in ("network.rules-justified", "network.no-violations", "network.verify-recent"):
        assert results[control_id].status == "error", control_id
        assert "zones.dmz.subnet: bad" in results[control_id].message


def test_hosts_outside_the_network_model_and_non_gateways_are_not_applicable(catalog: Catalog) -> None:
    school = HostContext("gd-school-1", "school-gd-1", ("school",), {"backup.has_policy": False})
    results = by_id(evaluate_host(catalog, recorded("lab_host"), school, SCAN_TIME))
    assert {results[cid].status for cid in NETWORK_CONTROLS} == {"not_applicable"}
    zoned = HostContext("gd-school-1", "school-gd-1", ("school",), {"backup.has_policy": False, **facts()})
    results = by_id(evaluate_host(catalog, recorded("lab_host"), zoned, SCAN_TIME))
    assert [results[cid].status for cid in NETWORK_CONTROLS] == ["not_applicable"] * 3 + ["pass"] * 3


def test_the_network_controls_map_to_mlps_8_1_2_and_8_1_3_and_nist_sc_7_and_ac_4(catalog: Catalog) -> None:
    clauses = set()
    for control_id in NETWORK_CONTROLS:
        control = catalog.get(control_id)
        assert control is not None, control_id
        clauses |= {ref["clause"] for ref in control.references["mlps"]}
    assert {"8.1.2.1", "8.1.3.1", "8.1.3.2", "8.1.3.5"} <= clauses
    nist = {item for control_id in NETWORK_CONTROLS for item in catalog.get(control_id).references["nist"]}
    assert {"SC-7", "AC-4"} <= nist


@pytest.mark.parametrize("rule", ["default_deny", "drops_logged", "rules_justified"])
def test_a_gateway_whose_ruleset_was_not_collected_is_an_error(rule: str) -> None:
    nft = copy.deepcopy({"ok": False, "installed": True, "error": "nft: permission denied"})
    result = outcome({"type": "nft_boundary", "rule": rule}, nft)
    assert result.status == "error" and "permission denied" in result.message


def test_the_shipped_flow_file_justifies_mn_gw_1s_rendered_rules_but_not_on_another_gateway() -> None:
    from controlplane.network.facts import facts_from
    from tests.unit.network.shipped_network import lab_network

    facts_of = facts_from(lab_network(), None, ["mn-gw-1", "hn-gw-1"])
    check = {"type": "nft_boundary", "rule": "rules_justified"}
    assert outcome(check, store=facts_of["mn-gw-1"]).status == "pass"
    elsewhere = outcome(check, store=facts_of["hn-gw-1"])  # mn-gw-1's rules loaded on hn-gw-1
    assert elsewhere.status == "fail" and elsewhere.found.startswith("2 unjustified rule(s)")  # the DMZ's two flows
    assert "flow:public-web" in elsewhere.found and "flow:portal-database" in elsewhere.found
