"""failover-portal and failback-portal on the lab's real portal hosts, through the real VIP."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.integration.runbook.cli import egov
from tests.integration.runbook.conftest import (
    PORTAL_PARAMS,
    PRIMARY,
    STANDBY,
    VIP,
    RunbookSite,
    http_body,
    wait_for,
)

pytestmark = [pytest.mark.root, pytest.mark.lab]


class Poller:
    """An HTTP client polling the VIP at 20 Hz in a thread, keeping (time, body) pairs."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.seen: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.seen.append((time.monotonic(), http_body(VIP, timeout=0.5)))
            self._stop.wait(self.interval)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def bodies(self) -> list[str | None]:
        return [body for _at, body in self.seen]


def execute(site: RunbookSite, name: str, mode: str, **kwargs: Any) -> Any:
    """Execute a shipped runbook in-process against the lab."""
    from controlplane.inventory import load_inventory
    from controlplane.runbook.engine import execute as run_engine
    from controlplane.runbook.loader import get_runbook
    from controlplane.store import open_store

    store = open_store(site.config)
    try:
        params = {**PORTAL_PARAMS, **kwargs.pop("params", {})}
        runbook = get_runbook(site.config.runbooks, name)
        inventory = load_inventory(site.config.inventory)
        return run_engine(
            site.config, store, inventory, runbook, mode=mode, params=params, actor="tester", confirmed=True, **kwargs
        )
    finally:
        store.close()


def test_a_drill_of_failover_portal_shows_the_standby_through_the_vip_then_restores_the_primary(
    portal: RunbookSite,
) -> None:
    holders_at_verify: list[list[str]] = []

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "end" and event["phase"] == "verify":
            holders_at_verify.append(portal.vip_holders())

    with Poller() as poller:
        result = execute(portal, "failover-portal", "drill", listener=listener)
        time.sleep(0.3)
    assert result.status == "succeeded", result.error
    assert holders_at_verify == [[STANDBY]]
    bodies = poller.bodies()
    assert portal.content[STANDBY] in bodies  # a client polling the VIP saw the standby's content
    assert bodies[-1] == portal.content[PRIMARY]  # and the drill ended with the primary serving again
    assert portal.vip_holders() == [PRIMARY]
    assert 0 < result.figures["rto_seconds"] < result.figures["rto_objective_seconds"]
    assert result.figures["rto_met"] is True


def test_failover_then_failback_through_the_cli_restores_the_original_state(portal: RunbookSite) -> None:
    over = egov(portal.config_path, "runbook", "run", "failover-portal", "--yes")
    assert over.returncode == 0, over.stdout + over.stderr
    assert portal.vip_holders() == [STANDBY]
    assert wait_for(lambda: http_body(VIP) == portal.content[STANDBY])
    back = egov(portal.config_path, "runbook", "run", "failback-portal", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    assert portal.vip_holders() == [PRIMARY]
    assert wait_for(lambda: http_body(VIP) == portal.content[PRIMARY])
    history = json.loads(egov(portal.config_path, "runbook", "history", "--json").stdout)
    assert [(row["runbook"], row["mode"], row["status"]) for row in history] == [
        ("failback-portal", "run", "succeeded"),
        ("failover-portal", "run", "succeeded"),
    ]


def test_a_real_run_without_confirmation_is_refused_and_changes_nothing(portal: RunbookSite) -> None:
    result = egov(portal.config_path, "runbook", "run", "failover-portal")
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert portal.vip_holders() == [PRIMARY]
