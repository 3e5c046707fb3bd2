"""Rendering the playbooks' role templates and task expressions as ansible would, without a host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.unit.network.shipped_network import ROOT

ROLES = ROOT / "playbooks" / "roles"
LAB_VARS = {"mgmt_network": "10.198.0.0/24", "ansible_check_mode": False}


def role_variables(role: str, host: str, host_role: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The role's defaults under the lab's group vars and ``extra`` (extra wins, as extra-vars do)."""
    defaults = ROLES / role / "defaults" / "main.yml"
    variables: dict[str, Any] = dict(yaml.safe_load(defaults.read_text()) or {}) if defaults.exists() else {}
    variables.update({"inventory_hostname": host, "role": host_role, "ansible_host": None, **LAB_VARS, **extra})
    return variables


def render(text: str, variables: dict[str, Any]) -> Any:
    """Template a string with ansible's own Templar (its filters and tests, lazy variables)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    return Templar(loader=DataLoader(), variables=variables).template(text)


def render_template(role: str, template: str, variables: dict[str, Any]) -> str:
    """A role's template file rendered."""
    return str(render((ROLES / role / "templates" / template).read_text(), variables))


def task(role: str, name: str) -> dict[str, Any]:
    """The first task of a role whose name starts with ``name``."""
    tasks = yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text())
    for item in tasks:
        if str(item.get("name", "")).startswith(name):
            return dict(item)
    raise KeyError(name)


def role_path(role: str) -> Path:
    return ROLES / role
