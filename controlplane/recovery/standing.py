"""A restored control plane's standing: passive beside a live original, active once it is the only one.

``egov recover`` writes ``recovery.standing`` into the restored store:

* ``passive``: it answers (console, API, CLI) but runs no schedule and no
  probe, so two control planes never back up, probe or alert on the same
  hosts. It becomes ``active`` when told (``egov recover --activate``,
  audited) or when the original's lease, as witnessed on the backup centers
  (:mod:`.witness`), has lapsed (audited as the system's decision);
* ``drill``: a drill's copy, passive whatever the lease says, torn down after;
* ``active``: it runs everything, as the original did.

A store without the setting is an ordinary control plane (active).
:func:`may_lead` is what the leader election asks before a process takes
the scheduler and the monitor; the console's banner shows :func:`banner`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)
STANDING_SETTING = "recovery.standing"
MODES = ("passive", "drill", "active")
CHECK_SECONDS = 15.0


@dataclass(frozen=True)
class Standing:
    """The mode, why, since when, and what the recovery restored."""

    mode: str
    reason: str
    since: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "reason": self.reason, "since": self.since, "details": self.details}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(store: Store) -> Standing | None:
    """The standing of a restored store (None: an ordinary control plane, never restored)."""
    from controlplane.store.models import Setting

    with store.session() as session:
        row = session.get(Setting, STANDING_SETTING)
        if row is None:
            return None
        data = json.loads(row.value)
    return Standing(data["mode"], data.get("reason", ""), data.get("since", ""), data.get("details") or {})


def write(store: Store, standing: Standing) -> None:
    """Record a standing (one settings row)."""
    from controlplane.store.models import Setting

    if standing.mode not in MODES:
        raise ValueError(standing.mode)
    text = json.dumps(standing.as_dict(), sort_keys=True)
    with store.session() as session:
        row = session.get(Setting, STANDING_SETTING)
        if row is None:
            session.add(Setting(key=STANDING_SETTING, value=text))
        else:
            row.value = text


def may_lead(store: Store) -> bool:
    """Whether this store's processes may run the scheduler and the monitor (not while passive)."""
    standing = read(store)
    return standing is None or standing.mode == "active"


def activate(store: Store, *, actor: str, reason: str, client: str = "local") -> Standing:
    """Make a passive restored copy active and audit it.

    Raises BadInputError for a drill's copy or one already active.
    """
    from controlplane import audit

    standing = read(store)
    if standing is None or standing.mode == "active":
        raise BadInputError("this control plane is already active")
    if standing.mode == "drill":
        raise BadInputError("a drill's copy is never activated: it is torn down when the drill ends")
    active = Standing("active", reason, _now(), {**standing.details, "passive_since": standing.since})
    write(store, active)
    audit.append(store, actor=actor, action="recovery.activate", target="controlplane", client=client,
                 details={"reason": reason, "passive_since": standing.since})  # fmt: skip
    return active


def check_lease(config: Config, store: Store, now: dt.datetime | None = None) -> Standing | None:
    """Read the original's lease witness; activate a passive copy whose original's lease lapsed. Returns it."""
    from . import witness

    standing = read(store)
    if standing is None or standing.mode != "passive":
        return standing
    now = now or dt.datetime.now(dt.UTC)
    found, notes = witness.read(config, store)
    state, newest = witness.verdict(found, now)
    seen = {"lease": state, "witness": witness.summary(newest), "notes": notes, "checked_at": _now()}
    if state == "lapsed" and newest is not None:
        reason = (
            f"the original's lease (held by {newest.holder}, witnessed on {newest.center}) lapsed at "
            f"{newest.expires_at:%Y-%m-%d %H:%M:%S}Z"
        )
        active = activate(store, actor="system", reason=reason)
        from .activation import after_activation

        after_activation(config, store)
        return read(store) or active
    updated = Standing(standing.mode, standing.reason, standing.since, {**standing.details, "seen": seen})
    write(store, updated)
    return updated


class LeaseWatcher:
    """A passive copy's ``egov serve`` thread: checks the lease every :data:`CHECK_SECONDS`, calls back once active."""

    def __init__(
        self,
        config: Config,
        store: Store,
        on_active: Callable[[], object] | None = None,
        interval: float = CHECK_SECONDS,
    ) -> None:
        self.config, self.store, self.on_active, self.interval = config, store, on_active, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="egov-lease-watch", daemon=True)

    def start(self) -> LeaseWatcher:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                standing = check_lease(self.config, self.store)
            except Exception:  # a center that misbehaves must not end the watch
                log.exception("lease check failed")
                standing = read(self.store)
            if standing is None or standing.mode == "active":
                if self.on_active is not None:
                    self.on_active()
                return
            if standing.mode == "drill":
                return
            self._stop.wait(max(1.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def banner(standing: Standing | None, lang: str = "en") -> dict[str, str] | None:
    """The console's banner for a restored copy (None for an ordinary control plane): level and text."""
    if standing is None:
        return None
    seen = standing.details.get("seen") or {}
    lease = seen.get("lease")
    holder = (seen.get("witness") or {}).get("holder", "")
    until = (seen.get("witness") or {}).get("expires_at", "")[:19]
    restored = standing.details.get("snapshot_time", "")[:19]
    zh = lang.startswith("zh")
    if standing.mode == "drill":
        text = (
            "演练副本：只读演练，不调度、不探测，演练结束即拆除"
            if zh
            else "DRILL COPY: a recovery drill's restored control plane; it schedules and probes nothing and is "
            "torn down when the drill ends"
        )
        return {"level": "drill", "text": f"{text} ({restored}Z)"}
    if standing.mode == "passive":
        if lease == "held":
            why = (
                f"原控制平面的租约仍由 {holder} 持有至 {until}Z"
                if zh
                else f"the original's lease is held by {holder} until {until}Z"
            )
        else:
            why = "看不到原控制平面的租约" if zh else "the original's lease cannot be seen on the backup centers"
        text = (
            "被动：已从备份恢复，不调度、不探测，直到执行 `egov recover --activate` 或原租约过期；"
            if zh
            else "PASSIVE: restored from backup; no schedules or probes run until `egov recover --activate` or "
            "the original's lease lapses; "
        )
        return {"level": "passive", "text": text + why}
    text = ("已激活（恢复的控制平面）：" if zh else "ACTIVE (restored control plane): ") + standing.reason
    return {"level": "active", "text": f"{text} ({standing.since})"}
