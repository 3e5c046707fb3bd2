"""A served `egov serve`: /metrics and the audit API answer a site-scoped token with its sites only.

Tokens are sent from loopback on purpose: an authenticated request is scoped
even where an anonymous scrape is open. Nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import egov, write_config
from tests.integration.web.test_serve_console import start_console, stop_console

PASSWORD = "auditor password 1"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A site with a provincial and a ministry-level auditor, their tokens, probes and audit records of 3 sites."""
    from controlplane import audit, users
    from controlplane.config import load_config
    from controlplane.monitoring.models import ProbeLatest
    from controlplane.store import open_store
    from controlplane.store.models import User

    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    for name, sites in (("auditor-gd", ["--site", "province-gd"]), ("auditor-all", [])):
        added = egov(tmp_path, "users", "add", name, "--role", "auditor", *sites, stdin=PASSWORD)
        assert added.returncode == 0, added.stderr
    store = open_store(load_config(tmp_path / "egov.yml"))
    tokens = {}
    with store.session() as session:
        for name in ("auditor-gd", "auditor-all"):
            user = session.query(User).filter_by(name=name).one()
            tokens[name] = users.create_token(session, user, "scrape")[1]
        for site_name, host in (("school-gd-1", "gd-school-1"), ("ministry", "mn-portal-1"), ("dr-center", "dr-app-1")):
            session.add(
                ProbeLatest(site=site_name, host=host, role="r", check="ping", type="ping", success=True, duration=0.1)
            )
    for site_name, host in (("school-gd-1", "gd-school-1"), ("dr-center", "dr-app-1")):
        audit.append(store, actor="ops", action="run.create", target=host, site=site_name)
    store.close()
    yield tmp_path, tokens


def _hosts(text: str) -> set[str]:
    return {s.labels["host"] for f in text_string_to_metric_families(text) for s in f.samples if "host" in s.labels}


def test_a_served_console_scopes_metrics_and_the_audit_log_to_the_tokens_sites(site) -> None:
    folder, tokens = site
    process, url = start_console(folder)
    try:
        scoped = {"Authorization": f"Bearer {tokens['auditor-gd']}"}
        ministry = {"Authorization": f"Bearer {tokens['auditor-all']}"}
        text = requests.get(f"{url}/metrics", headers=scoped, timeout=10).text
        assert _hosts(text) == {"gd-school-1"} and "egov_runs" not in text
        everything = requests.get(f"{url}/metrics", headers=ministry, timeout=10).text
        assert _hosts(everything) == {"gd-school-1", "mn-portal-1", "dr-app-1"} and "egov_runs" in everything
        assert _hosts(requests.get(f"{url}/metrics", timeout=10).text) == _hosts(everything)  # loopback, anonymous
        listed = requests.get(f"{url}/api/v1/audit", headers=scoped, timeout=10).json()["items"]
        # The site's own records: the run, and the creation of its auditor (a user of province-gd).
        assert [(item["action"], item["target"]) for item in listed] == [
            ("run.create", "gd-school-1"),
            ("user.create", "auditor-gd"),
        ]
        national = requests.get(f"{url}/api/v1/audit", headers=ministry, timeout=10).json()["items"]
        assert {"init", "user.create"} <= {item["action"] for item in national}
        verdict = requests.get(f"{url}/api/v1/audit/verify", headers=scoped, timeout=10).json()
        assert verdict["ok"] is True and verdict["count"] == 2 and verdict["head"] == ""
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
