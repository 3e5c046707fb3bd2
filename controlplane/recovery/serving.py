"""``egov serve`` on a restored copy: the scheduler and the monitor wait while the copy is passive.

:class:`Background` is what ``egov serve`` starts its scheduler and monitor
through (today: the leader elector, which runs them while it holds the
lease). On an ordinary control plane, or an active restored one, it starts
them at once. On a passive copy it starts a :class:`~.standing.LeaseWatcher`
instead, and starts them only once the copy becomes active (activated, or
the original's lease lapsed); a drill's copy never starts them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .standing import LeaseWatcher, may_lead, read

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.leader import Elector
    from controlplane.store import Store

log = logging.getLogger(__name__)


class Background:
    """Starts the scheduler and monitor now, or when a passive copy becomes active; knows what it started."""

    def __init__(self, config: Config, store: Store, start: Callable[[], Elector]) -> None:
        self.config, self.store, self._start = config, store, start
        self.started: Elector | None = None
        self.watcher: LeaseWatcher | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def begin(self) -> str:
        """Start now, or watch; return what happened (``started``, ``passive`` or ``drill``)."""
        if may_lead(self.store):
            self._start_now()
            return "started"
        standing = read(self.store)
        if standing is not None and standing.mode == "drill":
            return "drill"
        self.watcher = LeaseWatcher(self.config, self.store, on_active=self._start_now).start()
        return "passive"

    def _start_now(self) -> None:
        with self._lock:
            if self._stopped or self.started is not None:
                return
            self.started = self._start()
        log.warning("this control plane is active: the scheduler and the monitor run")

    def describe(self) -> str:
        """The standing in a few words, for ``egov serve``'s log."""
        standing = read(self.store)
        return "active" if standing is None else f"{standing.mode} ({standing.reason})"

    def stop(self) -> Elector | None:
        """Stop watching; return what was started for the caller to stop (None when never started)."""
        with self._lock:
            self._stopped = True
        if self.watcher is not None:
            self.watcher.stop()
        return self.started
