"""The console's service levels: /availability scoped like every page, maintenance from the console, and the public
/status page, which names no host, address, site or alert — whatever the store holds about them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.unit.web.conftest import login_as


def seed_levels(config: Any, store: Any, inventory: Any, now: dt.datetime) -> Any:
    """Ten minutes of stored probe results for the shipped objectives (the portal down for a minute), rolled up;
    a portal alert naming its host; an active maintenance window of the database whose reason names hosts."""
    from controlplane.monitoring.alert_actions import create_silence
    from controlplane.monitoring.intake import intake_alertmanager
    from controlplane.monitoring.results import ProbeResult, save_results
    from controlplane.slo.maintenance import add_window
    from controlplane.slo.rollup import Rollup
    from controlplane.slo.site import load_levels
    from controlplane.slo.spec import load_slo

    levels = load_levels(config, inventory)
    start = now - dt.timedelta(minutes=10)
    for step in range(60):
        at = start + dt.timedelta(seconds=10 * step)
        results = [
            ProbeResult("portal-vip", "http", "mn-portal-1", "ministry", "portal", not 20 <= step < 26, 0.01,
                        "refused by 10.198.0.100", at=at),
            ProbeResult("office-http", "http", "gd-edu-1", "province-gd", "office", True, 0.01, "200", at=at),
        ]  # fmt: skip
        with store.session() as session:
            save_results(session, results, history=500)
    rollup = Rollup(load_slo(REPO / "monitoring", levels.monitoring, inventory))
    with store.session() as session:
        rollup.run(session, now)
    labels = {"alertname": "PortalHTTPDown", "site": "ministry", "host": "mn-portal-1", "check": "portal-http"}
    intake_alertmanager({"version": "4", "alerts": [{"status": "firing", "labels": labels}]}, store)
    create_silence(store, ["host=mn-db-1"], author="seed", comment="10.198.0.14", duration=60)
    reason = "mn-db-1 (10.198.0.14) disk swap"
    add_window(store, levels.slo, inventory, site="ministry", services=["database"], starts_at=now,
               ends_at=now + dt.timedelta(hours=1), reason=reason, actor="ops", now=now)  # fmt: skip
    return levels


@pytest.fixture
def seeded(app, config, store, lab_inventory) -> Any:  # type: ignore[no-untyped-def]
    from controlplane.store.models import utcnow

    return seed_levels(config, store, lab_inventory, utcnow())


def test_the_public_status_page_shows_states_and_90_days_but_no_host_address_or_detail(
    client, seeded, lab_inventory
) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/status", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "教育门户网站" in text and "教育部办公自动化系统" in text  # the two public services
    assert "基础数据库" not in text and "省教育厅" not in text  # not public
    assert text.count("<svg") == 2 and text.count("<rect") >= 2 * 90
    assert "服务中断" in text or "运行正常" in text
    forbidden = {"controlplane", "portal-vip", "portal-http", "PortalHTTPDown", "ministry", "disk swap", "seed"}
    forbidden |= {h.name for h in lab_inventory.hosts} | {h.address for h in lab_inventory.hosts}
    forbidden |= {str(lab_inventory.variables.get("portal_vip")), "10.198."}
    leaked = sorted(word for word in forbidden if word in text)
    assert not leaked, leaked
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text)
    assert "<script" not in text and "/login" not in text
    english = client.get("/status", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Education portal" in english and "Service status" in english


def test_availability_shows_the_objectives_charts_and_windows_of_the_users_scope_only(client, people, seeded) -> None:  # type: ignore[no-untyped-def]
    login_as(client, people["operator-gd"])
    page = client.get("/availability").get_data(as_text=True)
    assert 'data-service="oa-province-gd"' in page
    assert 'data-service="portal"' not in page and 'data-service="database"' not in page
    assert "disk swap" not in page  # the ministry's window
    assert "<svg" in page and "<script" not in page.split("</header>", 1)[1].replace("console.js", "")
    login_as(client, people["root"])
    page = client.get("/availability").get_data(as_text=True)
    for name in ("portal", "oa-ministry", "oa-province-gd", "database", "backup-center", "backup-dr"):
        assert f'data-service="{name}"' in page, name
    assert "disk swap" in page and 'fill="#c62828"' in page  # the portal's bad minute is a red day


def test_maintenance_is_declared_and_ended_from_the_console_within_scope(client, people, seeded, store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.maintenance import list_windows

    csrf = login_as(client, people["operator-gd"])
    form = {"csrf_token": csrf, "site": "province-gd", "services": "oa-province-gd", "start": "2099-01-01T08:00",
            "end": "2099-01-01T10:00", "reason": "OA upgrade"}  # fmt: skip
    assert client.post("/availability/maintenance", data=form).status_code == 302
    [made] = [w for w in list_windows(store) if w["site"] == "province-gd"]
    assert (made["kind"], made["services"], made["created_by"]) == ("planned", ["oa-province-gd"], "operator-gd")
    assert client.post("/availability/maintenance", data={**form, "site": "ministry"}).status_code == 403
    [ministry] = [w for w in list_windows(store) if w["site"] == "ministry"]
    assert client.post(f"/availability/maintenance/{ministry['id']}/end", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/availability/maintenance/{made['id']}/end", data={"csrf_token": csrf}).status_code == 302
    assert [w["state"] for w in list_windows(store) if w["id"] == made["id"]] == ["cancelled"]
    bad = client.post("/availability/maintenance", data={**form, "start": "$(id)"}, follow_redirects=True)
    assert "is not a date and time" in bad.get_data(as_text=True)


def test_written_reports_are_listed_and_downloaded_within_scope(client, people, seeded, store, config) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.models import ReportFile
    from controlplane.slo.schedule import report_folder

    folder = report_folder(config)
    (folder / "national.html").write_text("<p>national</p>")
    (folder / "gd.html").write_text("<p>gd</p>")
    outside = Path(config.state_dir) / "egov.db"
    with store.session() as session:
        rows = [ReportFile(month="2026-11", site="", lang="zh", format="html", path=str(folder / "national.html"),
                           created_by="t"),
                ReportFile(month="2026-11", site="province-gd", lang="zh", format="html", path=str(folder / "gd.html"),
                           created_by="t"),
                ReportFile(month="2026-10", site="province-gd", lang="en", format="json", path=str(outside),
                           created_by="t")]  # fmt: skip
        session.add_all(rows)
        session.flush()
        national, gd, sneaky = (r.id for r in rows)
    login_as(client, people["auditor-gd"])
    assert client.get(f"/availability/reports/{gd}").get_data() == b"<p>gd</p>"
    assert client.get(f"/availability/reports/{national}").status_code == 403
    assert client.get(f"/availability/reports/{sneaky}").status_code == 404  # not in the reports folder
    page = client.get("/availability").get_data(as_text=True)
    assert f"/availability/reports/{gd}" in page and f"/availability/reports/{national}" not in page
    login_as(client, people["root"])
    assert client.get(f"/availability/reports/{national}").status_code == 200
