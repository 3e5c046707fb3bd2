"""The lab spec: every address inside the private lab subnet, every name and folder checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import BadInputError, ConfigError
from controlplane.inventory import load_inventory
from controlplane.lab.spec import build_spec, check_path, hidden_paths
from tests.unit.lab.lab_helpers import config, inventory

REPO = Path(__file__).resolve().parents[3]


def test_the_default_lab_inventory_makes_fifteen_hosts(tmp_path: Path) -> None:
    spec = build_spec(config(tmp_path), load_inventory(REPO / "inventory" / "lab.yml"))
    assert len(spec.hosts) == 15
    db = spec.host("mn-db-1")
    assert (db.address, db.offset, db.netns, db.veth) == ("10.198.0.14", 14, "egovlab-mn-db-1", "egov-v14")
    assert db.folder == (tmp_path / "var/lab/hosts/mn-db-1").resolve()
    assert spec.cidr(db) == "10.198.0.14/24"
    assert spec.gateway_cidr == "10.198.0.1/24"
    assert spec.portal_vip == "10.198.0.100"
    assert spec.bridge == "egov-br0"
    assert len({h.veth for h in spec.hosts}) == 15
    assert spec.plane is None  # no network model given: the flat lab


def test_unknown_and_hostile_host_lookups_are_bad_input(tmp_path: Path) -> None:
    spec = build_spec(config(tmp_path), inventory([("a", "10.198.0.5")]))
    with pytest.raises(BadInputError, match="unknown lab host"):
        spec.host("b")
    with pytest.raises(BadInputError, match="invalid lab host name"):
        spec.host("../a")


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("192.168.1.5", "not a free host address"),
        ("10.198.0.0", "not a free host address"),
        ("10.198.0.255", "not a free host address"),
        ("10.198.0.1", "not a free host address"),
        ("10.198.0.100", "not a free host address"),
        ("lab-host.example", "not an IPv4 address"),
    ],
)
def test_addresses_outside_the_lab_are_refused(tmp_path: Path, address: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_spec(config(tmp_path), inventory([("a", address)]))


def test_duplicate_addresses_and_every_problem_are_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_spec(config(tmp_path), inventory([("a", "10.198.0.5"), ("b", "10.198.0.5"), ("c", "8.8.8.8")]))
    assert "also used by a" in caught.value.message
    assert "8.8.8.8" in caught.value.message


@pytest.mark.parametrize("subnet", ["8.8.8.0/24", "127.0.0.0/8", "10.0.0.0/8", "10.198.0.0/30", "10.198.0.1/24", "x"])
def test_the_subnet_must_be_a_sensible_private_network(tmp_path: Path, subnet: str) -> None:
    with pytest.raises(ConfigError, match="lab_subnet"):
        build_spec(config(tmp_path), inventory([("a", "10.198.0.5")], lab_subnet=subnet))


def test_a_missing_subnet_is_a_config_error(tmp_path: Path) -> None:
    inv = inventory([("a", "10.198.0.5")])
    del inv.variables["lab_subnet"]
    with pytest.raises(ConfigError, match="needs lab_subnet"):
        build_spec(config(tmp_path), inv)


def test_a_gateway_outside_the_subnet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lab_gateway"):
        build_spec(config(tmp_path), inventory([("a", "10.198.0.5")], lab_gateway="10.199.0.1"))


def test_a_hostile_inventory_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid lab host name"):
        build_spec(config(tmp_path), inventory([("a_b", "10.198.0.5")]))


@pytest.mark.parametrize("folder", ["/tmp/a,upperdir=/", "/tmp/a:b", "/tmp/a b", "/tmp/a%d", "relative/x", "/tmp/a\nb"])
def test_folders_that_could_break_mount_or_ssh_options_are_refused(folder: str) -> None:
    with pytest.raises(BadInputError):
        check_path(Path(folder), "lab folder")


def test_the_state_folder_and_outside_keys_are_hidden_from_hosts(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert hidden_paths(cfg) == ((tmp_path / "var").resolve(),)
    cfg.ssh_key_file = tmp_path / "keys/id"
    assert hidden_paths(cfg) == ((tmp_path / "var").resolve(), (tmp_path / "keys/id").resolve())


def test_a_system_folder_is_never_hidden(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.state_dir = Path("/var")
    cfg.ssh_key_file = Path("/var/lab/id")
    cfg.key_file = Path("/var/master.key")
    assert hidden_paths(cfg) == ()
