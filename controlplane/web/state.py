"""The control-plane objects a console process holds: config, store, vault, inventory.

One :class:`ConsoleState` lives in ``app.extensions["egov"]``. The inventory
is loaded on first use (importing ansible costs about a second, so creating
the app stays fast) and reloaded when its file changes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app

from controlplane.inventory import Inventory, load_inventory

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store
    from controlplane.vault import Vault


class InventoryCache:
    """The inventory of one path, loaded lazily and reloaded when its files change."""

    def __init__(self, path: Path, preloaded: Inventory | None = None) -> None:
        self.path = path
        self._inventory = preloaded
        # A preloaded inventory (tests) never reloads.
        self._stamp: float | None = None if preloaded is None else float("inf")
        self._lock = threading.Lock()

    def _current_stamp(self) -> float:
        try:
            if self.path.is_dir():
                return max((p.stat().st_mtime for p in self.path.rglob("*")), default=0.0)
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def get(self) -> Inventory:
        """Return the inventory, (re)loading it when the file changed.

        Raises ConfigError when the inventory cannot be read.
        """
        if self._stamp == float("inf") and self._inventory is not None:
            return self._inventory
        stamp = self._current_stamp()
        with self._lock:
            if self._inventory is None or stamp != self._stamp:
                self._inventory = load_inventory(self.path)
                self._stamp = stamp
            return self._inventory


class ConsoleState:
    """What the views need: the site config, the store, the vault and the inventory."""

    def __init__(self, config: Config, store: Store, inventory: InventoryCache, vault: Vault | None = None) -> None:
        self.config = config
        self.store = store
        self.inventory_cache = inventory
        self._vault = vault
        self._vault_lock = threading.Lock()

    @property
    def inventory(self) -> Inventory:
        """The current inventory."""
        return self.inventory_cache.get()

    @property
    def vault(self) -> Vault:
        """The vault (opened on first use: it reads the master key file)."""
        if self._vault is None:
            with self._vault_lock:
                if self._vault is None:
                    from controlplane.vault import open_vault

                    self._vault = open_vault(self.config, self.store)
        return self._vault


def init_app(
    app: Flask, config: Config, store: Store, inventory: Inventory | None = None, vault: Vault | None = None
) -> ConsoleState:
    """Attach a ConsoleState to the app and return it."""
    state = ConsoleState(config, store, InventoryCache(Path(config.inventory), inventory), vault)
    app.extensions["egov"] = state
    return state


def state() -> ConsoleState:
    """The ConsoleState of the current app."""
    return current_app.extensions["egov"]  # type: ignore[no-any-return]


def secret_key(config: Config, vault: Vault | None) -> bytes:
    """Return the Flask session key: from the vault when it opens, else a 0600 file under state_dir.

    Generated once and kept, so sessions survive a restart. The file fallback
    exists for sites whose vault key is not set up yet.
    """
    import secrets

    name = "console.session_key"
    if vault is not None:
        if not vault.exists(name):
            vault.set(name, secrets.token_urlsafe(48))
        return str(vault.get(name)).encode("ascii")
    path = Path(config.state_dir) / "console_session.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip().encode("ascii")
    value = secrets.token_urlsafe(48)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value.encode("ascii")
