"""The provision/harden run page in chromium: per-host counters update live from the store.

A real ``egov serve`` and Debian's chromium (the browser suite's fixtures,
tests/browser/fixtures.py). The run is a harden run row made by this test
process, and its per-host task results are written into the console's store
as the engine writes them while ansible runs; the page (static/automation.js,
no inline script) must show each change without a reload, then the final
recap. The real engine against the lab is tested in test_console_on_lab.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect

from tests.browser.fixtures import Browser, Console, log_in, screenshot

pytestmark = pytest.mark.browser
HOSTS = ["gd-edu-1", "gd-school-1"]


@pytest.fixture
def site_store(console: Console) -> Iterator[Any]:
    """The console's store, opened by this process (SQLite: the same file the console reads)."""
    from controlplane.config import load_config
    from controlplane.store import open_store

    store = open_store(load_config(console.site / "egov.yml"))
    yield store
    store.close()


def add_result(store: Any, run_id: int, host: str, task: str, status: str) -> None:
    """Store one task result as the engine does while the run goes."""
    from controlplane.automation.models import HostTaskResult

    with store.session() as session:
        session.add(
            HostTaskResult(
                run_id=run_id,
                host=host,
                task=task,
                role="harden_ssh",
                status=status,
                changed=status == "changed",
                controls=[],
                message="",
            )
        )


def test_the_run_page_updates_each_hosts_counters_live_then_shows_the_recap(
    console: Console,
    open_browser: Callable[..., Browser],
    site_store: Any,
) -> None:
    from controlplane.automation.models import HostRunStats
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import Run, RunStatus

    with site_store.session() as session:
        run_id = create_run(
            session,
            kind="harden",
            target="gd-*",
            actor="ops1@console",
            trigger="console",
            site="province-gd",
            params={"hosts": HOSTS, "limit": "gd-*"},
            dry_run=True,
        ).id
    browser = open_browser("en-US")
    page = browser.page()
    log_in(page, "ops1", console.passwords["ops1"])
    page.goto(f"/automation/runs/{run_id}")
    table = page.locator("#host-progress")
    expect(table).to_have_attribute("data-progress", f"/automation/runs/{run_id}/progress")
    school = page.locator('#host-progress tr[data-host="gd-school-1"]')
    edu = page.locator('#host-progress tr[data-host="gd-edu-1"]')
    expect(school.locator('[data-field="state"] span')).to_have_attribute("data-state", "waiting")

    add_result(site_store, run_id, "gd-school-1", "sshd: no root password login", "ok")
    add_result(site_store, run_id, "gd-school-1", "sshd: ciphers", "changed")
    expect(school.locator('[data-field="state"] span')).to_have_attribute("data-state", "running")
    expect(school.locator('[data-field="ok"]')).to_have_text("2")
    expect(school.locator('[data-field="changed"]')).to_have_text("1")
    expect(school.locator('[data-field="last_task"]')).to_have_text("sshd: ciphers")
    add_result(site_store, run_id, "gd-edu-1", "Gathering Facts", "unreachable")
    expect(edu.locator('[data-field="state"] span')).to_have_attribute("data-state", "unreachable")
    expect(edu.locator('[data-field="unreachable"]')).to_have_text("1")
    screenshot(page, "automation-run-live")

    with site_store.session() as session:
        session.add(HostRunStats(run_id=run_id, host="gd-school-1", ok=2, changed=1, outcome="changed"))
        session.add(HostRunStats(run_id=run_id, host="gd-edu-1", unreachable=1, outcome="unreachable"))
        finish_run(session, session.get(Run, run_id), RunStatus.PARTIAL, exit_code=4)
    expect(page.locator("#run-status")).to_contain_text("Partly succeeded", timeout=60_000)
    expect(school.locator('[data-field="state"] span')).to_have_attribute("data-state", "changed")
    expect(page.locator("#host-progress")).not_to_have_attribute("data-progress", f"/automation/runs/{run_id}/progress")
    # No CSP violation, failed script or missing asset.
    assert not browser.console_errors, browser.console_errors
