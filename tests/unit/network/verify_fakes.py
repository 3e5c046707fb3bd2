"""A simulated network for the verify tests: gateways with real nft JSON, sources that answer as the flows say.

:class:`FakeNetwork` stands in for :class:`controlplane.ssh.SSHPool`: it
answers the prober's argv with what a network would show (every allowed path
open, every other one timing out, plus the test's changes) and the gateways'
``nft -j list table`` with the JSON of the ruleset ``egov provision`` loads,
produced by the real ``nft`` in a throw-away network namespace (root).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest

from controlplane.errors import UnreachableError
from controlplane.network.matrix import CONTROL_PLANE
from controlplane.network.probe import NEIGHBOURS_ARGV, RULESET_ARGV, Check, Observation
from controlplane.network.rules import render_gateway_ruleset
from controlplane.ssh import RemoteResult, Target
from tests.unit.network.shipped_network import lab_network


def nft_json(text: str) -> dict[str, Any]:
    """Load nft text in a fresh network namespace and list it as JSON (the machine's nftables are untouched)."""
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None:
        pytest.skip("needs root, nft and unshare (a throw-away network namespace)")
    table = "inet egov_boundary"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"nft -f - && nft -j list table {table}"],
        input=text, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@functools.cache
def _shipped_json(gateway: str) -> str:
    return json.dumps(nft_json(render_gateway_ruleset(lab_network(), gateway)))


def shipped_ruleset_json(gateway: str) -> dict[str, Any]:
    """The provisioned boundary of a shipped gateway as ``nft -j list table`` prints it (counters 0)."""
    return json.loads(_shipped_json(gateway))


def with_rule(document: dict[str, Any], rule: dict[str, Any], *, first: bool = True) -> dict[str, Any]:
    """A copy of a listing with one more forward rule (at the top, like ``nft insert rule``)."""
    items = list(document["nftables"])
    rules = [index for index, item in enumerate(items) if "rule" in item]
    at = rules[0] if first else rules[-1] + 1
    items.insert(at, {"rule": {"family": "inet", "table": "egov_boundary", "chain": "forward", **rule}})
    return {"nftables": items}


def bump(document: dict[str, Any], handle: int, packets: int) -> dict[str, Any]:
    """A copy of a listing where rule ``handle`` counted ``packets`` more."""
    copy = json.loads(json.dumps(document))
    for item in copy["nftables"]:
        rule = item.get("rule")
        if rule and rule["handle"] == handle:
            for expression in rule["expr"]:
                if "counter" in expression:
                    expression["counter"]["packets"] += packets
    return copy


@dataclass
class FakeNetwork:
    """Answers like a lab where every flow of network.yml works and nothing else passes, plus ``changes``.

    ``open_extra``: (source host, address, port) reachable although denied;
    ``down``: (address, port) whose service is stopped (refused);
    ``unreachable``: hosts whose SSH fails; ``rulesets``: gateway -> nft
    JSON (None: no table), read twice (before/after: ``after`` overrides).
    """

    open_extra: set[tuple[str, str, int | None]] = field(default_factory=set)
    down: set[tuple[str, int | None]] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    rulesets: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    after: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    neighbours: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)

    def observe(self, source: str, check: Check) -> Observation:
        model = lab_network()
        owner = next(
            (host for host in model.management.members
             if check.address in (str(model.zone_address(host)), str((model.management_addresses or {})[host]))),
            None,
        )  # fmt: skip
        if (source, check.address, check.port) in self.open_extra:
            return Observation("open")
        flow = model.allowing_flow(source, owner, check.protocol, check.port) if owner else None
        if flow is None:
            return Observation("timeout", 1000)
        if (check.address, check.port) in self.down:
            return Observation("refused")
        return Observation("open")

    def local(self, checks: list[Check]) -> list[Observation]:
        return [self.observe(CONTROL_PLANE, check) for check in checks]

    def client(self, target: Target, within: float | None = None) -> None:
        if target.name in self.unreachable:
            raise UnreachableError(f"{target.where}: connection refused")

    def run(self, target: Target, argv: list[str], *, input_text: str | None = None, timeout: float | None = None,
            **_: Any) -> RemoteResult:  # fmt: skip
        self.calls.append((target.name, tuple(argv[:3])))
        self.client(target)
        if tuple(argv) == RULESET_ARGV:
            count = self.reads[target.name] = self.reads.get(target.name, 0) + 1
            source = self.after if count > 1 and target.name in self.after else self.rulesets
            document = source.get(target.name, shipped_ruleset_json(target.name))
            if document is None:
                return RemoteResult(target.name, argv, 1, "", "Error: No such file or directory\n", 0.01)
            return RemoteResult(target.name, argv, 0, json.dumps(document), "", 0.01)
        if tuple(argv) == NEIGHBOURS_ARGV:
            return RemoteResult(target.name, argv, 0, json.dumps(self.neighbours.get(target.name, [])), "", 0.01)
        request = json.loads(input_text or "{}")
        checks = [Check(address, protocol, port) for address, protocol, port in request["checks"]]
        rows = [[seen.observed, seen.milliseconds] for seen in (self.observe(target.name, c) for c in checks)]
        return RemoteResult(target.name, argv, 0, json.dumps({"version": 1, "results": rows}), "", 0.05)
