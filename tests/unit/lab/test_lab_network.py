"""Command builders of the lab, tested by their exact argv."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from controlplane.lab import caps, network


def test_netns_commands() -> None:
    assert network.netns_add("egovlab-mn-db-1") == ["ip", "netns", "add", "egovlab-mn-db-1"]
    assert network.netns_delete("egovlab-mn-db-1") == ["ip", "netns", "delete", "egovlab-mn-db-1"]


def test_bridge_commands() -> None:
    assert network.bridge_add("egov-br0") == [
        "ip",
        "link",
        "add",
        "name",
        "egov-br0",
        "type",
        "bridge",
        "stp_state",
        "0",
    ]
    assert network.link_alias("egov-br0", "egov-lab /x") == [
        "ip",
        "link",
        "set",
        "dev",
        "egov-br0",
        "alias",
        "egov-lab /x",
    ]
    assert network.addr_replace("egov-br0", "10.198.0.1/24") == [
        "ip",
        "addr",
        "replace",
        "10.198.0.1/24",
        "dev",
        "egov-br0",
    ]
    assert network.link_up("egov-br0") == ["ip", "link", "set", "dev", "egov-br0", "up"]


def test_host_link_commands() -> None:
    assert network.veth_add("egov-v14", "egovlab-mn-db-1") == [
        "ip", "link", "add", "name", "egov-v14", "type", "veth", "peer", "name", "eth0", "netns", "egovlab-mn-db-1",
    ]  # fmt: skip
    assert network.link_attach("egov-v14", "egov-br0") == [
        "ip",
        "link",
        "set",
        "dev",
        "egov-v14",
        "master",
        "egov-br0",
        "up",
    ]
    assert network.link_down("egov-v14") == ["ip", "link", "set", "dev", "egov-v14", "down"]
    assert network.link_delete("egov-v14") == ["ip", "link", "delete", "dev", "egov-v14"]


def test_commands_inside_a_namespace_use_ip_n() -> None:
    assert network.addr_replace("eth0", "10.198.0.14/24", "egovlab-mn-db-1") == [
        "ip", "-n", "egovlab-mn-db-1", "addr", "replace", "10.198.0.14/24", "dev", "eth0",
    ]  # fmt: skip
    assert network.link_up("lo", "egovlab-mn-db-1") == ["ip", "-n", "egovlab-mn-db-1", "link", "set", "dev", "lo", "up"]


def test_zone_leg_commands() -> None:
    assert network.veth_add("egov-z7-51", "egovlab-gd-school-1", "eth1") == [
        "ip", "link", "add", "name", "egov-z7-51", "type", "veth",
        "peer", "name", "eth1", "netns", "egovlab-gd-school-1",
    ]  # fmt: skip
    assert network.addr_flush("egov-z7") == ["ip", "addr", "flush", "dev", "egov-z7"]
    assert network.route_replace("egovlab-gd-school-1", "10.198.0.0/16", "10.198.50.1", "eth1") == [
        "ip", "-n", "egovlab-gd-school-1", "route", "replace", "10.198.0.0/16", "via", "10.198.50.1", "dev", "eth1",
    ]  # fmt: skip


def test_sysctls_are_set_inside_the_hosts_namespace() -> None:
    settings = [("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.eth0.forwarding", "0")]
    assert network.netns_sysctl("egovlab-gd-gw-1", settings) == [
        "ip", "netns", "exec", "egovlab-gd-gw-1",
        "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.conf.eth0.forwarding=0",
    ]  # fmt: skip


def test_the_machines_fence_route_is_marked_as_the_labs() -> None:
    assert network.fence_add("10.198.0.0/16") == [
        "ip",
        "route",
        "replace",
        "unreachable",
        "10.198.0.0/16",
        "proto",
        "198",
    ]
    assert network.fence_delete("10.198.0.0/16") == [
        "ip",
        "route",
        "delete",
        "unreachable",
        "10.198.0.0/16",
        "proto",
        "198",
    ]
    assert network.fences_json() == ["ip", "-j", "-4", "route", "show", "proto", "198"]


def test_routes_json() -> None:
    assert network.routes_json() == ["ip", "-j", "-4", "route", "show", "table", "all"]


def test_launcher_starts_the_init_as_pid_1_in_fresh_namespaces() -> None:
    argv = network.launcher("egovlab-mn-db-1", "/venv/bin/python", Path("/lab/hosts/mn-db-1/init.json"))
    assert argv == [
        "ip", "netns", "exec", "egovlab-mn-db-1",
        "unshare", "--uts", "--ipc", "--pid", "--mount", "--fork", "--kill-child", "--propagation", "private",
        "--", "/venv/bin/python", "-I", "-m", "controlplane.lab.init", "/lab/hosts/mn-db-1/init.json",
    ]  # fmt: skip


def test_nsenter_enters_every_namespace_and_drops_capabilities() -> None:
    argv = network.nsenter(4242, ["ip", "addr", "add", "10.198.0.100/24", "dev", "eth0"])
    assert argv == [
        "nsenter", "--target", "4242", "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
        "--", "setpriv", "--reset-env", "--bounding-set", caps.setpriv_bounding_set(),
        "--", "ip", "addr", "add", "10.198.0.100/24", "dev", "eth0",
    ]  # fmt: skip


@pytest.mark.parametrize("pid", [0, 1, -5, True, "12"])
def test_nsenter_refuses_a_bad_pid(pid: object) -> None:
    with pytest.raises(ValueError):
        network.nsenter(pid, ["true"])  # type: ignore[arg-type]


def test_bounding_set_drops_the_kernel_wide_capabilities() -> None:
    value = caps.setpriv_bounding_set()
    for name in ("sys_module", "sys_time", "audit_control", "sys_boot", "sys_admin", "mknod", "sys_rawio"):
        assert f"-{name}" in value.split(",")
    assert all(word.startswith("-") for word in value.split(","))
    assert "net_admin" not in value  # hosts manage their own network namespace


def test_ssh_keygen_makes_ed25519_without_passphrase() -> None:
    assert network.ssh_keygen(Path("/k/id"), "root@h") == [
        "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@h", "-f", "/k/id",
    ]  # fmt: skip


def _ssh(**kwargs: object) -> list[str]:
    base: dict[str, object] = {
        "key_file": Path("/k/id"),
        "known_hosts": Path("/k/kh"),
        "user": "root",
        "address": "10.198.0.14",
    }
    base.update(kwargs)
    return network.ssh(**base)  # type: ignore[arg-type]


def test_ssh_pins_host_keys_and_stops_option_parsing_before_the_address() -> None:
    assert _ssh() == [
        "ssh", "-i", "/k/id",
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", "UserKnownHostsFile=/k/kh", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
        "-p", "22", "-l", "root", "--", "10.198.0.14",
    ]  # fmt: skip


def test_ssh_remote_command_is_one_quoted_word_per_argument() -> None:
    hostile = ["echo", "a;rm -rf /", "$(reboot)", "`id`", "x\ny", "-o", "ProxyCommand=evil"]
    argv = _ssh(argv=hostile, tty=True)
    assert argv[-4:] == ["-t", "--", "10.198.0.14", shlex.join(hostile)]
    assert shlex.split(argv[-1]) == hostile


def test_guard_ruleset_keeps_lab_traffic_on_the_bridge() -> None:
    text = network.nft_guard_ruleset("egov_lab", "egov-br0", "10.198.0.1")
    assert text.startswith("table inet egov_lab {}\ndelete table inet egov_lab\n")
    assert 'iifname "egov-br0" oifname != "egov-br0" drop' in text
    assert 'oifname "egov-br0" iifname != "egov-br0" drop' in text
    assert 'iifname "egov-br0" meta nfproto ipv4 ip daddr != 10.198.0.1 drop' in text
    assert network.nft_remove_ruleset("egov_lab") == "table inet egov_lab {}\ndelete table inet egov_lab\n"
    assert network.nft_apply() == ["nft", "-f", "-"]


def test_the_flat_guard_is_unchanged_without_zones() -> None:
    assert network.nft_guard_ruleset("egov_lab", "egov-br0", "10.198.0.1") == (
        "table inet egov_lab {}\n"
        "delete table inet egov_lab\n"
        "table inet egov_lab {\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter - 1; policy accept;\n"
        '    iifname "egov-br0" oifname != "egov-br0" drop\n'
        '    oifname "egov-br0" iifname != "egov-br0" drop\n'
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority filter - 1; policy accept;\n"
        '    iifname "egov-br0" meta nfproto ipv4 ip daddr != 10.198.0.1 drop\n'
        '    iifname "egov-br0" meta nfproto ipv6 drop\n'
        "  }\n"
        "}\n"
    )


def test_the_guard_routes_nothing_between_zone_bridges_and_keeps_the_machine_off_them() -> None:
    text = network.nft_guard_ruleset("egov_lab", "egov-br0", "10.198.0.1", ["egov-z0", "egov-z1"])
    for bridge in ("egov-br0", "egov-z0", "egov-z1"):
        assert (
            f'    iifname "{bridge}" oifname != "{bridge}" drop\n    oifname "{bridge}" iifname != "{bridge}" drop\n'
            in text
        )
    assert '    iifname { "egov-z0", "egov-z1" } drop\n' in text  # input: the machine takes nothing there
    assert (
        "  chain output {\n    type filter hook output priority filter - 1; policy accept;\n"
        '    oifname { "egov-z0", "egov-z1" } drop\n  }\n'
    ) in text
