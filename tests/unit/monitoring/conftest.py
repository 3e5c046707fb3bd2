"""Fixtures for the monitoring unit tests: a site with receivers, its store, a monitor factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, write_config
from tests.unit.monitoring.helpers import make_spec

RECEIVERS = [
    {"name": "oncall", "type": "webhook", "url": "http://127.0.0.1:9/alerts", "token": "secret:HOOK_TOKEN"},
    {"name": "lead", "type": "webhook", "url": "http://127.0.0.1:9/lead"},
    {"name": "webhook", "type": "webhook", "url": "http://127.0.0.1:9/other", "send_resolved": False},
]


class Recorder:
    """A sender that records payloads, failing the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.attempts = 0

    def __call__(self, receiver: Any, payload: dict[str, Any], resolve: Any, timeout: float) -> None:
        from controlplane.monitoring.receivers import DeliveryError

        self.attempts += 1
        if self.attempts <= self.failures:
            raise DeliveryError("http://127.0.0.1:9: connection refused")
        self.calls.append((receiver.name, payload))


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A loaded Config with three webhook receivers (state in tmp_path)."""
    from controlplane.config import load_config
    from controlplane.vault import create_key_file

    # The site's own monitoring folder (empty until a test writes it): never the repository's.
    folders = {
        "inventory": str(REPO / "inventory" / "lab.yml"),
        "monitoring": str(tmp_path / "site-monitoring"),
        "runbooks": str(REPO / "runbooks"),
    }
    config = load_config(write_config(tmp_path, receivers=RECEIVERS, folders=folders))
    create_key_file(config.key_file)
    return config


@pytest.fixture
def site_store(site):  # type: ignore[no-untyped-def]
    """The migrated store of ``site``."""
    from controlplane.store import open_store

    store = open_store(site)
    yield store
    store.close()


@pytest.fixture
def monitor_factory(site, site_store, tmp_path: Path) -> Iterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
    """Build Monitors on the same store (a second one is a restart), with a recording sender."""
    from controlplane.inventory import load_inventory
    from controlplane.monitoring.delivery import Backoff
    from controlplane.monitoring.service import Monitor

    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    made: list[Any] = []

    def build(recorder: Recorder, **files: Any) -> Any:
        spec = make_spec(tmp_path / "monitoring", **files)
        monitor = Monitor(site, site_store, spec=spec, inventory=inventory, pool=object(),
                          resolve=lambda ref: "token-value", senders={"webhook": recorder},
                          backoff=Backoff(base=1.0, cap=8.0, give_up_after=3600))  # fmt: skip
        made.append(monitor)
        return monitor

    yield build
    for monitor in made:
        monitor.close()
