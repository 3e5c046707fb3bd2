"""Cabling the data plane: the exact commands `lab up`, `fault isolate/heal` and `lab down` run (nothing executed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controlplane import execute
from controlplane.inventory import load_inventory
from controlplane.lab import cabling, probe
from controlplane.lab.spec import LabSpec, build_spec
from controlplane.network.model import load_network
from tests.unit.lab.lab_helpers import config

REPO = Path(__file__).resolve().parents[3]


class Machine:
    """A fake /sys/class/net holding ``links`` (name -> alias); records every command and /proc write, runs none."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, links: dict[str, str] | set[str]) -> None:
        self.net = tmp_path / "sys-class-net"
        self.net.mkdir()
        for link in links:
            (self.net / link).mkdir()
            if isinstance(links, dict):
                (self.net / link / "ifalias").write_text(links[link] + "\n", encoding="utf-8")
        self.commands: list[list[str]] = []
        self.writes: list[tuple[str, str]] = []
        self.fences: list[str] = []  # what `ip -j -4 route show proto 198` lists
        monkeypatch.setattr(probe, "SYS_NET", self.net)
        monkeypatch.setattr(execute, "run", self.run)
        monkeypatch.setattr(cabling, "write_proc", lambda path, value: self.writes.append((path, value)))

    @property
    def links(self) -> set[str]:
        return {entry.name for entry in self.net.iterdir()}

    def run(self, argv: list[str], **_: object) -> execute.ProcessResult:
        self.commands.append(list(argv))
        if argv == ["ip", "-j", "-4", "route", "show", "proto", "198"]:
            routes = [{"type": "unreachable", "dst": dst, "protocol": "198", "flags": []} for dst in self.fences]
            return execute.ProcessResult(argv=argv, exit_code=0, outcome=execute.Outcome.OK, stdout=json.dumps(routes))
        if argv[:3] == ["ip", "link", "delete"]:
            shutil.rmtree(self.net / argv[-1])
        elif argv[:4] == ["ip", "link", "add", "name"]:
            (self.net / argv[4]).mkdir()
        elif argv[:3] == ["ip", "link", "set"] and argv[5] == "alias":
            (self.net / argv[4] / "ifalias").write_text(argv[6] + "\n", encoding="utf-8")
        return execute.ProcessResult(argv=list(argv), exit_code=0, outcome=execute.Outcome.OK)


@pytest.fixture
def spec(tmp_path: Path) -> LabSpec:
    shipped = load_inventory(REPO / "inventory" / "lab.yml")
    return build_spec(config(tmp_path), shipped, load_network(REPO / "inventory" / "network.yml", shipped))


