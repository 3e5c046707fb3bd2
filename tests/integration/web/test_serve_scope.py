"""Site scope against a served `egov serve`: a province operator's runbook start and host pages.

The province operator ``ops1`` (operator, province-gd) asks the real server
to restore the ministry portal's dataset onto a province host: 403 from the
console form and from the API, and no run row. The host page and its API
twins of a province host list no national run and name no other site's
host. Nothing leaves the machine: the server binds 127.0.0.1 and the only
run started is a dry run, which touches no host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import egov, write_config
from tests.integration.web.test_serve_console import PASSWORD, login, start_console, stop_console

OTHER_SITES = ("mn-", "dr-", "bc-backup")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A site with ops1 (operator, province-gd) and, in its store, a national harden that touched every host."""
    from controlplane.automation.models import HostRunStats
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.runs import create_run, finish_run
    from controlplane.store import open_store

    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    added = egov(tmp_path, "users", "add", "ops1", "--role", "operator", "--site", "province-gd", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    config = load_config(tmp_path / "egov.yml")
    every = [host.name for host in load_inventory(config.inventory).hosts]
    store = open_store(config)
    try:
        with store.session() as session:
            run = create_run(session, kind="harden", target="all", actor="root@console", params={"hosts": every})
            finish_run(session, run, "failed", summary={"message": "mn-db-1 failed"}, exit_code=1)
            for name in every:
                session.add(HostRunStats(run_id=run.id, host=name, ok=2, outcome="ok"))
    finally:
        store.close()
    yield tmp_path


def csrf(session: requests.Session, url: str, path: str) -> str:
    page = session.get(f"{url}{path}", timeout=10).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def runbook_runs(site: Path) -> list[dict[str, Any]]:
    listed = egov(site, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [run for run in json.loads(listed.stdout) if run["kind"] == "runbook"]


def test_a_served_console_refuses_another_provinces_source_host_and_creates_no_run(site: Path) -> None:
    process, url = start_console(site)
    try:
        session = requests.Session()
        assert login(session, url, timeout=10).status_code == 302
        token = csrf(session, url, "/runbooks/restore-to-dr")
        form = session.post(
            f"{url}/runbooks/restore-to-dr/start",
            data={
                "csrf_token": token,
                "mode": "dry-run",
                "param_source_host": "mn-portal-1",
                "param_target_host": "gd-edu-1",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert form.status_code == 403
        api = session.post(
            f"{url}/api/v1/runbooks/restore-to-dr/start",
            json={"mode": "dry-run", "params": {"source_host": "mn-portal-1", "target_host": "gd-edu-1"}},
            headers={"X-CSRF-Token": token},
            timeout=10,
        )
        assert api.status_code == 403 and api.json()["error"]["code"] == "forbidden"
        assert runbook_runs(site) == []
        # Within the province the same start goes through.
        mine = session.post(
            f"{url}/api/v1/runbooks/restore-to-dr/start",
            json={"mode": "dry-run", "params": {"source_host": "gd-school-1", "target_host": "gd-edu-1"}},
            headers={"X-CSRF-Token": token},
            timeout=10,
        )
        assert mine.status_code == 202, mine.text
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
    [run] = runbook_runs(site)
    assert run["id"] == mine.json()["run_id"] and run["site"] == "province-gd"


def test_a_served_host_page_and_its_apis_show_a_province_no_national_run(site: Path) -> None:
    process, url = start_console(site)
    try:
        session = requests.Session()
        assert login(session, url, timeout=10).status_code == 302
        page = session.get(f"{url}/hosts/gd-edu-1", timeout=10)
        assert page.status_code == 200 and 'href="/runs/1"' not in page.text
        host = session.get(f"{url}/api/v1/hosts/gd-edu-1", timeout=10)
        assert host.status_code == 200 and host.json()["runs"] == []
        history = session.get(f"{url}/api/v1/automation/hosts/gd-edu-1/history", timeout=10)
        [item] = history.json()["items"]
        assert item["redacted"] and item["hosts"] == ["gd-edu-1"] and item["host_outcome"] == "ok"
        automation_page = session.get(f"{url}/automation/hosts/gd-edu-1", timeout=10).text
        for text in (host.text, history.text, automation_page):
            assert not any(prefix in text for prefix in OTHER_SITES)
        assert session.get(f"{url}/runs/1", timeout=10).status_code == 403
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
