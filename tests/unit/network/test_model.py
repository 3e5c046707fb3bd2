"""The network model answers placement, legs, routes, paths, selectors and flows from the shipped files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from controlplane.network.model import Zone, load_network, network_file
from tests.unit.network.shipped_network import SMALL_NETWORK, lab_inventory, lab_network, small_inventory

A = ipaddress.IPv4Address
N = ipaddress.IPv4Network


def test_zones_keep_the_file_order_and_place_members_by_role_site_and_host() -> None:
    model = lab_network()
    assert list(model.zones) == [
        "backbone", "dmz", "internal", "backup", "dr", "outside",
        "province-gd", "school-gd", "province-hn", "school-hn",
    ]  # fmt: skip
    assert model.zones["backbone"].members == ()
    assert model.zones["dmz"].members == ("mn-portal-1", "mn-portal-2")
    assert model.zones["internal"].members == ("mn-oa-1", "mn-db-1")
    assert model.zones["dr"].members == ("dr-app-1", "dr-backup-1")
    assert model.zones["outside"].external and model.zones["outside"].members == ("ext-probe-1",)


def test_sites_name_exact_sites_and_never_their_gateway() -> None:
    model = lab_network()
    assert model.zones["province-gd"].members == ("gd-edu-1",)
    assert model.zones["school-gd"].members == ("gd-school-1",)
    assert model.zone_of("gd-gw-1") is None


def test_gateways_are_the_routing_hosts_in_inventory_order() -> None:
    assert lab_network().gateways == ("mn-gw-1", "gd-gw-1", "hn-gw-1")


def test_management_is_every_host_on_the_management_subnet() -> None:
    model = lab_network()
    assert model.management.name == "management"
    assert model.management.subnet == N("10.198.0.0/24")
    assert model.management.members == tuple(host.name for host in lab_inventory().hosts)


def test_a_zone_address_is_the_zone_network_plus_the_management_host_number() -> None:
    model = lab_network()
    assert model.zone_address("gd-edu-1") == A("10.198.40.41")
    assert model.zone_address("mn-db-1") == A("10.198.11.14")
    assert model.zone_address("ext-probe-1") == A("10.198.90.91")
    assert model.zone_address("mn-gw-1") is None


def test_a_member_has_one_leg_eth1_in_its_zone() -> None:
    (leg,) = lab_network().legs("hn-school-1")
    assert (leg.host, leg.zone, leg.interface, leg.address, leg.prefixlen) == (
        "hn-school-1", "school-hn", "eth1", A("10.198.70.71"), 24,
    )  # fmt: skip


def test_a_gateway_has_a_leg_per_routed_zone_numbered_in_zones_order() -> None:
    legs = lab_network().legs("mn-gw-1")
    assert [(leg.interface, leg.zone, str(leg.address)) for leg in legs] == [
        ("eth1", "backbone", "10.198.1.1"),
        ("eth2", "dmz", "10.198.10.1"),
        ("eth3", "internal", "10.198.11.1"),
        ("eth4", "backup", "10.198.20.1"),
        ("eth5", "dr", "10.198.30.1"),
        ("eth6", "outside", "10.198.90.1"),
    ]
    assert [(leg.interface, leg.zone) for leg in lab_network().legs("gd-gw-1")] == [
        ("eth1", "backbone"), ("eth2", "province-gd"), ("eth3", "school-gd"),
    ]  # fmt: skip


def test_a_member_routes_the_address_space_through_its_zone_gateway() -> None:
    assert lab_network().routes("gd-school-1") == ((N("10.198.0.0/16"), A("10.198.50.1")),)
    assert lab_network().routes("mn-portal-2") == ((N("10.198.0.0/16"), A("10.198.10.1")),)


def test_a_gateway_routes_every_other_zone_via_the_neighbour_on_the_backbone() -> None:
    routes = {str(net): str(via) for net, via in lab_network().routes("gd-gw-1")}
    assert routes == {
        "10.198.10.0/24": "10.198.1.1", "10.198.11.0/24": "10.198.1.1", "10.198.20.0/24": "10.198.1.1",
        "10.198.30.0/24": "10.198.1.1", "10.198.90.0/24": "10.198.1.1",
        "10.198.60.0/24": "10.198.1.3", "10.198.70.0/24": "10.198.1.3",
    }  # fmt: skip
    assert {str(net) for net, _ in lab_network().routes("mn-gw-1")} == {
        "10.198.40.0/24", "10.198.50.0/24", "10.198.60.0/24", "10.198.70.0/24",
    }  # fmt: skip


def test_hosts_in_no_zone_have_no_legs_or_routes(tmp_path: Path) -> None:
    (tmp_path / "network.yml").write_text(SMALL_NETWORK.replace("members: {sites: [b]}", "members: {}"))
    model = load_network(tmp_path / "network.yml", small_inventory(tmp_path / "lab.yml"))
    assert model is not None
    assert model.legs("db-1") == () and model.routes("db-1") == () and model.zone_address("db-1") is None


def test_gateway_path_lists_the_gateways_crossed_in_order() -> None:
    model = lab_network()
    assert model.gateway_path("school-gd", "province-gd") == ("gd-gw-1",)
    assert model.gateway_path("school-gd", "internal") == ("gd-gw-1", "mn-gw-1")
    assert model.gateway_path("internal", "school-hn") == ("mn-gw-1", "hn-gw-1")
    assert model.gateway_path("school-hn", "province-gd") == ("hn-gw-1", "gd-gw-1")
    assert model.gateway_path("dmz", "internal") == ("mn-gw-1",)


def test_no_gateway_is_crossed_within_a_zone_or_on_the_management_network() -> None:
    model = lab_network()
    assert model.gateway_path("dr", "dr") == ()
    assert model.gateway_path("management", "school-gd") == ()
    with pytest.raises(KeyError):
        model.gateway_path("dmz", "nowhere")


def test_selectors_name_zone_members_in_inventory_order() -> None:
    model = lab_network()
    assert model.hosts_of("role:portal") == ("mn-portal-1", "mn-portal-2")
    assert model.hosts_of("role:backup") == ("bc-backup-1", "dr-backup-1")
    assert model.hosts_of("site:province-hn") == ("hn-edu-1",)
    assert model.hosts_of("zone:outside") == ("ext-probe-1",)
    assert model.hosts_of("host:mn-db-1") == ("mn-db-1",)
    assert model.hosts_of("site:ministry") == ("mn-portal-1", "mn-portal-2", "mn-oa-1", "mn-db-1", "ext-probe-1")


def test_all_is_every_zone_member_but_the_external_ones() -> None:
    everyone = lab_network().hosts_of("all")
    assert "ext-probe-1" not in everyone
    assert not set(everyone) & {"mn-gw-1", "gd-gw-1", "hn-gw-1"}
    assert len(everyone) == 11


def test_management_names_every_host() -> None:
    assert lab_network().hosts_of("management") == lab_network().management.members


@pytest.mark.parametrize(
    ("source", "destination", "protocol", "port", "flow"),
    [
        ("controlplane", "ext-probe-1", "tcp", 22, "management-ssh"),
        ("controlplane", "gd-school-1", "icmp", None, "management-ssh"),
        ("controlplane", "gd-gw-1", "tcp", 22, None),
        ("gd-school-1", "gd-edu-1", "tcp", 443, "school-gd-province"),
        ("gd-school-1", "hn-edu-1", "tcp", 443, None),
        ("gd-school-1", "mn-oa-1", "tcp", 443, None),
        ("gd-school-1", "bc-backup-1", "tcp", 22, "backup-sftp"),
        ("ext-probe-1", "bc-backup-1", "tcp", 22, None),
        ("ext-probe-1", "mn-portal-2", "tcp", 443, "public-web"),
        ("mn-portal-1", "mn-db-1", "tcp", 5432, "portal-database"),
        ("mn-oa-1", "mn-db-1", "tcp", 5432, None),
        ("mn-portal-1", "mn-db-1", "icmp", None, None),
        ("gd-edu-1", "mn-oa-1", "tcp", 22, None),
        ("mn-oa-1", "gd-edu-1", "tcp", 22, None),
    ],
)
def test_allowing_flow_names_the_first_flow_that_allows_a_connection(
    source: str, destination: str, protocol: str, port: int | None, flow: str | None
) -> None:
    found = lab_network().allowing_flow(source, destination, protocol, port)
    assert (found.id if found else None) == flow


def test_a_zone_host_is_not_the_control_plane_for_management_flows() -> None:
    assert lab_network().allowing_flow("gd-edu-1", "mn-db-1", "tcp", 22) is None


def test_the_flow_file_sits_next_to_the_inventory(tmp_path: Path) -> None:
    class Settings:
        inventory = tmp_path / "inventory" / "site.yml"

    assert network_file(Settings()) == tmp_path / "inventory" / "network.yml"  # type: ignore[arg-type]


def test_without_a_flow_file_there_is_no_network_model(tmp_path: Path) -> None:
    assert load_network(tmp_path / "network.yml", small_inventory(tmp_path / "lab.yml")) is None


def test_the_first_router_is_the_gateway_members_use() -> None:
    zone = lab_network().zones["backbone"]
    assert zone.gateway == ("mn-gw-1", A("10.198.1.1"))
    assert Zone("x", "x", N("10.0.0.0/24"), {}, ()).gateway is None
