"""Fake configuration and inventory objects for the lab's unit tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from controlplane.inventory import Host

LAB_VARS = {"lab_subnet": "10.198.0.0/24", "lab_gateway": "10.198.0.1", "portal_vip": "10.198.0.100"}


def config(tmp_path: Path, state: str = "var") -> SimpleNamespace:
    """A Config look-alike with its state folder under tmp_path."""
    state_dir = tmp_path / state
    return SimpleNamespace(
        state_dir=state_dir,
        lab_dir=state_dir / "lab",
        ssh_key_file=state_dir / "lab/ssh/id_ed25519",
        ssh_known_hosts=state_dir / "lab/ssh/known_hosts",
        key_file=state_dir / "master.key",
        ssh_user="root",
    )


def inventory(hosts: list[tuple[str, str]], **variables: Any) -> SimpleNamespace:
    """An Inventory look-alike with (name, address) hosts and the lab variables."""
    return SimpleNamespace(
        source=Path("lab.yml"),
        hosts=[Host(name=name, address=address, site="s", role="r") for name, address in hosts],
        variables={**LAB_VARS, **variables},
    )
