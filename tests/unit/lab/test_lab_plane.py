"""The data plane's plan: bridges, legs, routes and forwarding from the network model, checked before any command."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from types import SimpleNamespace

import pytest

from controlplane.errors import ConfigError
from controlplane.inventory import Host, load_inventory
from controlplane.lab.plane import DataPlane, HostPlane, LegSpec, RouteSpec, ZoneBridge
from controlplane.lab.spec import build_spec
from controlplane.network.model import NetworkModel, build_model, load_network
from tests.unit.lab.lab_helpers import LAB_VARS, config

REPO = Path(__file__).resolve().parents[3]
Net, Addr = ipaddress.IPv4Network, ipaddress.IPv4Address

# Two zones behind one gateway each, joined by a backbone: the smallest network with a route via a neighbour.
DOCUMENT = {
    "address_space": "10.198.0.0/16",
    "management": {"subnet": "10.198.0.0/24"},
    "zones": {
        "backbone": {"subnet": "10.198.1.0/24", "routers": {"gw-a": "10.198.1.1", "gw-b": "10.198.1.2"}},
        "a": {"subnet": "10.198.10.0/24", "routers": {"gw-a": "10.198.10.1"}, "members": {"sites": ["site-a"]}},
        "b": {"subnet": "10.198.20.0/24", "routers": {"gw-b": "10.198.20.1"}, "members": {"sites": ["site-b"]}},
    },
    "flows": [],
}
HOSTS = [
    Host(name="gw-a", address="10.198.0.2", site="site-a", role="gateway"),
    Host(name="gw-b", address="10.198.0.3", site="site-b", role="gateway"),
    Host(name="a-1", address="10.198.0.11", site="site-a", role="office"),
    Host(name="b-1", address="10.198.0.21", site="site-b", role="school"),
]


def inventory() -> SimpleNamespace:
    return SimpleNamespace(source=Path("lab.yml"), hosts=HOSTS, variables=dict(LAB_VARS))


def model(**changes: object) -> NetworkModel:
    built = build_model(DOCUMENT, inventory(), Path("network.yml"))  # type: ignore[arg-type]
    return dataclasses.replace(built, **changes)  # type: ignore[arg-type]


def plane_of(tmp_path: Path, network: NetworkModel | None = None) -> DataPlane:
    spec = build_spec(config(tmp_path), inventory(), network or model())  # type: ignore[arg-type]
    assert spec.plane is not None
    return spec.plane


def test_each_zone_gets_a_bridge_named_by_its_position(tmp_path: Path) -> None:
    assert plane_of(tmp_path).bridges == (
        ZoneBridge("backbone", "egov-z0", Net("10.198.1.0/24")),
        ZoneBridge("a", "egov-z1", Net("10.198.10.0/24")),
        ZoneBridge("b", "egov-z2", Net("10.198.20.0/24")),
    )
    assert ZoneBridge("a", "egov-z1", Net("10.198.10.0/24")).alias == "egov-lab zone a 10.198.10.0/24"


def test_a_member_has_one_leg_numbered_like_its_management_address_and_routes_the_lab_via_its_gateway(
    tmp_path: Path,
) -> None:
    assert plane_of(tmp_path).host("a-1") == HostPlane(
        legs=(LegSpec("a", "egov-z1", "egov-z1-11", "eth1", Addr("10.198.10.11"), 24),),
        routes=(RouteSpec(Net("10.198.0.0/16"), Addr("10.198.10.1"), "eth1"),),
        forwarding=False,
    )
    assert plane_of(tmp_path).host("a-1").legs[0].cidr == "10.198.10.11/24"


def test_a_gateway_has_a_leg_per_zone_it_routes_and_reaches_the_others_via_its_neighbour(tmp_path: Path) -> None:
    assert plane_of(tmp_path).host("gw-a") == HostPlane(
        legs=(
            LegSpec("backbone", "egov-z0", "egov-z0-2", "eth1", Addr("10.198.1.1"), 24),
            LegSpec("a", "egov-z1", "egov-z1-2", "eth2", Addr("10.198.10.1"), 24),
        ),
        routes=(RouteSpec(Net("10.198.20.0/24"), Addr("10.198.1.2"), "eth1"),),
        forwarding=True,
    )


def test_only_gateways_forward_and_never_from_their_management_leg(tmp_path: Path) -> None:
    plane = plane_of(tmp_path)
    assert plane.host("gw-a").sysctls() == (
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.eth0.forwarding", "0"),
        ("net.ipv6.conf.eth1.disable_ipv6", "1"),
        ("net.ipv6.conf.eth2.disable_ipv6", "1"),
    )
    assert plane.host("b-1").sysctls() == (("net.ipv4.ip_forward", "0"), ("net.ipv6.conf.eth1.disable_ipv6", "1"))
    assert plane.host("not-in-any-zone") == HostPlane()
    assert HostPlane().sysctls() == ()  # a host without legs keeps what it had


def test_the_plane_owns_its_bridges_and_legs_by_name(tmp_path: Path) -> None:
    assert plane_of(tmp_path).links() == {
        "egov-z0", "egov-z1", "egov-z2", "egov-z0-2", "egov-z1-2", "egov-z0-3", "egov-z2-3", "egov-z1-11", "egov-z2-21",
    }  # fmt: skip


def test_the_shipped_network_cables_fifteen_hosts_in_ten_zones(tmp_path: Path) -> None:
    shipped = load_inventory(REPO / "inventory" / "lab.yml")
    spec = build_spec(config(tmp_path), shipped, load_network(REPO / "inventory" / "network.yml", shipped))
    assert spec.plane is not None
    assert len(spec.plane.bridges) == 10
    school = spec.plane.host("gd-school-1")
    assert [(leg.veth, leg.interface, leg.cidr) for leg in school.legs] == [("egov-z7-51", "eth1", "10.198.50.51/24")]
    assert school.routes == (RouteSpec(Net("10.198.0.0/16"), Addr("10.198.50.1"), "eth1"),)
    gd_gw = spec.plane.host("gd-gw-1")
    assert [(leg.zone, leg.interface, leg.cidr) for leg in gd_gw.legs] == [
        ("backbone", "eth1", "10.198.1.2/24"), ("province-gd", "eth2", "10.198.40.1/24"),
        ("school-gd", "eth3", "10.198.50.1/24"),
    ]  # fmt: skip
    assert RouteSpec(Net("10.198.20.0/24"), Addr("10.198.1.1"), "eth1") in gd_gw.routes
    assert len(spec.plane.host("mn-gw-1").legs) == 6
    assert all(len(name) <= 15 for name in spec.plane.links())


def test_a_public_or_default_address_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plane_of(tmp_path, model(address_space=Net("0.0.0.0/0")))
    keys = [key for key, _ in caught.value.problems]
    assert "address_space" in keys
    assert "hosts.a-1.routes" in keys  # and no host would get a default route


def test_a_zone_outside_the_address_space_or_on_the_management_subnet_is_refused(tmp_path: Path) -> None:
    bad = model()
    zones = dict(bad.zones)
    zones["a"] = dataclasses.replace(zones["a"], subnet=Net("192.0.2.0/24"))
    zones["b"] = dataclasses.replace(zones["b"], subnet=Net("10.198.0.0/25"))
    with pytest.raises(ConfigError) as caught:
        plane_of(tmp_path, dataclasses.replace(bad, zones=zones))
    keys = [key for key, _ in caught.value.problems]
    assert keys.count("zones.a.subnet") == 1 and keys.count("zones.b.subnet") == 1


def test_a_management_subnet_other_than_the_lab_subnet_is_refused(tmp_path: Path) -> None:
    other = dataclasses.replace(model().management, subnet=Net("10.198.2.0/24"))
    with pytest.raises(ConfigError) as caught:
        plane_of(tmp_path, model(management=other))
    assert caught.value.problems[0] == ("management.subnet", "10.198.2.0/24 is not the lab subnet 10.198.0.0/24")


def test_without_a_network_model_the_lab_is_flat(tmp_path: Path) -> None:
    assert build_spec(config(tmp_path), inventory()).plane is None  # type: ignore[arg-type]