def test_a_new_school_host_gets_its_leg_sysctls_address_and_route(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    machine = Machine(monkeypatch, tmp_path, set())
    cabling.ensure_legs(spec, spec.host("gd-school-1"))
    ns = "egovlab-gd-school-1"
    assert machine.commands == [
        ["ip", "link", "add", "name", "egov-z7-51", "type", "veth", "peer", "name", "eth1", "netns", ns],
        ["ip", "link", "set", "dev", "egov-z7-51", "alias", "egov-lab leg gd-school-1 eth1 10.198.50.51/24 school-gd"],
        ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.eth1.disable_ipv6=1"],
        ["ip", "-n", ns, "addr", "replace", "10.198.50.51/24", "dev", "eth1"],
        ["ip", "link", "set", "dev", "egov-z7-51", "master", "egov-z7", "up"],
        ["ip", "-n", ns, "link", "set", "dev", "eth1", "up"],
        ["ip", "-n", ns, "route", "replace", "10.198.0.0/16", "via", "10.198.50.1", "dev", "eth1"],
    ]
    assert machine.writes == [("/proc/sys/net/ipv6/conf/egov-z7-51/disable_ipv6", "1")]


def test_a_gateway_forwards_inside_its_namespace_and_routes_other_zones_via_the_backbone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    legs = {"egov-z0-3": "egov-lab leg gd-gw-1 eth1 10.198.1.2/24 backbone",
            "egov-z6-3": "egov-lab leg gd-gw-1 eth2 10.198.40.1/24 province-gd",
            "egov-z7-3": "egov-lab leg gd-gw-1 eth3 10.198.50.1/24 school-gd"}  # fmt: skip
    machine = Machine(monkeypatch, tmp_path, legs)  # a second up: the legs exist
    cabling.ensure_legs(spec, spec.host("gd-gw-1"))
    ns = "egovlab-gd-gw-1"
    assert not any(argv[:3] in (["ip", "link", "add"], ["ip", "link", "delete"]) for argv in machine.commands)
    assert machine.commands[0] == [
        "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.conf.eth0.forwarding=0",
        "net.ipv6.conf.eth1.disable_ipv6=1", "net.ipv6.conf.eth2.disable_ipv6=1", "net.ipv6.conf.eth3.disable_ipv6=1",
    ]  # fmt: skip
    routes = [argv[5:] for argv in machine.commands if argv[3:5] == ["route", "replace"]]
    assert routes == [
        ["10.198.10.0/24", "via", "10.198.1.1", "dev", "eth1"], ["10.198.11.0/24", "via", "10.198.1.1", "dev", "eth1"],
        ["10.198.20.0/24", "via", "10.198.1.1", "dev", "eth1"], ["10.198.30.0/24", "via", "10.198.1.1", "dev", "eth1"],
        ["10.198.90.0/24", "via", "10.198.1.1", "dev", "eth1"], ["10.198.60.0/24", "via", "10.198.1.3", "dev", "eth1"],
        ["10.198.70.0/24", "via", "10.198.1.3", "dev", "eth1"],
    ]  # fmt: skip
    assert all("default" not in argv and "0.0.0.0/0" not in argv for argv in machine.commands)
    assert machine.writes == []


def test_bridges_are_made_without_an_address_of_the_machines_and_stale_zone_links_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    machine = Machine(monkeypatch, tmp_path, {"egov-z12", "egov-z12-41", "egov-z0", "egov-br0", "egov-v41"})
    assert spec.plane is not None
    cabling.ensure_bridges(spec.plane)
    assert machine.commands[:2] == [
        ["ip", "link", "delete", "dev", "egov-z12-41"],
        ["ip", "link", "delete", "dev", "egov-z12"],
    ]
    assert ["ip", "link", "add", "name", "egov-z0", "type", "bridge", "stp_state", "0"] not in machine.commands
    assert machine.commands[2:6] == [
        ["ip", "link", "set", "dev", "egov-z0", "alias", "egov-lab zone backbone 10.198.1.0/24"],
        ["ip", "addr", "flush", "dev", "egov-z0"],
        ["ip", "link", "set", "dev", "egov-z0", "up"],
        ["ip", "link", "add", "name", "egov-z1", "type", "bridge", "stp_state", "0"],
    ]
    assert ("/proc/sys/net/ipv4/conf/egov-z9/arp_ignore", "8") in machine.writes
    assert ("/proc/sys/net/ipv6/conf/egov-z9/disable_ipv6", "1") in machine.writes
    assert {"egov-br0", "egov-v41"} <= machine.links  # the management plane is not the cabling's


def test_isolate_cuts_every_leg_and_heal_plugs_each_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    machine = Machine(monkeypatch, tmp_path, set())
    cabling.cut(spec, spec.host("hn-gw-1"))
    assert machine.commands == [
        ["ip", "link", "set", "dev", device, "down"] for device in ("egov-v4", "egov-z0-4", "egov-z8-4", "egov-z9-4")
    ]
    machine.commands.clear()
    cabling.heal(spec, spec.host("hn-gw-1"))
    assert machine.commands == [
        ["ip", "link", "set", "dev", "egov-v4", "master", "egov-br0", "up"],
        ["ip", "link", "set", "dev", "egov-z0-4", "master", "egov-z0", "up"],
        ["ip", "link", "set", "dev", "egov-z8-4", "master", "egov-z8", "up"],
        ["ip", "link", "set", "dev", "egov-z9-4", "master", "egov-z9", "up"],
    ]


def test_down_removes_legs_before_bridges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    machine = Machine(monkeypatch, tmp_path, {"egov-z1", "egov-z1-11", "egov-z0", "egov-z0-2"})
    assert cabling.remove_links() == ["egov-z0-2", "egov-z1-11", "egov-z0", "egov-z1"]
    assert machine.links == set()


def test_a_flat_lab_has_no_legs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    machine = Machine(monkeypatch, tmp_path, set())
    flat = build_spec(config(tmp_path), load_inventory(REPO / "inventory" / "lab.yml"))
    cabling.ensure_legs(flat, flat.host("gd-school-1"))
    cabling.cut(flat, flat.host("gd-school-1"))
    assert machine.commands == [["ip", "link", "set", "dev", "egov-v51", "down"]]
    assert cabling.zone_states(flat) == []


def test_a_leg_cabled_for_another_interface_is_made_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    legs = {"egov-z0-3": "egov-lab leg gd-gw-1 eth1 10.198.1.2/24 backbone",
            "egov-z6-3": "egov-lab leg gd-gw-1 eth3 10.198.40.1/24 province-gd",  # network.yml changed since
            "egov-z7-3": "egov-lab leg gd-gw-1 eth3 10.198.50.1/24 school-gd"}  # fmt: skip
    machine = Machine(monkeypatch, tmp_path, legs)
    cabling.ensure_legs(spec, spec.host("gd-gw-1"))
    assert machine.commands[:3] == [
        ["ip", "link", "delete", "dev", "egov-z6-3"],
        ["ip", "link", "add", "name", "egov-z6-3", "type", "veth", "peer", "name", "eth2", "netns", "egovlab-gd-gw-1"],
        ["ip", "link", "set", "dev", "egov-z6-3", "alias", "egov-lab leg gd-gw-1 eth2 10.198.40.1/24 province-gd"],
    ]
    assert not any(argv[:3] == ["ip", "link", "delete"] for argv in machine.commands[1:])


def test_the_machine_fences_the_address_space_off_its_default_route_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    machine = Machine(monkeypatch, tmp_path, set())
    cabling.ensure_fence(spec.plane)
    assert machine.commands[1:] == [["ip", "route", "replace", "unreachable", "10.198.0.0/16", "proto", "198"]]
    machine.fences, machine.commands = ["10.198.0.0/16"], []
    cabling.ensure_fence(spec.plane)
    assert machine.commands == [["ip", "-j", "-4", "route", "show", "proto", "198"]]  # a second up: only a look


def test_a_fence_no_longer_wanted_goes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec) -> None:
    machine = Machine(monkeypatch, tmp_path, set())
    machine.fences = ["10.199.0.0/16"]
    cabling.ensure_fence(spec.plane)
    assert machine.commands[1:] == [
        ["ip", "route", "delete", "unreachable", "10.199.0.0/16", "proto", "198"],
        ["ip", "route", "replace", "unreachable", "10.198.0.0/16", "proto", "198"],
    ]
    machine.fences, machine.commands = ["10.198.0.0/16"], []
    cabling.remove_fence()  # lab down, from what the machine lists
    assert machine.commands[1:] == [["ip", "route", "delete", "unreachable", "10.198.0.0/16", "proto", "198"]]


def test_the_guard_covers_planned_zone_bridges_and_any_other_on_the_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: LabSpec
) -> None:
    Machine(monkeypatch, tmp_path, {"egov-z3", "egov-z3-21", "egov-z12", "egov-br0", "egov-v21"})
    assert spec.plane is not None
    assert cabling.guarded_bridges(spec.plane) == (*spec.plane.bridge_names, "egov-z12")
    assert cabling.guarded_bridges(None) == ("egov-z12", "egov-z3")  # a spec without zones still guards them
