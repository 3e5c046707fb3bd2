"""Which backup center is active: the persisted switch of ``backup-center-failover``.

The policy names a ``primary`` and optionally a ``secondary`` center. Backups,
checks, prunes, restores and drills go to the **active** one: the primary,
unless an operator (or the ``backup-center-failover`` runbook) switched to
the secondary because the data backup center is lost. The choice is one row
of the store's ``settings`` table (key :data:`SETTING_KEY`), so the
console, the CLI and the scheduler (each its own process) all honour it and
it survives restarts. Every switch is audited; switching back is the same
call with ``primary``.

Off-site copies (``restic copy``) run only while the primary is active: they
copy *from* the primary, which a failover says is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.errors import BadInputError
from controlplane.store.models import Setting

from .records import audit_event

if TYPE_CHECKING:
    from controlplane.store import Store

    from .policy import Policy

SETTING_KEY = "backup.active_center"
CENTER_NAMES = ("primary", "secondary")


def active_center(store: Store | None) -> str:
    """Return the active center's name (``primary`` or ``secondary``); ``primary`` when never switched (or no store)."""
    if store is None:
        return "primary"
    with store.session() as session:
        row = session.get(Setting, SETTING_KEY)
        value = row.value if row is not None else "primary"
    return value if value in CENTER_NAMES else "primary"


def set_active_center(store: Store, policy: Policy, name: str, *, actor: str) -> str:
    """Make ``name`` the active center; return the previously active one.

    One settings row, read by every process, so the console, the CLI and the
    scheduler switch together; audited as ``backup.center.switch``. Raises
    BadInputError for an unknown name or a center the policy does not define.
    """

    if name not in CENTER_NAMES:
        raise BadInputError(f"unknown backup center {name!r} (use primary or secondary)")
    center = getattr(policy, name)
    if center is None:
        raise BadInputError(f"the backup policy defines no {name} center (centers.{name} in backup/*.yml)")
    previous = active_center(store)
    with store.session() as session:
        row = session.get(Setting, SETTING_KEY)
        if row is None:
            session.add(Setting(key=SETTING_KEY, value=name))
        else:
            row.value = name
    audit_event(store, actor, "backup.center.switch", f"center:{name}", "ok", previous=previous, host=center.host)
    return previous
