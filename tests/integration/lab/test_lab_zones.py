"""The lab's data plane on the machine: zone bridges, legs, routes and gateways, before any provision.

Runs as root against the session's lab (see conftest.py), which is zoned
because ``inventory/network.yml`` sits next to ``inventory/lab.yml``. Probes
run inside lab hosts (``exec_in_host``) and address only zone addresses of
the lab: the machine itself has no route into the zones, so it never sends
there (without a route the packet would leave the machine).
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from controlplane.lab import manager

if TYPE_CHECKING:
    from controlplane.execute import ProcessResult
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

ZONES = ["backbone", "dmz", "internal", "backup", "dr", "outside",
         "province-gd", "school-gd", "province-hn", "school-hn"]  # fmt: skip
GATEWAYS = {"mn-gw-1": 6, "gd-gw-1": 3, "hn-gw-1": 3}  # legs of each
GD_EDU = "10.198.40.41"  # gd-edu-1 in zone province-gd
PORTAL = "10.198.10.11"  # mn-portal-1 in the DMZ
BACKUP = "10.198.20.21"  # bc-backup-1 in the backup zone

# An ICMP echo from inside a host with a raw socket (root in a lab host keeps
# CAP_NET_RAW; the machine has no ping to lend). Prints the reply's TTL: 64
# minus one per router crossed.
PING = r"""
import os, socket, struct, sys, time
address = sys.argv[1]
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
ident, payload = os.getpid() & 0xFFFF, b"egov-lab"
header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, 1) + payload
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(0.5)
sock.sendto(packet, (address, 0))
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    try:
        data, source = sock.recvfrom(2048)
    except (socket.timeout, OSError):
        continue
    start = (data[0] & 15) * 4
    kind, _code, _sum, reply_id, _seq = struct.unpack("!BBHHH", data[start:start + 8])
    if source[0] == address and kind == 0 and reply_id == ident:
        print("reply ttl=%d" % data[8])
        sys.exit(0)
print("no reply")
sys.exit(1)
"""

# A TCP connect: "refused" means the SYN reached the host and its RST came back (routed both ways).
CONNECT = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()
    print("open")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
except OSError as error:
    print("unreachable %s" % error.errno)
"""


def in_host(lab: Lab, host: str, *argv: str) -> ProcessResult:
    return manager.exec_in_host(lab.config, host, list(argv), timeout=20)


def ping(lab: Lab, host: str, address: str) -> str:
    return in_host(lab, host, "/usr/bin/python3", "-I", "-c", PING, address).stdout.strip()


def connect(lab: Lab, host: str, address: str, port: int = 22) -> str:
    return in_host(lab, host, "/usr/bin/python3", "-I", "-c", CONNECT, address, str(port)).stdout.strip()


