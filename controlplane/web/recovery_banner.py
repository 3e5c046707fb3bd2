"""The console's recovery banner: a restored copy's standing for everyone, a stale kit for administrators.

Registered as the template global ``recovery_banner()`` (base.html shows it
on every page, the login page too, so whoever reaches a restored console
sees at once that it is passive, a drill's copy, or active and why). The
standing is one settings read, kept five seconds per process; the kit's
status (:mod:`controlplane.recovery.status`, a few vault reads and the policy
files) is computed for users who may manage users, kept a minute.

It lives in the console (it reads the request's user and the app's state);
the recovery engine only says what the standing and the kit's status are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, g

from controlplane.recovery.standing import banner, read
from controlplane.web.policy import allowed
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.recovery.status import KitStatus

STANDING_SECONDS = 5.0
KIT_SECONDS = 60.0


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, tuple[float, Any]] = {}

    def get(self, name: str, seconds: float, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self.lock:
            found = self.values.get(name)
        if found is not None and now - found[0] < seconds:
            return found[1]
        value = compute()
        with self.lock:
            self.values[name] = (now, value)
        return value


def register(app: Flask) -> None:
    """Add ``recovery_banner()`` to the app's templates."""
    cache = _Cache()

    def recovery_banner() -> dict[str, str] | None:
        lang = str(app.jinja_env.globals["lang_tag"]())  # type: ignore[operator]
        site = state()
        shown = banner(cache.get("standing", STANDING_SECONDS, lambda: read(site.store)), lang)
        user = g.get("egov_user")
        if shown is not None or user is None or g.get("egov_stage") != "full" or not allowed(user.role, "users.manage"):
            return shown
        from controlplane.recovery.status import kit_status  # vault and policy reads: only when shown

        def compute() -> KitStatus | None:
            try:
                return kit_status(site.config, site.store, site.vault, site.inventory)
            except Exception:  # a broken vault or inventory shows elsewhere; the banner must not break pages
                return None

        found = cache.get("kit", KIT_SECONDS, compute)
        if found is not None and found.state in ("stale", "used"):
            return {"level": "stale", "text": found.sentence()}
        return None

    app.jinja_env.globals["recovery_banner"] = recovery_banner
