"""Is the recovery kit current? The answer ``egov doctor``, the console and the DR report give.

The store keeps the newest kit's public facts (``recovery.kit``: id, date,
custodians, threshold, and per part a keyed digest of what it held). The
status recomputes those digests from the running site and compares:

* ``none``: no kit was ever made;
* ``current``: the kit still holds what restoring needs;
* ``stale``: something it holds changed (a key rotation, a new or moved
  center, a repository password) - the reasons say what; make a new kit;
* ``used``: the kit was used to recover this control plane: its shares
  have been typed in on a machine, so make a new one;
* ``unknown``: the comparison could not be made (the reason says why).

Cost: one settings read, two or three vault reads, the backup policy's YAML
and the known_hosts file, plus loading the inventory when none is given
(about a second with ansible; the console passes its loaded one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError

from . import contents

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store
    from controlplane.vault import Vault

KIT_SETTING = "recovery.kit"


@dataclass(frozen=True)
class KitStatus:
    """The verdict on the newest kit, why, and its public facts (None when there is none)."""

    state: str
    reasons: list[str] = field(default_factory=list)
    kit: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "current"

    def sentence(self) -> str:
        """One line for doctor and the console."""
        if self.state == "none":
            return "no recovery kit has been made: `egov recovery kit --custodians A,B,C --threshold 2`"
        kit = self.kit or {}
        what = f"recovery kit {kit.get('kit_id', '?')} of {str(kit.get('made_at', '?'))[:10]}"
        if self.state == "current":
            return f"{what} is current ({kit.get('threshold')} of {len(kit.get('custodians') or [])} custodians)"
        if self.state == "used":
            return f"{what} was used for a recovery on {str(kit.get('used_at'))[:19]}: make a new kit"
        if self.state == "stale":
            return f"{what} is STALE ({'; '.join(self.reasons)}): make a new kit with `egov recovery kit`"
        return f"{what}: cannot tell whether it is current ({'; '.join(self.reasons)})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (no secret: the kit's public facts only)."""
        kit = self.kit or {}
        public = {k: kit.get(k) for k in ("kit_id", "made_at", "made_by", "threshold", "file", "used_at")}
        public["custodians"] = [entry.get("name") for entry in kit.get("custodians") or []]
        return {"state": self.state, "reasons": list(self.reasons), "sentence": self.sentence(),
                "kit": public if self.kit else None}  # fmt: skip


def recorded_kit(store: Store) -> dict[str, Any] | None:
    """The newest kit's public facts as recorded when it was made (None: no kit)."""
    from controlplane.store.models import Setting

    with store.session() as session:
        row = session.get(Setting, KIT_SETTING)
        return json.loads(row.value) if row is not None else None


def mark_used(store: Store, at: str) -> None:
    """Record that the kit was used for a recovery (on the restored store)."""
    from controlplane.store.models import Setting

    with store.session() as session:
        row = session.get(Setting, KIT_SETTING)
        if row is not None:
            facts = json.loads(row.value)
            facts["used_at"] = at
            row.value = json.dumps(facts, sort_keys=True)


def kit_status(config: Config, store: Store, vault: Vault | None, inventory: Inventory | None = None) -> KitStatus:
    """Compare the newest kit with the running site (see the module docstring). Never raises."""
    kit = recorded_kit(store)
    if kit is None:
        return KitStatus("none")
    if kit.get("used_at"):
        return KitStatus("used", kit=kit)
    if vault is None:
        return KitStatus("unknown", ["the vault is not open (no master key here)"], kit)
    try:
        key = contents.fingerprint_key(vault, create=False)
        if key is None:
            return KitStatus("stale", ["the vault lost the kit's fingerprint key"], kit)
        from controlplane.backup.policy import load_policies
        from controlplane.inventory import load_inventory

        inventory = inventory or load_inventory(Path(config.inventory))
        policy = load_policies(Path(config.backup), inventory)
        now = contents.summary(contents.gather(config, store, vault, policy, inventory), key)
    except EgovError as error:
        return KitStatus("stale", [error.message.splitlines()[0]], kit)
    recorded = kit.get("summary") or {}
    if now == recorded:
        return KitStatus("current", kit=kit)
    return KitStatus("stale", contents.differences(recorded, now), kit)