def status(lab: Lab) -> dict[str, Any]:
    result = lab.egov("lab", "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ip_json(*argv: str, netns: str | None = None) -> list[dict[str, Any]]:
    words = ["ip", *(("-n", netns) if netns else ()), "-j", *argv]
    return json.loads(subprocess.run(words, capture_output=True, text=True, check=True).stdout or "[]")


def data_plane_state() -> dict[str, Any]:
    """Every lab link on the machine and every address and route in every lab host (ifindexes included)."""
    links = {link["ifname"]: (link["ifindex"], link.get("master"), "UP" in link["flags"])
             for link in ip_json("link", "show") if link["ifname"].startswith("egov-")}  # fmt: skip
    hosts = {}
    for netns in sorted(n["name"] for n in ip_json("netns", "list") if n["name"].startswith("egovlab-")):
        hosts[netns] = {
            "addresses": sorted((a["ifname"], a["ifindex"], i["local"], i["prefixlen"])
                                for a in ip_json("-4", "addr", "show", netns=netns) for i in a["addr_info"]),
            "routes": sorted(json.dumps(r, sort_keys=True) for r in ip_json("-4", "route", "show", netns=netns)),
        }  # fmt: skip
    return {"links": links, "hosts": hosts}


def test_every_zone_has_a_bridge_and_every_host_its_legs(lab: Lab) -> None:
    assert lab.first_up.returncode == 0, lab.first_up.stderr
    assert lab.first_up_seconds < 10  # 15 hosts, 10 zones, 25 legs
    data = status(lab)
    assert [zone["zone"] for zone in data["zones"]] == ZONES
    assert [zone["bridge"] for zone in data["zones"]] == [f"egov-z{index}" for index in range(len(ZONES))]
    assert all(zone["up"] for zone in data["zones"])
    legs = {host["name"]: host["legs"] for host in data["hosts"]}
    for name, count in GATEWAYS.items():
        assert [leg["interface"] for leg in legs[name]] == [f"eth{n}" for n in range(1, count + 1)]
    assert legs["gd-edu-1"] == [
        {"zone": "province-gd", "interface": "eth1", "address": "10.198.40.41/24", "link": "egov-z6-41", "state": "up"}
    ]
    assert all(len(legs[name]) == 1 for name in legs if name not in GATEWAYS)
    assert {host["state"] for host in data["hosts"]} == {"running"}


def test_the_machine_takes_no_address_and_no_route_on_the_data_plane(lab: Lab) -> None:
    for index in range(len(ZONES)):
        shown = ip_json("addr", "show", "dev", f"egov-z{index}")
        assert [info for link in shown for info in link["addr_info"]] == []
    for route in ip_json("-4", "route", "show", "table", "all"):
        assert not str(route.get("dev", "")).startswith("egov-z"), route
    # Its one route into the zones is a fence: a zone address never follows the machine's default route.
    assert {"type": "unreachable", "dst": "10.198.0.0/16", "protocol": "198", "flags": []} in ip_json("-4", "route")
    lookup = subprocess.run(["ip", "route", "get", GD_EDU], capture_output=True, text=True, check=False)
    assert lookup.returncode != 0 and "No route to host" in lookup.stderr, lookup
    assert ip_json("-4", "route", "get", "10.198.0.41")[0]["dev"] == "egov-br0"  # management stays direct
    guard = subprocess.run(["nft", "list", "table", "inet", "egov_lab"], capture_output=True, text=True, check=True)
    assert 'iifname "egov-z6" oifname != "egov-z6" drop' in guard.stdout


def test_hosts_route_the_lab_through_their_gateway_and_have_no_default_route(lab: Lab) -> None:
    routes = ip_json("-4", "route", "show", netns="egovlab-gd-school-1")
    assert {"dst": "10.198.0.0/16", "gateway": "10.198.50.1", "dev": "eth1", "flags": []} in routes
    gateway = {r["dst"]: r.get("gateway") for r in ip_json("-4", "route", "show", netns="egovlab-gd-gw-1")}
    assert gateway["10.198.20.0/24"] == "10.198.1.1"  # the backup centre, via mn-gw-1 on the backbone
    for netns in (n["name"] for n in ip_json("netns", "list") if n["name"].startswith("egovlab-")):
        assert ip_json("-4", "route", "show", "default", netns=netns) == [], netns


def test_only_gateways_forward(lab: Lab) -> None:
    def forwarding(host: str, key: str = "net.ipv4.ip_forward") -> str:
        return in_host(lab, host, "sysctl", "-n", key).stdout.strip()

    assert [forwarding(name) for name in GATEWAYS] == ["1", "1", "1"]
    assert forwarding("mn-gw-1", "net.ipv4.conf.eth0.forwarding") == "0"  # the management leg is no way in
    assert forwarding("gd-school-1") == "0"
    assert forwarding("mn-db-1") == "0"


def test_a_school_reaches_its_province_through_its_gateway_before_any_provision(lab: Lab) -> None:
    assert ping(lab, "gd-school-1", GD_EDU) == "reply ttl=63"  # one router: gd-gw-1
    assert connect(lab, "gd-school-1", GD_EDU) == "refused"  # sshd listens on eth0 only: the RST came back
    assert ping(lab, "gd-school-1", BACKUP) == "reply ttl=62"  # gd-gw-1, then mn-gw-1 over the backbone


def test_the_outside_reaches_the_dmz_through_the_ministry_gateway(lab: Lab) -> None:
    assert ping(lab, "ext-probe-1", PORTAL) == "reply ttl=63"  # one router: mn-gw-1
    assert connect(lab, "ext-probe-1", PORTAL) == "refused"


def test_isolate_cuts_every_leg_and_heal_restores_them(lab: Lab) -> None:
    try:
        result = lab.egov("lab", "fault", "gd-gw-1", "isolate", "--json")
        assert result.returncode == 0, result.stderr
        isolated = json.loads(result.stdout)
        assert isolated["state"] == "isolated" and isolated["link"] == "down"
        assert [leg["state"] for leg in isolated["legs"]] == ["down", "down", "down"]
        assert ping(lab, "gd-school-1", GD_EDU) == "no reply"
        assert ping(lab, "gd-edu-1", BACKUP) == "no reply"
    finally:
        result = lab.egov("lab", "fault", "gd-gw-1", "heal", "--json")
    assert result.returncode == 0, result.stderr
    healed = json.loads(result.stdout)
    assert healed["state"] == "running"
    assert {leg["state"] for leg in healed["legs"]} == {"up"}
    assert ping(lab, "gd-school-1", GD_EDU) == "reply ttl=63"


def test_a_second_up_changes_nothing_on_the_data_plane(lab: Lab) -> None:
    before = data_plane_state()
    result = lab.egov("lab", "up")
    assert result.returncode == 0, result.stderr
    assert data_plane_state() == before


def test_a_lost_leg_is_put_back_by_up(lab: Lab) -> None:
    subprocess.run(["ip", "link", "delete", "dev", "egov-z7-51"], check=True)  # gd-school-1's school leg
    try:
        assert next(h for h in status(lab)["hosts"] if h["name"] == "gd-school-1")["state"] == "isolated"
    finally:
        result = lab.egov("lab", "up")
    assert result.returncode == 0, result.stderr
    assert ping(lab, "gd-school-1", GD_EDU) == "reply ttl=63"


def test_down_leaves_no_bridge_leg_or_route(lab: Lab) -> None:
    try:
        result = lab.egov("lab", "down")
        assert result.returncode == 0, result.stderr
        assert [link for link in ip_json("link", "show") if link["ifname"].startswith("egov-")] == []
        assert [r for r in ip_json("-4", "route", "show", "table", "all") if r["dst"].startswith("10.198.")] == []
        assert [n for n in ip_json("netns", "list") if n["name"].startswith("egovlab-")] == []
    finally:
        assert lab.egov("lab", "up").returncode == 0
