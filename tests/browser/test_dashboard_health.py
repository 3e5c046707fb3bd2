"""The dashboard's health picture in chromium: a green school, and a red province once its stored state says
a service fails; the badge of the failing dimension leads to that site's page. No script, no CSP error.

A console of its own (``egov serve``) on a site whose monitoring and backup
folders are empty, so nothing probes or backs up the shared lab while the
test writes the state it wants into the store: the monitor's latest probe
results and a compliance scan, as the engines store them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.fixtures import Browser, _start, _stop, launch, log_in, screenshot
from tests.conftest import REPO, egov, write_config

pytestmark = pytest.mark.browser

# name -> (role, sites, password): a ministry-level operator (every site) and one of province-gd.
USERS = {
    "ministry-ops": ("operator", [], "ministry operator pw 1"),
    "gd-ops": ("operator", ["province-gd"], "province operator pw 1"),
}
HOSTS = {"gd-school-1": "school-gd-1", "gd-edu-1": "province-gd", "gd-gw-1": "province-gd"}


@pytest.fixture(scope="module")
def health_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`egov serve` on a fresh site with empty monitoring and backup folders; yields (URL, site folder)."""
    site = tmp_path_factory.mktemp("health-site")
    folders = {name: str(REPO / name) for name in ("playbooks", "runbooks")}
    folders["inventory"] = str(REPO / "inventory" / "lab.yml")
    for name in ("monitoring", "backup"):
        (site / name).mkdir()
        folders[name] = str(site / name)
    write_config(site, folders=folders)
    assert egov(site, "init").returncode == 0
    for name, (role, sites, password) in USERS.items():
        args = ["users", "add", name, "--role", role] + [word for one in sites for word in ("--site", one)]
        assert egov(site, *args, stdin=password).returncode == 0
    process, url = _start(site)
    try:
        yield url, site
    finally:
        assert _stop(process) == 0
        log = (site / "serve.log").read_text()
        assert "Traceback" not in log, log


def store_state(site: Path, failing_service: bool) -> None:
    """Every gd host (the gateway too) up and scanned clean; gd-edu-1's office service passes or fails its probe."""
    from controlplane.compliance.models import ComplianceResult, ComplianceScan
    from controlplane.config import load_config
    from controlplane.monitoring.models import ProbeLatest
    from controlplane.store import open_store
    from controlplane.store.models import utcnow

    store = open_store(load_config(site / "egov.yml"))
    try:
        now = utcnow()
        with store.session() as session:
            for host, host_site in HOSTS.items():
                for check, kind in (("ssh", "ssh"), ("health", "health")):
                    session.merge(ProbeLatest(check=check, host=host, site=host_site, role="x", type=kind,
                                              success=True, duration=0.01, message="", samples=[], at=now))  # fmt: skip
            session.merge(ProbeLatest(check="office-http", host="gd-edu-1", site="province-gd", role="office",
                                      type="http", success=not failing_service, duration=0.2,
                                      message="HTTP 502" if failing_service else "", samples=[], at=now))  # fmt: skip
            scan = ComplianceScan(
                catalog_version="t", scope="all sites", hosts={h: {"site": s} for h, s in HOSTS.items()}
            )
            session.add(scan)
            session.flush()
            for host, host_site in HOSTS.items():
                session.add(ComplianceResult(scan_id=scan.id, host=host, site=host_site, control_id="ssh.root",
                                             severity="high", status="pass"))  # fmt: skip
    finally:
        store.close()


def node(page: Any, site: str) -> Any:
    return page.locator(f'svg.health-tree g.site-node[data-site="{site}"]')


def test_the_picture_shows_a_green_school_and_a_red_province_whose_service_fails(
    playwright: Any, health_console: tuple[str, Path], tmp_path: Path
) -> None:
    url, site = health_console
    store_state(site, failing_service=True)
    browser: Browser = launch(playwright, tmp_path / "profile", url, "en-US")
    try:
        page = browser.page()
        log_in(page, "ministry-ops", USERS["ministry-ops"][2])
        expect(page.locator("svg.health-tree")).to_be_visible()
        expect(node(page, "school-gd-1")).to_have_attribute("data-health", "ok")
        expect(node(page, "province-gd")).to_have_attribute("data-health", "bad")
        expect(node(page, "ministry")).to_be_visible()  # the tree starts at the ministry for a ministry user
        failing = node(page, "province-gd").locator('a.badge[data-dimension="probes"]')
        expect(failing).to_have_attribute("data-state", "bad")
        expect(page.locator(".health-answer")).to_contain_text("1 failing")
        box = node(page, "province-gd").bounding_box()
        assert box is not None and box["width"] > 60  # drawn at a readable size, not a dot
        screenshot(page, "dashboard-health-red-province")
        failing.click()
        expect(page).to_have_url(f"{url}/monitoring?site=province-gd")
        assert not browser.console_errors, browser.console_errors  # a CSP violation is logged as an error
    finally:
        browser.context.close()
    assert not browser.blocked, browser.blocked


def test_a_provincial_user_sees_the_province_subtree_turn_green_once_the_service_passes(
    playwright: Any, health_console: tuple[str, Path], tmp_path: Path
) -> None:
    url, site = health_console
    store_state(site, failing_service=False)
    browser: Browser = launch(playwright, tmp_path / "profile", url, "zh-CN")
    try:
        page = browser.page()
        log_in(page, "gd-ops", USERS["gd-ops"][2])
        expect(node(page, "province-gd")).to_have_attribute("data-health", "ok")
        expect(node(page, "school-gd-1")).to_have_attribute("data-health", "ok")
        expect(page.locator("svg.health-tree g.site-node")).to_have_count(2)  # no ministry, no other site
        expect(page.locator("#health-title")).to_have_text("运行状况一览")
        screenshot(page, "dashboard-health-province-zh")
        assert not browser.console_errors, browser.console_errors
    finally:
        browser.context.close()
