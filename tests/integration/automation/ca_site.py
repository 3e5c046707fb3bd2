"""A throw-away site with its own CA on the suite's lab: the lab's inventory, key and pins, its own store and vault."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store
    from tests.integration.conftest import Lab


def make_ca_site(lab: Lab, folder: Path) -> tuple[Config, Store]:
    """Write the site's egov.yml in ``folder``, make its master key, store and CA; return its config and store."""
    from controlplane.config import load_config
    from controlplane.pki.authority import init_authority
    from controlplane.store import open_store
    from controlplane.vault import create_key_file

    (folder / "egov.yml").write_text(
        f"folders:\n  inventory: {lab.config.inventory}\nstate:\n  dir: var\n"
        f"ssh:\n  key_file: {lab.config.ssh_key_file}\n  known_hosts: {lab.config.ssh_known_hosts}\n",
        encoding="utf-8",
    )
    config = load_config(folder / "egov.yml")
    create_key_file(config.key_file)
    store = open_store(config)
    init_authority(config, store, requester="lab-test")
    return config, store
