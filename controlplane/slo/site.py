"""The objectives of one site configuration: the monitoring spec, slo.yml and the inventory, loaded together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.slo.spec import Service, SloSpec, load_slo

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.monitoring.spec import MonitoringSpec


@dataclass(frozen=True)
class SiteLevels:
    """What every service-level command needs: the site's objectives and its inventory."""

    monitoring: MonitoringSpec
    slo: SloSpec
    inventory: Inventory

    def services_for(self, site: str | None = None, allows: object = None) -> list[Service]:
        """The services of ``site`` and the sites below it (all when None) that ``allows(site)`` admits."""
        below = self.inventory.site_and_descendants(site) if site else None
        check = getattr(allows, "allows", None)
        return [s for s in self.slo.services if (below is None or s.site in below) and (check is None or check(s.site))]


def load_levels(config: Config, inventory: Inventory | None = None, *, strict: bool = True) -> SiteLevels:
    """Load the site's monitoring folder, slo.yml and inventory.

    Raises ConfigError (exit 2) for a broken monitoring file or slo.yml,
    listing every problem at once.
    """
    from controlplane.monitoring.spec_loader import load_monitoring

    if inventory is None:
        from controlplane.inventory import load_inventory

        inventory = load_inventory(config.inventory)
    monitoring = load_monitoring(config.monitoring)
    return SiteLevels(monitoring, load_slo(config.monitoring, monitoring, inventory, strict=strict), inventory)
