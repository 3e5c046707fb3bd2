"""Lab host and service names: strict checks before any path, netns or interface name."""

from __future__ import annotations

import pytest

from controlplane.errors import BadInputError
from controlplane.lab import names

HOSTILE = [
    "a;rm -rf /",
    "$(x)",
    "`id`",
    "../..",
    "..",
    ".",
    "a/b",
    "/etc",
    "mn-db-1\n",
    "mn-db-1\nreboot",
    "a b",
    "-rf",
    "a-",
    "a..b",
    ".a",
    "",
    "a" * 64,
    "a\x00b",
    "ümlaut",
    "a_b",
    "a|b",
    "a&b",
    "a>b",
    "'a'",
    None,
    42,
]


@pytest.mark.parametrize("name", ["mn-portal-1", "gd-school-1", "a", "A1", "web.lab.example", "x" * 63])
def test_plain_host_names_pass(name: str) -> None:
    assert names.validate_host_name(name) == name


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_host_names_are_refused(name: object) -> None:
    with pytest.raises(BadInputError, match="invalid lab host name"):
        names.validate_host_name(name)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_never_become_a_netns_name(name: object) -> None:
    with pytest.raises(BadInputError):
        names.netns_name(name)  # type: ignore[arg-type]


def test_netns_name_has_the_lab_prefix() -> None:
    assert names.netns_name("mn-db-1") == "egovlab-mn-db-1"


@pytest.mark.parametrize("name", ["sshd", "web", "portal-api", "pg_14", "nginx.v2"])
def test_service_names_pass(name: str) -> None:
    assert names.validate_service_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a/b", "Web", "-x", "", "a;b", "x\n", "a..b", "$(x)", None, "s" * 64])
def test_hostile_service_names_are_refused(name: object) -> None:
    with pytest.raises(BadInputError, match="invalid service name"):
        names.validate_service_name(name)


@pytest.mark.parametrize(
    ("offset", "expected"), [(1, "egov-v1"), (11, "egov-v11"), (254, "egov-v254"), (65534, "egov-v65534")]
)
def test_veth_names_come_from_the_offset_and_fit_ifnamsiz(offset: int, expected: str) -> None:
    assert names.veth_name(offset) == expected
    assert len(expected) <= names.IFNAMSIZ


@pytest.mark.parametrize("offset", [0, -1, 65535, True, "3"])
def test_veth_offset_out_of_range_is_refused(offset: object) -> None:
    with pytest.raises(BadInputError):
        names.veth_name(offset)  # type: ignore[arg-type]


def test_bridge_name_fits_ifnamsiz() -> None:
    assert len(names.BRIDGE) <= names.IFNAMSIZ


@pytest.mark.parametrize(("index", "expected"), [(0, "egov-z0"), (9, "egov-z9"), (999, "egov-z999")])
def test_zone_bridges_are_named_by_their_position(index: int, expected: str) -> None:
    assert names.zone_bridge_name(index) == expected


@pytest.mark.parametrize(
    ("index", "offset", "expected"), [(7, 51, "egov-z7-51"), (0, 2, "egov-z0-2"), (999, 65534, "egov-z999-65534")]
)
def test_zone_legs_name_their_zone_and_host_and_fit_ifnamsiz(index: int, offset: int, expected: str) -> None:
    assert names.leg_name(index, offset) == expected
    assert len(expected) <= names.IFNAMSIZ
    assert names.is_zone_link(expected) and names.is_zone_link(names.zone_bridge_name(index))


@pytest.mark.parametrize(("index", "offset"), [(1000, 1), (-1, 1), (True, 1), (1, 0), (1, 65535)])
def test_zone_numbers_out_of_range_are_refused(index: object, offset: object) -> None:
    with pytest.raises(BadInputError):
        names.leg_name(index, offset)  # type: ignore[arg-type]


@pytest.mark.parametrize("device", ["egov-br0", "egov-v11", "egov-z", "egov-z1-", "egov-zx", "eth0", "egov-z1-2-3"])
def test_other_interfaces_are_no_zone_links(device: str) -> None:
    assert not names.is_zone_link(device)
