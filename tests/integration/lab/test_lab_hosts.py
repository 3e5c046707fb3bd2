"""The lab with real namespaces, sshd and links: up, ssh, faults, down.

Runs as root against one session-scoped lab (see conftest.py). The last test
brings the lab down and checks that nothing is left on the machine.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko
import pytest

from controlplane.lab import caps, manager

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

HOSTS = [
    "mn-portal-1",
    "mn-portal-2",
    "mn-oa-1",
    "mn-db-1",
    "mn-gw-1",
    "ext-probe-1",
    "bc-backup-1",
    "dr-app-1",
    "dr-backup-1",
    "gd-edu-1",
    "gd-gw-1",
    "gd-school-1",
    "hn-edu-1",
    "hn-gw-1",
    "hn-school-1",
]
ADDRESS = {"mn-portal-1": "10.198.0.11", "mn-oa-1": "10.198.0.13", "mn-db-1": "10.198.0.14", "gd-edu-1": "10.198.0.41"}


def tcp_open(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def status(lab: Lab) -> dict[str, Any]:
    result = lab.egov("lab", "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def host_status(lab: Lab, name: str) -> dict[str, Any]:
    return next(h for h in status(lab)["hosts"] if h["name"] == name)


def ssh_run(lab: Lab, host: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return lab.egov("lab", "ssh", host, "--", *argv)


def paramiko_run(lab: Lab, address: str, command: str, known_hosts: Path | None = None) -> str:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts or lab.config.ssh_known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key = paramiko.Ed25519Key.from_private_key_file(str(lab.config.ssh_key_file))
    try:
        client.connect(address, username="root", pkey=key, timeout=5, allow_agent=False, look_for_keys=False)
        _stdin, stdout, _stderr = client.exec_command(command, timeout=10)
        return stdout.read().decode()
    finally:
        client.close()


def test_up_starts_every_host_within_the_target(lab: Lab) -> None:
    assert lab.first_up.returncode == 0, lab.first_up.stderr
    assert f"{len(HOSTS)}/{len(HOSTS)} hosts running" in lab.first_up.stdout
    data = status(lab)
    assert [h["name"] for h in data["hosts"]] == HOSTS
    assert {h["state"] for h in data["hosts"]} == {"running"}
    assert all(isinstance(h["pid"], int) and h["link"] == "up" and h["sshd"] == "running" for h in data["hosts"])
    assert data["portal_vip"] == "10.198.0.100"
    assert data["subnet"] == "10.198.0.0/24"
    assert data["bridge"] == "egov-br0"
    assert data["key_file"] == str(lab.config.ssh_key_file)
    assert data["known_hosts"] == str(lab.config.ssh_known_hosts)
    assert Path(data["key_file"]).stat().st_mode & 0o777 == 0o600


def test_a_second_up_changes_nothing(lab: Lab) -> None:
    before = {h["name"]: h["pid"] for h in status(lab)["hosts"]}
    keys = lab.config.ssh_known_hosts.read_text(encoding="utf-8")
    result = lab.egov("lab", "up", "--json")
    assert result.returncode == 0, result.stderr
    assert {h["name"]: h["pid"] for h in json.loads(result.stdout)["hosts"]} == before
    assert lab.config.ssh_known_hosts.read_text(encoding="utf-8") == keys


def test_known_hosts_pins_each_host_by_address_and_name(lab: Lab) -> None:
    lines = lab.config.ssh_known_hosts.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(HOSTS)
    assert any(line.startswith("10.198.0.14,mn-db-1 ssh-ed25519 ") for line in lines)
    assert len({line.split()[2] for line in lines}) == len(HOSTS)  # every host has its own key


def test_paramiko_with_strict_host_keys_reaches_the_right_hosts(lab: Lab) -> None:
    for name in ("mn-portal-1", "mn-db-1", "gd-edu-1"):
        assert paramiko_run(lab, ADDRESS[name], "hostname; cat /etc/hostname") == f"{name}\n{name}\n"


def test_an_unknown_host_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(paramiko.SSHException):
        paramiko_run(lab, ADDRESS["mn-db-1"], "true", known_hosts=empty)


def test_lab_ssh_passes_each_word_through_intact(lab: Lab) -> None:
    result = ssh_run(lab, "mn-db-1", "printf", "%s|", "a;b", "$(id)", "two words", "`x`")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a;b|$(id)|two words|`x`|"
    assert ssh_run(lab, "mn-db-1", "sh", "-c", "exit 3").returncode == 3


def test_hosts_cannot_change_kernel_wide_settings(lab: Lab) -> None:
    script = (
        # Writing back the current value: harmless even if the guard failed.
        "cat /proc/sys/fs/file-max > /proc/sys/fs/file-max 2>/dev/null || echo fs-ro; "
        "cat /proc/sys/kernel/pid_max > /proc/sys/kernel/pid_max 2>/dev/null || echo kernel-ro; "
        "sysctl -q -w net.ipv4.ip_default_ttl=61 && cat /proc/sys/net/ipv4/ip_default_ttl; "
        "mount -t tmpfs lab-test /mnt 2>/dev/null || echo no-mount; "
        "grep CapBnd /proc/self/status"
    )
    machine_ttl = Path("/proc/sys/net/ipv4/ip_default_ttl").read_text(encoding="ascii")
    result = ssh_run(lab, "gd-edu-1", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "kernel-ro" in lines and "fs-ro" in lines
    assert "61" in lines  # net.* belongs to the host's own namespace
    assert "no-mount" in lines
    bounding = int(re.search(r"CapBnd:\s+([0-9a-f]+)", result.stdout).group(1), 16)  # type: ignore[union-attr]
    for number in caps.DROPPED.values():
        assert not bounding & (1 << number)
    assert Path("/proc/sys/net/ipv4/ip_default_ttl").read_text(encoding="ascii") == machine_ttl


def test_hosts_cannot_read_the_control_planes_state(lab: Lab) -> None:
    state = str(lab.config.state_dir.resolve())
    key = str(lab.config.ssh_key_file)
    script = 'ls -A "$1" | wc -l; test -e "$2" && echo key-visible || echo key-hidden'
    result = ssh_run(lab, "mn-db-1", "sh", "-c", script, "sh", state, key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "key-hidden"]


def test_fault_down_and_up_stop_and_start_sshd(lab: Lab) -> None:
    address = ADDRESS["mn-db-1"]
    try:
        result = lab.egov("lab", "fault", "mn-db-1", "down")
        assert result.returncode == 0, result.stderr
        assert not tcp_open(address)
        assert host_status(lab, "mn-db-1")["state"] == "stopped"
    finally:
        result = lab.egov("lab", "fault", "mn-db-1", "up")
    assert result.returncode == 0, result.stderr
    assert tcp_open(address)
    assert host_status(lab, "mn-db-1")["state"] == "running"


def test_fault_isolate_cuts_the_link_and_heal_restores_it(lab: Lab) -> None:
    address = ADDRESS["mn-oa-1"]
    probe_from_peer = f"import socket; socket.create_connection(('{address}', 22), 1); print('reached')"
    try:
        result = lab.egov("lab", "fault", "mn-oa-1", "isolate")
        assert result.returncode == 0, result.stderr
        assert not tcp_open(address, timeout=0.5)
        assert "reached" not in ssh_run(lab, "mn-portal-1", "python3", "-c", probe_from_peer).stdout
        assert host_status(lab, "mn-oa-1")["state"] == "isolated"
    finally:
        result = lab.egov("lab", "fault", "mn-oa-1", "heal")
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: tcp_open(address))
    assert "reached" in ssh_run(lab, "mn-portal-1", "python3", "-c", probe_from_peer).stdout
    assert host_status(lab, "mn-oa-1")["state"] == "running"


def test_a_registered_service_starts_and_stops(lab: Lab) -> None:
    address = ADDRESS["mn-portal-1"]
    service = {"argv": ["/usr/bin/python3", "-m", "http.server", "8080", "--bind", address], "cwd": "/tmp"}
    written = manager.exec_in_host(
        lab.config,
        "mn-portal-1",
        ["sh", "-c", "mkdir -p /etc/egov-lab/services && cat > /etc/egov-lab/services/portal.json"],
        input_text=json.dumps(service),
    )
    assert written.ok, written.stderr
    try:
        result = lab.egov("lab", "fault", "mn-portal-1", "up", "--service", "portal")
        assert result.returncode == 0, result.stderr
        assert wait_until(lambda: tcp_open(address, 8080))
        assert host_status(lab, "mn-portal-1")["services"]["portal"]["running"] is True
    finally:
        result = lab.egov("lab", "fault", "mn-portal-1", "down", "--service", "portal")
    assert result.returncode == 0, result.stderr
    assert not tcp_open(address, 8080)
    assert lab.egov("lab", "fault", "mn-portal-1", "up", "--service", "nothing").returncode == 1


def test_exec_in_host_can_carry_the_portal_vip(lab: Lab) -> None:
    vip = "10.198.0.100"
    mac = manager.exec_in_host(lab.config, "mn-portal-2", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    added = manager.exec_in_host(lab.config, "mn-portal-2", ["ip", "addr", "add", f"{vip}/24", "dev", "eth0"])
    assert added.ok, added.stderr
    try:
        arp = manager.exec_in_host(
            lab.config, "mn-portal-2", ["arping", "-q", "-U", "-c1", "-I", "eth0", vip], timeout=10
        )
        assert arp.exit_code in (0, 1), arp.stderr  # 1: no reply expected to an unsolicited ARP
        tcp_open(vip, 22, timeout=0.5)  # refused (sshd listens on the host address), but resolves the VIP

        def neighbour() -> str:
            shown = subprocess.run(
                ["ip", "-j", "neigh", "show", vip, "dev", "egov-br0"], capture_output=True, text=True, check=True
            )
            return next((entry.get("lladdr", "") for entry in json.loads(shown.stdout or "[]")), "")

        assert wait_until(lambda: neighbour() == mac, timeout=5), (neighbour(), mac)
    finally:
        removed = manager.exec_in_host(lab.config, "mn-portal-2", ["ip", "addr", "del", f"{vip}/24", "dev", "eth0"])
    assert removed.ok, removed.stderr


def test_unknown_host_is_bad_input(lab: Lab) -> None:
    result = lab.egov("lab", "fault", "nope", "down")
    assert result.returncode == 2
    assert result.stderr.strip() == "egov: unknown lab host 'nope'"


def test_up_repairs_a_crashed_host(lab: Lab) -> None:
    before = {h["name"]: h["pid"] for h in status(lab)["hosts"]}
    os.kill(before["gd-school-1"], 9)
    assert wait_until(lambda: host_status(lab, "gd-school-1")["state"] == "down")
    result = lab.egov("lab", "up", "--json")
    assert result.returncode == 0, result.stderr
    after = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    assert after["gd-school-1"]["state"] == "running"
    assert after["gd-school-1"]["pid"] != before["gd-school-1"]
    assert {n: h["pid"] for n, h in after.items() if n != "gd-school-1"} == {
        n: p for n, p in before.items() if n != "gd-school-1"
    }


def _live_lab_processes(lab_dir: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and ("controlplane.lab.init" in cmdline or str(lab_dir) in cmdline):
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_down_leaves_nothing_behind(lab: Lab) -> None:
    # The lab is shared by the whole session (and other test files run after
    # this one): it is brought back up at the end, whatever happens.
    try:
        _down_and_check(lab)
    finally:
        assert lab.egov("lab", "up").returncode == 0


def _down_and_check(lab: Lab) -> None:
    result = lab.egov("lab", "down")
    assert result.returncode == 0, result.stderr
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "egovlab-" not in netns
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    assert "egov-" not in links
    mounts = Path("/proc/mounts").read_text(encoding="utf-8")
    assert str(lab.config.lab_dir) not in mounts
    assert "/run/netns/egovlab-" not in mounts
    if not any(Path("/run/netns").glob("*")):
        assert " /run/netns " not in mounts  # iproute2's own mount, undone once empty
    assert _live_lab_processes(lab.config.lab_dir) == []
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    assert "egov_lab" not in tables
    # No TCP probe here: without the bridge, lab addresses would route to the
    # machine's default gateway, and the lab never sends traffic off its subnet.
    assert {h["state"] for h in status(lab)["hosts"]} == {"down"}
    # down twice is fine too
    assert lab.egov("lab", "down").returncode == 0
