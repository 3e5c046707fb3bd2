"""Network boundary checks: a gateway's live boundary ruleset, and the latest verify of the paths.

``nft_boundary`` reads the ``nft`` section the collector already gathers
(``nft -j list ruleset`` on the gateway) and judges the boundary table that
``egov provision`` loads (``table inet egov_boundary``, rendered from
``inventory/network.yml``): its forward policy drops (default deny), its last
rule logs what the policy drops, and every other rule names a current flow
(``comment "flow:<id> <reason>"``) whose traffic crosses this gateway. Those
flow ids are a control-plane fact (``network.flows``), never taken from the gateway.

``network_verify`` reads control-plane facts only: the newest ``egov network
verify`` that covered the host (``network.verify``, see
:mod:`controlplane.network.facts`) -- its violations (a path open that the
flow file denies), breakages (an allowed flow that does not work) and age.
No verify yet is ``error`` ("not assessed"), never a pass.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from controlplane.compliance.checks import ERROR, FAIL, PASS, CheckContext, MissingEvidence, Outcome

BOUNDARY_TABLE = "egov_boundary"
FLOWS_FACT = "network.flows"
VERIFY_FACT = "network.verify"
ERROR_FACT = "network.error"
# isolate-host's containment rule on a gateway (``comment "isolate:<host> ..."``): a drop, so it can
# never widen access; it is listed, not counted as unjustified, while the incident lasts.
ISOLATION_PREFIX = "isolate:"
FLOW_COMMENT = re.compile(r"^flow:([A-Za-z0-9][A-Za-z0-9_.-]*)")
VERDICTS = ("accept", "drop", "reject", "jump", "goto", "return", "continue", "queue")
SHOWN = 3  # paths or rules quoted in ``found``; the rest are counted


def _boundary(ctx: CheckContext, table: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The forward base chains of the boundary table, and its rules in chain order.

    Raises MissingEvidence when the ruleset was not collected.
    """
    nft = ctx.section("nft")
    if not nft.get("ok"):
        if nft.get("installed") is False:
            return [], []
        raise MissingEvidence(nft.get("error") or "nft list ruleset failed")
    items = nft["ruleset"].get("nftables", [])
    chains = [
        item["chain"]
        for item in items
        if "chain" in item and item["chain"].get("table") == table and item["chain"].get("family") == "inet"
    ]
    forward = [chain for chain in chains if chain.get("hook") == "forward"]
    names = {chain["name"] for chain in forward}
    rules = [
        item["rule"]
        for item in items
        if "rule" in item and item["rule"].get("table") == table and item["rule"].get("family") == "inet"
        and item["rule"].get("chain") in names
    ]  # fmt: skip
    return forward, rules


def _verdict(rule: dict[str, Any]) -> str | None:
    for expression in rule.get("expr", []):
        for key in expression:
            if key in VERDICTS:
                return key
    return None


