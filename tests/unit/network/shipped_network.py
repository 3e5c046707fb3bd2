"""The shipped lab inventory and flow file, loaded once per test session (ansible's loader costs ~1 s)."""

from __future__ import annotations

import functools
from pathlib import Path

from controlplane.inventory import Host, Inventory, Site, load_inventory
from controlplane.network.model import NetworkModel, load_network

ROOT = Path(__file__).resolve().parents[3]
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"
NETWORK_FILE = ROOT / "inventory" / "network.yml"


@functools.cache
def lab_inventory() -> Inventory:
    """The shipped lab inventory (cached: tests must not change it)."""
    return load_inventory(LAB_INVENTORY)


@functools.cache
def lab_network() -> NetworkModel:
    """The shipped flow file loaded with the shipped lab inventory."""
    model = load_network(NETWORK_FILE, lab_inventory())
    assert model is not None
    return model


def small_inventory(source: Path) -> Inventory:
    """Four hosts on 10.9.0.0/24: two gateways, a web host in site a and a db host in site b."""
    hosts = [
        Host("gw-1", "10.9.0.2", "a", "gateway"),
        Host("gw-2", "10.9.0.3", "b", "gateway"),
        Host("web-1", "10.9.0.11", "a", "web"),
        Host("db-1", "10.9.0.12", "b", "database"),
    ]
    sites = {"a": Site("a", "ministry", None, None), "b": Site("b", "province", "a", None)}
    return Inventory(source=source, hosts=hosts, sites=sites)


SMALL_NETWORK = """\
address_space: 10.9.0.0/16
sample_ports: [22]
management: {title_zh: 管理, subnet: 10.9.0.0/24}
zones:
  core: {subnet: 10.9.1.0/24, routers: {gw-1: 10.9.1.1, gw-2: 10.9.1.2}}
  web: {title_zh: 网站区, subnet: 10.9.10.0/24, routers: {gw-1: 10.9.10.1}, members: {roles: [web]}}
  data: {subnet: 10.9.20.0/24, routers: {gw-2: 10.9.20.1}, members: {sites: [b]}}
flows:
  - id: web-db
    from: role:web
    to: zone:data
    tcp: [5432]
    icmp: true
    reason: the web reads the database
"""
