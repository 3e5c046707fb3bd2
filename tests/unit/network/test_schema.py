"""The flow file is validated as a whole: every problem at once, with the file and key path (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controlplane.errors import EXIT_BAD_INPUT, ConfigError
from controlplane.network.model import load_network
from controlplane.network.schema import SCHEMA, validate
from tests.unit.network.shipped_network import NETWORK_FILE, SMALL_NETWORK, lab_inventory, small_inventory


def problems_of(text: str, tmp_path: Path) -> list[tuple[str, str]]:
    return validate(yaml.safe_load(text), small_inventory(tmp_path / "lab.yml"))


def test_the_shipped_flow_file_is_valid_for_the_shipped_lab() -> None:
    assert validate(yaml.safe_load(NETWORK_FILE.read_text()), lab_inventory()) == []


def test_the_small_network_is_valid(tmp_path: Path) -> None:
    assert problems_of(SMALL_NETWORK, tmp_path) == []


def test_every_problem_is_reported_at_once_with_file_and_key_path(tmp_path: Path) -> None:
    broken = (
        SMALL_NETWORK.replace("members: {sites: [b]}", "members: {sites: [b, nowhere], roles: [web]}")
        .replace("gw-2: 10.9.20.1", "gw-2: 10.9.21.1")
        .replace("tcp: [5432]", "tcp: [0, 5432]")
        .replace("to: zone:data", "to: [zone:data, zone:nowhere, host:gw-1]")
    )
    path = tmp_path / "network.yml"
    path.write_text(broken)
    with pytest.raises(ConfigError) as caught:
        load_network(path, small_inventory(tmp_path / "lab.yml"))
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert caught.value.source == str(path)
    assert sorted(caught.value.problems) == [
        ("flows[0].tcp[0]", "0 is less than the minimum of 1"),
        ("flows[0].to[1]", "unknown zone 'nowhere'"),
        ("flows[0].to[2]", "gateways are not flow endpoints (they are managed over the management network)"),
        ("zones.data.members", "host 'web-1' is already in zone 'web'"),
        ("zones.data.members.sites[1]", f"unknown site 'nowhere' (not in {tmp_path / 'lab.yml'})"),
        ("zones.data.routers.gw-2", "10.9.21.1 is not a host address of the zone's subnet 10.9.20.0/24"),
    ]
    assert f"{path}: zones.data.members: host 'web-1' is already in zone 'web'" in caught.value.message


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("subnet: 10.9.20.0/24", "subnet: 10.9.1.128/25", "zones.data.subnet", "overlaps 10.9.1.0/24"),
        ("subnet: 10.9.20.0/24", "subnet: 10.10.20.0/24", "zones.data.subnet", "outside address_space"),
        ("subnet: 10.9.20.0/24", "subnet: 10.9.20.1/24", "zones.data.subnet", "has host bits set"),
        ("gw-1: 10.9.10.1}", "web-1: 10.9.10.1}", "zones.web.routers.web-1", "role 'web', not gateway"),
        ("gw-1: 10.9.10.1}", "gw-9: 10.9.10.1}", "zones.web.routers.gw-9", "unknown host 'gw-9'"),
        ("gw-1: 10.9.10.1}", "gw-1: 10.9.10.11}", "zones.web.members", "zone address 10.9.10.11 is a router's"),
        ("gw-1: 10.9.10.1}", "gw-1: 10.9.10.0}", "zones.web.routers.gw-1", "not a host address"),
        ("routers: {gw-2: 10.9.20.1}", "routers: {}", "zones.data.routers", "needs a router"),
        ("gw-1: 10.9.1.1, gw-2: 10.9.1.2", "gw-1: 10.9.1.1", "zones.data.routers", "no gateway connects zone 'data'"),
        ("roles: [web]", "roles: [gateway]", "zones.web.members.roles[0]", "gateways are not zone members"),
        ("subnet: 10.9.20.0/24", "subnet: 10.9.20.0/29", "zones.data.members", "does not fit the zone's subnet"),
        ("from: role:web", "from: role:nobody", "flows[0].from", "unknown role 'nobody'"),
        ("from: role:web", "from: role:gateway", "flows[0].from", "gateways are not flow endpoints"),
        ("from: role:web", "from: host:nobody", "flows[0].from", "unknown host 'nobody'"),
        ("from: role:web", "from: site:nowhere", "flows[0].from", "unknown site 'nowhere'"),
        ("reason: the web", 'reason: the "web"', "flows[0].reason", "is not valid"),
        ("tcp: [5432]", "tcp: [65536]", "flows[0].tcp[0]", "maximum of 65535"),
        ("tcp: [5432]", "tcp: [5432, 5432]", "flows[0].tcp", "non-unique"),
        ("id: web-db", "id: Web DB", "flows[0].id", "is not valid"),
        ("from: role:web", "from: 'zone:$(reboot)'", "flows[0].from", "is not valid"),
        ("  data: {", "  Data Zone: {", "zones", "does not match"),
        ("  data: {", "  management: {", "zones", "does not match"),
        ("sample_ports: [22]", "sample_ports: [22]\ncolour: blue", "", "'colour' was unexpected"),
    ],
)
def test_each_problem_is_found_where_it_is(old: str, new: str, where: str, message: str, tmp_path: Path) -> None:
    text = SMALL_NETWORK.replace(old, new, 1)
    assert text != SMALL_NETWORK
    problems = problems_of(text, tmp_path)
    assert any(path == where and message in text_ for path, text_ in problems), problems


def test_a_flow_needs_a_protocol(tmp_path: Path) -> None:
    text = SMALL_NETWORK.replace("    tcp: [5432]\n    icmp: true\n", "")
    assert [path for path, _ in problems_of(text, tmp_path)] == ["flows[0]"]


def test_a_duplicate_flow_id_names_both(tmp_path: Path) -> None:
    flow = SMALL_NETWORK[SMALL_NETWORK.index("  - id: web-db") :]
    assert ("flows[1].id", "duplicate flow id 'web-db' (also flows[0])") in problems_of(SMALL_NETWORK + flow, tmp_path)


def test_a_selector_naming_only_hosts_in_no_zone_is_refused(tmp_path: Path) -> None:
    text = SMALL_NETWORK.replace("members: {sites: [b]}", "members: {}")
    text = text.replace("to: zone:data", "to: [host:db-1, role:database, site:b]")
    assert [(path, message) for path, message in problems_of(text, tmp_path)] == [
        ("flows[0].to[0]", "host 'db-1' is in no zone"),
        ("flows[0].to[1]", "role 'database' names no host in a zone"),
        ("flows[0].to[2]", "site 'b' names no host in a zone"),
    ]


def test_a_file_that_is_not_a_mapping_is_one_problem(tmp_path: Path) -> None:
    assert problems_of("- just\n- a list\n", tmp_path) == [("", "['just', 'a list'] is not of type 'object'")]


def test_every_key_of_the_schema_is_described() -> None:
    def undescribed(node: object, where: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            typed = node.get("type") in ("object", "array", "string") and "description" not in node
            if typed and not where.endswith("items") and "propertyNames" not in where:
                found.append(where)
            for key, value in node.items():
                found += undescribed(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found += undescribed(value, f"{where}[{index}]")
        return found

    assert undescribed(SCHEMA["properties"], "") == []