def _matches(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [expression["match"] for expression in rule.get("expr", []) if "match" in expression]


def _is_state_rule(rule: dict[str, Any]) -> bool:
    """``ct state established,related accept`` / ``ct state invalid drop``: connection tracking, not a flow."""
    matches = _matches(rule)
    return bool(matches) and all(m.get("left", {}).get("ct", {}).get("key") == "state" for m in matches)


def _is_final_drop(rule: dict[str, Any]) -> bool:
    """The catch-all at the end: no match, a drop verdict (what the policy would drop, counted and logged)."""
    return not _matches(rule) and _verdict(rule) == "drop"


def _describe(rule: dict[str, Any]) -> str:
    comment = rule.get("comment")
    return f"handle {rule.get('handle')} {_verdict(rule) or 'no verdict'}" + (f' "{comment}"' if comment else "")


def _absent(table: str, expected: str) -> Outcome:
    return Outcome(FAIL, f"no table inet {table}: the gateway forwards everything", expected)


def default_deny(table: str, chains: list[dict[str, Any]], rules: list[dict[str, Any]]) -> Outcome:
    """The boundary's forward policy drops, and no rule accepts everything ahead of it."""
    expected = f"inet {table} forward policy drop, no unconditional accept"
    if not chains:
        return _absent(table, expected)
    found = ", ".join(f"inet {table}/{c['name']} policy {c.get('policy', 'accept')}" for c in chains)
    if any(chain.get("policy") != "drop" for chain in chains):
        return Outcome(FAIL, found, expected)
    open_all = [rule for rule in rules if not _matches(rule) and _verdict(rule) == "accept"]
    if open_all:
        return Outcome(FAIL, f"{found}; {_describe(open_all[0])} accepts everything", expected,
                       "an unconditional accept makes the drop policy moot")  # fmt: skip
    return Outcome(PASS, found + f", {len(rules)} rule(s)", expected)


def drops_logged(table: str, chains: list[dict[str, Any]], rules: list[dict[str, Any]]) -> Outcome:
    """What the boundary drops by policy is counted and logged: its last rule is ``counter log ... drop``."""
    expected = f"the last rule of inet {table} forward counts, logs and drops"
    if not chains:
        return _absent(table, expected)
    last = rules[-1] if rules else None
    if last is None or not _is_final_drop(last):
        found = "last rule: " + (_describe(last) if last else "none") + " (policy drops are not logged)"
        return Outcome(FAIL, found, expected)
    kinds = {key for expression in last.get("expr", []) for key in expression}
    prefix = next((e["log"].get("prefix", "") for e in last["expr"] if "log" in e), None)
    missing = [name for name in ("log", "counter") if name not in kinds]
    found = (
        f"last rule: handle {last.get('handle')} "
        + " ".join(name for name in ("counter", "log", "drop") if name in kinds)
        + (f' prefix "{prefix}"' if prefix else "")
    )
    if missing:
        return Outcome(FAIL, found, expected, "no " + " and no ".join(missing))
    return Outcome(PASS, found, expected)


def rules_justified(table: str, chains: list[dict[str, Any]], rules: list[dict[str, Any]], flows: set[str]) -> Outcome:
    """Every rule but connection tracking and the final drop names a current flow (``flow:<id>``)."""
    expected = f"every rule of inet {table} carries flow:<id> of a flow in network.yml crossing this gateway"
    if not chains:
        return _absent(table, expected)
    justified, isolations, unjustified = 0, [], []
    for rule in rules:
        if _is_state_rule(rule) or _is_final_drop(rule):
            continue
        comment = str(rule.get("comment") or "")
        match = FLOW_COMMENT.match(comment)
        if match and match.group(1) in flows:
            justified += 1
        elif comment.startswith(ISOLATION_PREFIX) and _verdict(rule) == "drop":
            isolations.append(comment.split()[0])
        else:
            unjustified.append(
                _describe(rule) + (" (no flow of network.yml crossing this gateway)" if match else " (no flow)")
            )
    note = f"; isolation in force: {', '.join(isolations)}" if isolations else ""
    if unjustified:
        return Outcome(FAIL, f"{len(unjustified)} unjustified rule(s): {_listing(unjustified)}{note}", expected)
    return Outcome(PASS, f"{justified} rule(s), each naming a current flow{note}", expected)


def check_nft_boundary(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A gateway's boundary table (``rule``: default_deny, drops_logged or rules_justified)."""
    table = check.get("table", BOUNDARY_TABLE)
    chains, rules = _boundary(ctx, table)
    if check["rule"] == "default_deny":
        return default_deny(table, chains, rules)
    if check["rule"] == "drops_logged":
        return drops_logged(table, chains, rules)
    store = ctx.store or {}
    if store.get(ERROR_FACT):
        raise MissingEvidence(str(store[ERROR_FACT]))
    if FLOWS_FACT not in store:
        raise MissingEvidence("the control plane gave no flows (no inventory/network.yml read for this scan)")
    return rules_justified(table, chains, rules, set(store[FLOWS_FACT]))


def _listing(items: list[str]) -> str:
    more = f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def _age_hours(ctx: CheckContext, finished: Any) -> float | None:
    if isinstance(finished, datetime):
        stamp = finished.timestamp()
    else:
        try:
            stamp = datetime.fromisoformat(str(finished)).timestamp()
        except ValueError:
            return None
    return (ctx.now.timestamp() - stamp) / 3600


def check_network_verify(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """The newest verify covering the host (``rule``: no_violations, allowed_flows_work or recent)."""
    store = ctx.store
    if store is None:
        raise MissingEvidence("no control-plane data was given for this host")
    if store.get(ERROR_FACT):
        raise MissingEvidence(str(store[ERROR_FACT]))
    rule = check["rule"]
    if rule == "recent":
        hours = check["max_age_seconds"] / 3600
        expected = f"a network verify covering this host within the last {hours:g} h"
    elif rule == "no_violations":
        expected = "no path to or from this host open that network.yml denies"
    else:
        expected = "every flow network.yml allows to or from this host works"
    verify = store.get(VERIFY_FACT)
    if not verify:
        status = check.get("if_missing", ERROR)
        found = "no network verify has covered this host yet (`egov network verify`)"
        return Outcome(status, found, expected, found if status == ERROR else "")
    where = f"verify {verify.get('id')} of {verify.get('finished_at')}"
    if rule == "recent":
        age = _age_hours(ctx, verify.get("finished_at"))
        if age is None:
            raise MissingEvidence(f"{where}: its time is unreadable")
        ok = age * 3600 <= check["max_age_seconds"]
        return Outcome(PASS if ok else FAIL, f"{where}, {age:.1f} h ago", expected)
    key = "violations" if rule == "no_violations" else "breakages"
    bad = list(verify.get(key) or [])
    if bad:
        return Outcome(FAIL, f"{where}: {len(bad)} {key[:-1] if len(bad) == 1 else key}: {_listing(bad)}", expected)
    return Outcome(PASS, f"{where}: {verify.get('paths', 0)} path(s) of this host tested, no {key}", expected)
