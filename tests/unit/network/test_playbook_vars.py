"""Playbooks get the gateways' rulesets and each host's data-plane place from the flow file, through the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane import providers
from controlplane.automation.playbook import PlaybookRequest
from controlplane.automation.runner import extra_vars
from controlplane.network.playbook_vars import host_variables, inbound, network_variables, playbook_variables
from controlplane.network.rules import render_gateway_ruleset
from tests.unit.network.role_render import render, role_variables, task
from tests.unit.network.shipped_network import lab_inventory, lab_network


@pytest.fixture
def wired() -> Iterator[None]:
    from controlplane.cli.wiring import wire

    wire()
    yield
    wire()


def test_the_database_is_reached_by_the_portals_only() -> None:
    assert inbound(lab_network(), "mn-db-1") == [
        {
            "flow": "portal-database",
            "protocol": "tcp",
            "ports": [5432],
            "sources": ["10.198.10.11/32", "10.198.10.12/32"],
        }
    ]


def test_management_flows_open_nothing_on_the_data_plane() -> None:
    assert inbound(lab_network(), "ext-probe-1") == []
    assert all(
        rule["flow"] != "management-ssh"
        for host in lab_network().management.members
        for rule in inbound(lab_network(), host)
    )


def test_every_member_and_gateway_has_a_place_and_nothing_else_does() -> None:
    places = host_variables(lab_network())
    assert set(places) == set(lab_network().management.members)
    assert places["gd-school-1"]["routes"] == [{"to": "10.198.0.0/16", "via": "10.198.50.1"}]
    assert places["gd-school-1"]["legs"] == [
        {"interface": "eth1", "zone": "school-gd", "address": "10.198.50.51", "prefixlen": 24}
    ]
    assert places["hn-gw-1"]["gateway"] is True and places["hn-gw-1"]["address"] is None


def test_the_rulesets_are_the_rendered_ones_for_every_gateway() -> None:
    rulesets = playbook_variables(lab_network())["egov_network_rulesets"]
    assert rulesets == {gateway: render_gateway_ruleset(lab_network(), gateway) for gateway in lab_network().gateways}


def test_without_a_flow_file_there_are_no_network_variables(tmp_path: Path) -> None:
    class Settings:
        inventory = tmp_path / "lab.yml"

    assert network_variables(Settings(), lab_inventory()) == {}  # type: ignore[arg-type]


def test_a_provision_run_gets_the_network_variables_through_the_composition_root(config: Any, wired: None) -> None:
    values = extra_vars(config, PlaybookRequest(kind="provision"), 7)
    assert set(values["egov_network_rulesets"]) == {"mn-gw-1", "gd-gw-1", "hn-gw-1"}
    assert values["egov_network_hosts"]["mn-db-1"]["address"] == "10.198.11.14"


def test_with_nothing_provided_playbooks_get_no_network_variables(config: Any, wired: None) -> None:
    providers.provide()
    assert "egov_network_rulesets" not in extra_vars(config, PlaybookRequest(kind="provision"), 7)


# --- network_routes: what is missing on a host ------------------------

ADDRESSES = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever
2: eth0@if7    inet 10.198.0.51/24 brd 10.198.0.255 scope global eth0\\       valid_lft forever
3: eth1@if9    inet 10.198.50.51/24 brd 10.198.50.255 scope global eth1\\       valid_lft forever"""


def missing(addresses: str, routes: str) -> tuple[list[str], list[dict[str, str]]]:
    facts = task("network_routes", "network: legs missing and routes missing")["ansible.builtin.set_fact"]
    variables = role_variables(
        "network_routes",
        "gd-school-1",
        "school",
        {
            **playbook_variables(lab_network()),
            "network_routes_addresses": {"stdout_lines": addresses.splitlines()},
            "network_routes_live": {"stdout_lines": routes.splitlines()},
        },
    )
    return render(facts["network_routes_missing_legs"], variables), render(facts["network_routes_missing"], variables)


def test_a_cabled_host_without_its_route_gets_it() -> None:
    legs, routes = missing(ADDRESSES, "10.198.0.0/24 dev eth0 proto kernel scope link src 10.198.0.51")
    assert legs == [] and routes == [{"to": "10.198.0.0/16", "via": "10.198.50.1"}]


def test_a_host_with_its_route_needs_nothing() -> None:
    live = "10.198.0.0/16 via 10.198.50.1 dev eth1\n10.198.0.0/24 dev eth0 proto kernel scope link src 10.198.0.51"
    assert missing(ADDRESSES, live) == ([], [])


def test_a_route_through_another_gateway_is_missing_too() -> None:
    assert missing(ADDRESSES, "10.198.0.0/16 via 10.198.50.9 dev eth1")[1] == [
        {"to": "10.198.0.0/16", "via": "10.198.50.1"}
    ]


def test_a_host_without_its_leg_is_named() -> None:
    legs, _ = missing("\n".join(ADDRESSES.splitlines()[:2]), "")
    assert legs == ["eth1 10.198.50.51/24"]
