"""The bootstrap's maintenance window: bringing a bare lab up is planned work, not an outage.

While the bootstrap provisions a lab that never had its services, the
monitor in ``egov serve`` sees them all down: that is true, but it is the
network being built, not failing. So the bootstrap declares a planned
maintenance window (:mod:`controlplane.slo.maintenance`) over each top site
of the inventory (which covers every site below it) for as long as it runs:
the error budgets leave it out and its alerts are silenced, and whatever
still fails once the window ends alerts as usual. The window starts
:data:`LEAD` before the bootstrap, to cover ``egov serve`` starting just
before it (``make run``), and is ended when the bootstrap ends; should the
process die, it ends by itself after :data:`LONGEST`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from controlplane.errors import EgovError
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)

# Within the maintenance module's "still now" tolerance for a start in the past (2 minutes).
LEAD = dt.timedelta(seconds=90)
LONGEST = dt.timedelta(hours=2)


def open_windows(config: Config, store: Store, *, actor: str, run_id: int) -> list[int]:
    """Declare the window over every top site; return the window ids (none when monitoring is not set up).

    A monitoring folder that does not load is the console's to report: the
    bootstrap goes on without a window.
    """
    from controlplane.slo.maintenance import add_window
    from controlplane.slo.site import load_levels

    try:
        levels = load_levels(config)
    except EgovError as error:
        log.warning("no maintenance window for the bootstrap: %s", error.message)
        return []
    now = utcnow()
    roots = sorted(name for name, site in levels.inventory.sites.items() if site.parent is None)
    reason = f"egov bootstrap run {run_id}: the lab is being provisioned, hardened and backed up for the first time"
    made = []
    for site in roots:
        window = add_window(store, levels.slo, levels.inventory, site=site, starts_at=now - LEAD,
                            ends_at=now + LONGEST, reason=reason, actor=actor, now=now)  # fmt: skip
        made.append(int(window["id"]))
    return made


def close_windows(store: Store, window_ids: list[int], *, actor: str) -> None:
    """End the bootstrap's windows now (one already over is left as it is)."""
    from controlplane.errors import BadInputError
    from controlplane.slo.maintenance import end_window

    for window_id in window_ids:
        try:
            end_window(store, window_id, actor=actor)
        except BadInputError as error:
            log.info("maintenance window %s: %s", window_id, error.message)
