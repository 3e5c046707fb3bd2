"""The inventory, read through ansible-core's own API.

Playbooks and the control plane must agree on hosts and variables, so the
inventory is loaded with ansible's ``InventoryManager`` (never parsed twice by
hand). Every host must carry ``site`` and ``role``; host names must be plain
(letters, digits, dot, dash, underscore) so they can never be read as shell
syntax, paths or options anywhere downstream.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.errors import BadInputError, ConfigError
from controlplane.yamlfile import read_yaml

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
ADDRESS = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
# Variables worth carrying into the control plane (JSON-safe, no secrets).
EXPORTED_VARS = ("portal_priority", "portal_vip", "mgmt_network", "lab_subnet", "lab_gateway")
# Inventory-wide only (all.vars), not copied onto every host: lab hosts that start unmanaged (controlplane.lab.spec).
INVENTORY_VARS = ("lab_unmanaged_hosts",)


@dataclass(frozen=True)
class Host:
    """One managed host: name, address, site, role and its inventory groups."""

    name: str
    address: str
    site: str
    role: str
    groups: tuple[str, ...] = ()
    port: int = 22
    variables: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Site:
    """A site: the ministry, a center, a province or a school."""

    name: str
    level: str
    parent: str | None
    title_zh: str | None


@dataclass
class Inventory:
    """Hosts and sites of one inventory source, in inventory order."""

    source: Path
    hosts: list[Host]
    sites: dict[str, Site]
    variables: dict[str, Any] = field(default_factory=dict)

    def host(self, name: str) -> Host:
        """Return the named host; raise BadInputError when it is unknown."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise BadInputError(f"unknown host {name!r} (not in {self.source})")

    def select(self, pattern: str | None = None, site: str | None = None) -> list[Host]:
        """Return hosts matching an Ansible-like pattern and/or a site (and its children).

        ``pattern`` is a comma- or colon-separated list of host names, group
        names or shell-style globs (``all`` or empty for every host). Raises
        BadInputError when the pattern or site matches nothing.
        """
        hosts = self.hosts
        if site:
            if site not in self.sites:
                raise BadInputError(f"unknown site {site!r}")
            scope = self.site_and_descendants(site)
            hosts = [h for h in hosts if h.site in scope]
        if pattern and pattern != "all":
            words = [w.strip() for w in re.split(r"[,:]", pattern) if w.strip()]
            hosts = [
                h
                for h in hosts
                if any(fnmatch.fnmatchcase(h.name, w) or w in h.groups or w == h.site or w == h.role for w in words)
            ]
            if not hosts:
                raise BadInputError(f"host pattern {pattern!r} matches no host")
        return hosts

    def site_and_descendants(self, site: str) -> set[str]:
        """Return the site's name and the names of every site below it."""
        result = {site}
        changed = True
        while changed:
            changed = False
            for other in self.sites.values():
                if other.parent in result and other.name not in result:
                    result.add(other.name)
                    changed = True
        return result


def _validate_source(path: Path) -> None:
    """Parse YAML sources ourselves first: ansible only warns on broken files."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
    if not path.exists():
        raise ConfigError(str(path), [("", "inventory does not exist")])
    for file in files:
        read_yaml(file)


# ansible-core's plugin loader is not thread-safe: two threads loading an inventory at once (the console's first
# request and the scheduler starting in the leader's duty thread) fail inside ansible with an AttributeError.
_ANSIBLE = threading.Lock()


def load_inventory(path: Path) -> Inventory:
    """Load an inventory file or folder with ansible-core (one load at a time per process).

    Loads are serialised because ansible-core's loader is not thread-safe
    to run concurrently. Raises ConfigError listing every host without a
    site or role, with an unsafe name or address, and YAML syntax errors
    with their line.
    """
    with _ANSIBLE:
        return _load_inventory(path)


def _load_inventory(path: Path) -> Inventory:
    _validate_source(path)
    os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
    os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(path)])
    except AnsibleError as error:
        raise ConfigError(str(path), [("", f"ansible could not parse the inventory: {error.message}")]) from None
    problems: list[tuple[str, str]] = []
    hosts: list[Host] = []
    sites: dict[str, Site] = {}
    all_vars = dict(manager.groups["all"].get_vars()) if "all" in manager.groups else {}
    for ansible_host in manager.get_hosts():
        name = ansible_host.get_name()
        variables = ansible_host.get_vars()
        group_vars = {}
        for group in sorted(ansible_host.get_groups(), key=lambda g: g.depth):
            group_vars.update(group.get_vars())
        merged = {**group_vars, **variables}
        where = f"hosts.{name}"
        if not HOST_NAME.fullmatch(name):
            problems.append((where, "host name must be letters, digits, '.', '-' or '_' (max 63)"))
            continue
        site, role = merged.get("site"), merged.get("role")
        address = str(merged.get("ansible_host") or name)
        if not isinstance(site, str) or not SITE_NAME.fullmatch(site):
            problems.append((where, f"missing or invalid site {site!r} (lowercase letters, digits, '-')"))
        if not isinstance(role, str) or not ROLE_NAME.fullmatch(role):
            problems.append((where, f"missing or invalid role {role!r}"))
        if not ADDRESS.fullmatch(address):
            problems.append((f"{where}.ansible_host", f"invalid address {address!r}"))
        if any(p[0].startswith(where) for p in problems):
            continue
        assert isinstance(site, str) and isinstance(role, str)  # noqa: S101 - checked above
        parent = merged.get("site_parent")
        sites.setdefault(
            site,
            Site(
                name=site,
                level=str(merged.get("site_level", "site")),
                parent=str(parent) if parent else None,
                title_zh=merged.get("site_title_zh"),
            ),
        )
        hosts.append(
            Host(
                name=name,
                address=address,
                site=site,
                role=role,
                groups=tuple(sorted(g.get_name() for g in ansible_host.get_groups() if g.get_name() != "all")),
                port=int(merged.get("ansible_port", 22)),
                variables={k: merged[k] for k in EXPORTED_VARS if k in merged},
            )
        )
    for site in sites.values():
        if site.parent and site.parent not in sites:
            problems.append((f"sites.{site.name}.site_parent", f"unknown parent site {site.parent!r}"))
    if problems:
        raise ConfigError(str(path), problems)
    return Inventory(
        source=path,
        hosts=hosts,
        sites=sites,
        variables={k: all_vars[k] for k in (*EXPORTED_VARS, *INVENTORY_VARS) if k in all_vars},
    )
