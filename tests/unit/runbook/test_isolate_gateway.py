"""isolate-host at the gateway (issue 16): drop rules in the zone gateway's boundary, then a verify of the host."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.network import runbook_facade
from controlplane.runbook.adapters import Adapters, AuditNotifier, HostResult, UnavailableBackup
from tests.unit.runbook.test_drill_secrets import HOST, SECRETS, isolate
from tests.unit.runbook.test_engine import FakeHosts, NoPlaybooks

GATEWAY, ADDRESS = "mn-gw-1", "10.198.11.14"


@pytest.fixture
def inventory(config: Any) -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(config.inventory)


@pytest.fixture
def vault(config: Any, store: Any) -> Any:
    from controlplane.vault import open_vault

    opened = open_vault(config, store)
    for name, value in SECRETS.items():
        opened.set(name, value)
    return opened


@pytest.fixture(autouse=True)
def management_path_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The steady state's TCP check answers without a network (the hosts are fakes here)."""
    from controlplane.runbook.context import Context

    monkeypatch.setattr(Context, "tcp_check", lambda self, address, port, timeout=2.0: True)


def chain_listing(*comments: str) -> str:
    """``nft -j list chain inet egov_boundary forward`` with one rule per comment (handles 10, 11, ...)."""
    rules = [
        {"rule": {"family": "inet", "table": "egov_boundary", "chain": "forward", "handle": 10 + index,
                  "comment": comment, "expr": [{"drop": None}]}}
        for index, comment in enumerate(comments)
    ]  # fmt: skip
    return json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}, *rules]})


class Hosts(FakeHosts):
    """Records what each host was sent; the gateway's boundary chain is there (or not, ``boundary=False``)."""

    def __init__(self, boundary: bool = True) -> None:
        super().__init__()
        self.boundary = boundary
        self.inputs: list[tuple[str, list[str], str | None]] = []

    def run(self, host: Any, argv: list[str], *, timeout: float, input_text: str | None = None) -> HostResult:
        self.inputs.append((host.name, list(argv), input_text))
        if host.name == GATEWAY and argv[:2] == ["nft", "list"] and not self.boundary:
            return HostResult(host.name, list(argv), 1, stderr="Error: No such file or directory")
        if host.name == GATEWAY and argv[:3] == ["nft", "-j", "list"]:
            listing = chain_listing("flow:public-web x", f"isolate:{HOST} run 1", f"isolate:{HOST} run 1",
                                    "isolate:mn-db-10 run 2")  # fmt: skip
            return HostResult(host.name, list(argv), 0, stdout=listing)
        return super().run(host, argv, timeout=timeout, input_text=input_text)


class Network:
    """The network engine as the runbook sees it: the real rules, a verify whose paths the test decides."""

    def __init__(self, still_open: bool = False) -> None:
        self.still_open = still_open
        self.verified: list[str] = []

    def unavailable(self) -> str | None:
        return None

    def boundary_of(self, host: str) -> dict[str, str] | None:
        return {"gateway": GATEWAY, "zone": "internal", "address": ADDRESS} if host == HOST else None

    def isolation_rules(self, host: str, address: str, note: str = "") -> str:
        return runbook_facade.isolation_rules(host, address, note)

    def isolation_handles(self, listing: str, host: str) -> list[int]:
        return runbook_facade.isolation_handles(listing, host)

    def verify_host(self, host: str) -> dict[str, Any]:
        self.verified.append(host)
        path = {"source": "gd-school-1", "destination": HOST, "address": ADDRESS, "port": 5432, "protocol": "tcp"}
        ssh = {"source": "controlplane", "destination": HOST, "address": "10.198.0.14", "port": 22, "protocol": "tcp"}
        return {"id": 5, "run_id": 50, "paths": [{**path, "observed": "open" if self.still_open else "timeout"},
                                                 {**ssh, "observed": "open"}]}  # fmt: skip


def adapters(store: Any, vault: Any, hosts: Hosts, network: Network | None) -> Adapters:
    return Adapters(hosts=hosts, backup=UnavailableBackup("unit tests"), notifier=AuditNotifier(store, "t"),
                    playbooks=NoPlaybooks(), secrets=vault, network=network)  # fmt: skip


def test_a_drill_drops_the_host_at_its_gateway_verifies_its_paths_and_removes_exactly_its_rules(
    config, store, inventory, vault
) -> None:
    hosts, network = Hosts(), Network()
    result = isolate(config, store, inventory, adapters(store, vault, hosts, network), "drill")
    assert result.status == "succeeded", result.error
    [(_, _, rules)] = [(h, a, i) for h, a, i in hosts.inputs if h == GATEWAY and a == ["nft", "-f", "-"]]
    assert f"insert rule inet egov_boundary forward ip daddr {ADDRESS} counter drop" in rules
    assert f"insert rule inet egov_boundary forward ip saddr {ADDRESS} counter drop" in rules
    assert network.verified == [HOST] and result.figures["paths_verified"] == 2
    deleted = [a[-1] for h, a, _ in hosts.inputs if h == GATEWAY and a[:3] == ["nft", "delete", "rule"]]
    assert deleted == ["11", "12"]  # its two rules, not the flow's, not mn-db-10's


def test_a_path_of_the_host_still_open_fails_the_verification_naming_it(config, store, inventory, vault) -> None:
    result = isolate(config, store, inventory, adapters(store, vault, Hosts(), Network(still_open=True)), "drill")
    assert result.status != "succeeded"
    assert f"gd-school-1 -> {HOST} {ADDRESS}:5432/tcp" in str(result.error)


def test_a_gateway_not_yet_provisioned_leaves_the_isolation_to_the_hosts_own_firewall(
    config, store, inventory, vault
) -> None:
    hosts = Hosts(boundary=False)
    result = isolate(config, store, inventory, adapters(store, vault, hosts, Network()), "drill")
    assert result.status == "succeeded", result.error
    assert not [a for h, a, _ in hosts.inputs if h == GATEWAY and a[:2] == ["nft", "-f"]]


@pytest.mark.parametrize("network", [None, Network()])
def test_a_dry_run_only_says_what_it_would_do_at_the_gateway(config, store, inventory, vault, network) -> None:
    hosts = Hosts()
    result = isolate(config, store, inventory, adapters(store, vault, hosts, network), "dry-run")
    assert result.status == "succeeded", result.error
    assert hosts.inputs == [] and (network is None or network.verified == [])


def test_a_flow_file_that_does_not_load_never_undoes_the_hosts_own_isolation(config, store, inventory, vault) -> None:
    from controlplane.errors import ConfigError

    class Broken(Network):
        def boundary_of(self, host: str) -> dict[str, str] | None:
            raise ConfigError("inventory/network.yml", [("zones.dmz.subnet", "not a network")])

    hosts = Hosts()
    result = isolate(config, store, inventory, adapters(store, vault, hosts, Broken()), "drill")
    assert result.status == "succeeded", result.error
    assert not [a for h, a, _ in hosts.inputs if h == GATEWAY]  # the gateway was left alone
    assert [a for h, a, _ in hosts.inputs if h == HOST and a == ["nft", "-f", "-"]]  # the host was firewalled
