"""Fixtures of the service-level tests: a site whose monitoring folder has one portal objective, its store, a monitor.

Time is controlled: results carry the times the test gives them and the
monitor is evaluated at those times, so every figure is exact. T0 is the
start of November 2026 in Beijing time (the objectives' time zone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, write_config

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.UTC)
MONTH = "2026-11"
PORTAL = "mn-portal-1"
PROBES = {
    "probes": [
        {"name": "portal-http", "type": "http", "select": {"roles": ["portal"]}, "url": "http://{address}/",
         "interval": "10s", "timeout": "2s"},
        {"name": "ssh", "type": "ssh", "interval": "10s", "timeout": "2s"},
    ]
}  # fmt: skip
RULES = {
    "rules": [
        {"alert": "PortalHTTPDown", "probe": "portal-http", "for": "20s", "severity": "critical",
         "annotations": {"summary": "portal on {host} fails"}},
    ]
}  # fmt: skip
ALERTING = {"route": {"receiver": "oncall", "group_wait": "0s", "group_interval": "1m", "repeat_interval": "4h"}}
SLO = {
    "defaults": {"objective": 99.9, "slice": "10s", "timezone": "Asia/Shanghai"},
    "services": [
        {"name": "portal", "title": {"zh": "教育门户", "en": "Education portal"}, "site": "ministry",
         "checks": [{"probe": "portal-http", "hosts": [PORTAL]}], "public": True},
        {"name": "backup-center", "title": {"zh": "数据备份中心", "en": "Backup center"}, "site": "backup-center",
         "checks": [{"probe": "ssh", "hosts": ["bc-backup-1"]}]},
    ],
}  # fmt: skip


def at(seconds: float) -> dt.datetime:
    """T0 plus ``seconds``."""
    return T0 + dt.timedelta(seconds=seconds)


def write_folder(folder: Path, slo: dict[str, Any] | None = None, **files: Any) -> Path:
    """Write the monitoring folder (probes, rules, alerting, slo) with ``files`` replacing some documents."""
    folder.mkdir(parents=True, exist_ok=True)
    documents = {"probes": PROBES, "rules": RULES, "alerting": ALERTING, "slo": SLO if slo is None else slo, **files}
    for name, document in documents.items():
        if document is not None:
            (folder / f"{name}.yml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def lab_inventory() -> Any:
    """The lab inventory, loaded once."""
    from controlplane.inventory import load_inventory

    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture
def site(tmp_path: Path) -> Any:
    """A Config whose monitoring folder holds the portal objective, with one webhook receiver."""
    from controlplane.config import load_config
    from controlplane.vault import create_key_file

    folders = {
        "inventory": str(REPO / "inventory" / "lab.yml"),
        "monitoring": str(write_folder(tmp_path / "monitoring")),
        "runbooks": str(REPO / "runbooks"),
    }
    receivers = [{"name": "oncall", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]
    config = load_config(write_config(tmp_path, folders=folders, receivers=receivers))
    create_key_file(config.key_file)
    return config


@pytest.fixture
def store(site: Any) -> Iterator[Any]:
    """The migrated store of ``site``."""
    from controlplane.store import open_store

    opened = open_store(site)
    yield opened
    opened.close()


@pytest.fixture
def levels(site: Any, lab_inventory: Any) -> Any:
    """The site's objectives (strict, as the commands load them)."""
    from controlplane.slo.site import load_levels

    return load_levels(site, lab_inventory)


@pytest.fixture
def monitor(site: Any, store: Any, lab_inventory: Any) -> Iterator[Any]:
    """A Monitor of the site (no SSH pool, a sender that drops messages)."""
    from controlplane.monitoring.service import Monitor

    made = Monitor(site, store, inventory=lab_inventory, pool=object(), resolve=lambda ref: "x",
                   senders={"webhook": lambda *args: None})  # fmt: skip
    yield made
    made.close()


def portal_result(ok: bool, when: dt.datetime, host: str = PORTAL) -> Any:
    """A portal-http result of ``host`` at ``when``."""
    from controlplane.monitoring.results import ProbeResult

    return ProbeResult("portal-http", "http", host, "ministry", "portal", ok, 0.01, "200" if ok else "refused", at=when)


def drive(monitor: Any, steps: Iterable[tuple[float, bool | None]], evaluate_delay: float = 3.0) -> None:
    """Record one portal result per step at T0 + seconds (None: nobody probed) and evaluate ``evaluate_delay`` after.

    The monitor's own evaluation runs the service-level hook (rollup, burn
    rates, incidents) with the same clock.
    """
    for seconds, ok in steps:
        if ok is None:
            continue
        monitor.record([portal_result(ok, at(seconds))])
        monitor.evaluate(at(seconds + evaluate_delay))


def timeline(end: float, state: Callable[[float], bool | None], step: float = 10.0) -> list[tuple[float, bool | None]]:
    """Steps every ``step`` seconds from 0 to ``end`` with the state the function gives."""
    count = int(end // step)
    return [(index * step, state(index * step)) for index in range(count)]
