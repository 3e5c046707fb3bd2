"""The dashboard opens with the health picture: per site, hosts up, probes, backups within RPO, compliance, alerts.

The state is stored as the engines store it (probe results, backup status
rows, scans, alerts) and the page read back through the console as each
fixture user sees it. Lab sites: ministry (top), backup-center, dr-center,
province-gd and school-gd-1 below it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.unit.web.conftest import login_as

EN = {"Accept-Language": "en"}
# Every (dataset, host) unit of the shipped backup policy on each site.
UNITS = {
    "school-gd-1": [("school-data", "gd-school-1")],
    "province-gd": [("oa-data", "gd-edu-1")],
    "ministry": [("edu-db", "mn-db-1"), ("oa-data", "mn-oa-1")]
    + [("portal-content", host) for host in ("mn-portal-1", "mn-portal-2")],
    "controlplane": [("controlplane-db", "controlplane"), ("controlplane-keys", "controlplane")],
}
HOSTS = {
    "school-gd-1": ["gd-school-1"],
    "province-gd": ["gd-edu-1"],
    "ministry": ["mn-portal-1", "mn-portal-2", "mn-oa-1", "mn-db-1"],
    "backup-center": ["bc-backup-1"],
    "dr-center": ["dr-app-1", "dr-backup-1"],
}


def now() -> dt.datetime:
    from controlplane.store.models import utcnow

    return utcnow()


def probe(store: Any, check: str, host: str, site: str, success: bool, kind: str = "http", age: float = 0) -> None:
    from controlplane.monitoring.models import ProbeLatest

    at = now() - dt.timedelta(seconds=age)
    with store.session() as session:
        session.merge(ProbeLatest(check=check, host=host, site=site, role="x", type=kind, success=success,
                                  duration=0.01, message="", samples=[], at=at))  # fmt: skip


def healthy_hosts(store: Any, site: str) -> None:
    """Every host of the site answers ssh and its health check."""
    for host in HOSTS[site]:
        probe(store, "ssh", host, site, True, kind="ssh")
        probe(store, "health", host, site, True, kind="health")


def backed_up(store: Any, site: str, age: dt.timedelta = dt.timedelta(minutes=5)) -> None:
    """Every unit of the site backed up ``age`` ago, drilled and copied off-site: verdict ok while within RPO."""
    from controlplane.backup.models import BackupStatus

    at = now() - age
    with store.session() as session:
        for dataset, host in UNITS[site]:
            session.merge(BackupStatus(dataset=dataset, host=host, site=site, last_status="succeeded", last_run_at=at,
                                       last_success_at=at, last_drill_at=at, last_drill_passed=True,
                                       last_copy_snapshot_time=at, last_check_status="succeeded"))  # fmt: skip


def scanned(store: Any, results: dict[str, list[str]], scan_id: int | None = None) -> int:
    """Store one scan with the given statuses per host; return its id."""
    from controlplane.compliance.models import ComplianceResult, ComplianceScan

    site_of = {host: site for site, hosts in HOSTS.items() for host in hosts}
    with store.session() as session:
        scan = ComplianceScan(catalog_version="t", scope="all sites", hosts={h: {"site": site_of[h]} for h in results})
        session.add(scan)
        session.flush()
        for host, statuses in results.items():
            for index, status in enumerate(statuses):
                session.add(ComplianceResult(scan_id=scan.id, host=host, site=site_of[host], control_id=f"c{index}",
                                             severity="high", status=status))  # fmt: skip
        return int(scan.id)


def alert(store: Any, fingerprint: str, labels: dict[str, str], state: str = "firing", acked: bool = False) -> None:
    from controlplane.monitoring.models import AlertRecord

    with store.session() as session:
        session.add(AlertRecord(fingerprint=fingerprint, source="engine", state=state, labels=labels, annotations={},
                                fired_at=now(), active_since=now(), last_seen=now(), transitions=[],
                                acked_by="oncall" if acked else None))  # fmt: skip


def green_school(store: Any) -> None:
    healthy_hosts(store, "school-gd-1")
    backed_up(store, "school-gd-1")
    scanned(store, {"gd-school-1": ["pass", "pass", "waived", "not_applicable"]})


def nodes(page: str) -> dict[str, dict[str, Any]]:
    """Every site node of the picture: its health and each badge's state and text."""
    found = {}
    for match in re.finditer(r'<g class="site-node [^"]*" data-site="([^"]+)" data-health="([^"]+)"(.*?)</g>', page,
                             re.S):  # fmt: skip
        badges = {
            dimension: (state, text)
            for dimension, state, text in re.findall(
                r'data-dimension="([^"]+)" data-state="([^"]+)">.*?<text [^>]*>([^<]*)</text>', match.group(3), re.S
            )
        }
        found[match.group(1)] = {"health": match.group(2), "badges": badges}
    return found


def dashboard(client: Any, person: Any, headers: dict[str, str] = EN) -> str:
    login_as(client, person)
    answer = client.get("/", headers=headers)
    assert answer.status_code == 200
    return str(answer.get_data(as_text=True))


def test_a_site_whose_service_probe_fails_is_red_and_a_healthy_site_green(client, people, store) -> None:
    green_school(store)
    healthy_hosts(store, "province-gd")
    backed_up(store, "province-gd")
    probe(store, "office-http", "gd-edu-1", "province-gd", False)
    page = dashboard(client, people["operator-gd"])
    picture = nodes(page)
    assert picture["school-gd-1"]["health"] == "ok"
    assert picture["school-gd-1"]["badges"] == {"hosts": ("ok", "1/1"), "probes": ("ok", "1/1"),
                                                "backups": ("ok", "1/1"), "compliance": ("ok", "100%"),
                                                "alerts": ("ok", "0")}  # fmt: skip
    assert picture["province-gd"]["health"] == "bad"
    assert picture["province-gd"]["badges"]["probes"] == ("bad", "1/2")
    assert "1 failing, 0 needing attention, 1 healthy" in page
    # The picture comes first; the tables stay below it.
    assert page.index('class="health-tree"') < page.index("<table")


def test_each_badge_links_to_the_page_behind_it_filtered_by_site(client, people, store) -> None:
    green_school(store)
    page = dashboard(client, people["operator-gd"])
    node = re.search(r'data-site="school-gd-1".*?</g>', page, re.S).group(0)  # type: ignore[union-attr]
    for path in ("/hosts", "/monitoring", "/backup", "/compliance", "/alerts"):
        assert f'href="{path}?site=school-gd-1"' in node, path


def test_a_province_sees_its_subtree_only_and_an_outsiders_red_site_never(client, people, store) -> None:
    green_school(store)
    probe(store, "ssh", "dr-app-1", "dr-center", False, kind="ssh")
    alert(store, "dd00000000000001", {"alertname": "HostDown", "host": "dr-app-1", "site": "dr-center"})
    gd = nodes(dashboard(client, people["oncall-gd"]))
    assert set(gd) == {"province-gd", "school-gd-1"}
    assert gd["school-gd-1"]["health"] == "ok" and gd["province-gd"]["badges"]["alerts"] == ("ok", "0")
    dr_page = dashboard(client, people["oncall-dr"])
    dr = nodes(dr_page)
    assert set(dr) == {"dr-center"} and dr["dr-center"]["health"] == "bad"
    assert dr["dr-center"]["badges"]["hosts"] == ("bad", "0/2") and dr["dr-center"]["badges"]["alerts"] == ("bad", "1")
    assert "school-gd-1" not in dr_page and "province-gd" not in dr_page
    everything = nodes(dashboard(client, people["root"]))
    assert set(everything) == {
        "ministry", "backup-center", "dr-center", "province-gd", "school-gd-1", "province-hn", "school-hn-1"
    }  # fmt: skip


def test_ministry_level_objects_count_on_the_top_site_for_ministry_users_only(client, people, store) -> None:
    alert(store, "cc00000000000001", {"alertname": "FailedRuns"})  # no site label: the control plane's own check
    backed_up(store, "controlplane", age=dt.timedelta(days=30))  # the control plane's datasets, past their RPO
    root = nodes(dashboard(client, people["root"]))
    assert root["ministry"]["badges"]["alerts"] == ("bad", "1")
    assert root["ministry"]["badges"]["backups"][0] == "bad"
    gd = nodes(dashboard(client, people["operator-gd"]))
    assert gd["province-gd"]["badges"]["alerts"] == ("ok", "0")


def test_an_acknowledged_alert_or_a_backup_warning_is_amber_not_red(client, people, store) -> None:
    from controlplane.backup.models import BackupStatus

    green_school(store)
    alert(store, "ab00000000000001", {"alertname": "DiskFull", "host": "gd-school-1", "site": "school-gd-1"},
          acked=True)  # fmt: skip
    with store.session() as session:
        session.get(BackupStatus, ("school-data", "gd-school-1")).last_check_status = "failed"
    school = nodes(dashboard(client, people["operator-gd"]))["school-gd-1"]
    assert school["health"] == "warn"
    assert school["badges"]["alerts"] == ("warn", "1") and school["badges"]["backups"] == ("warn", "1/1")


def test_compliance_is_each_hosts_newest_scan_and_hidden_from_roles_that_may_not_see_it(client, people, store) -> None:
    healthy_hosts(store, "school-gd-1")
    scanned(store, {"gd-school-1": ["fail", "fail", "fail", "pass"]})
    scanned(store, {"gd-school-1": ["pass", "pass", "pass", "fail"]})
    operator = nodes(dashboard(client, people["operator-gd"]))["school-gd-1"]
    assert operator["badges"]["compliance"] == ("bad", "75%")
    oncall = nodes(dashboard(client, people["oncall-gd"]))["school-gd-1"]
    assert "compliance" not in oncall["badges"]


def test_probe_results_older_than_the_stale_limit_are_unknown_grey(client, people, store) -> None:
    from controlplane.web.health import STALE_SECONDS

    backed_up(store, "school-gd-1")
    for host in HOSTS["school-gd-1"]:
        probe(store, "ssh", host, "school-gd-1", True, kind="ssh", age=STALE_SECONDS + 60)
    school = nodes(dashboard(client, people["operator-gd"]))["school-gd-1"]
    assert school["health"] == "unknown" and school["badges"]["hosts"] == ("unknown", "—")


def test_the_picture_turns_red_on_the_next_view_after_a_probe_fails(client, people, store) -> None:
    green_school(store)
    before = nodes(dashboard(client, people["operator-gd"]))
    assert before["school-gd-1"]["health"] == "ok"
    probe(store, "health", "gd-school-1", "school-gd-1", False, kind="health")
    after = nodes(dashboard(client, people["operator-gd"]))
    assert after["school-gd-1"]["health"] == "bad"


def test_the_picture_needs_no_script_and_no_style_attribute_and_speaks_chinese(client, people, store) -> None:
    from controlplane.store.models import User

    green_school(store)
    english = dashboard(client, people["operator-gd"])
    section = english[english.index('<section class="health"') : english.index("</section>")]
    assert "<svg" in section and "<script" not in section and "style=" not in section and " on" not in section
    assert "Health at a glance" in section and "Hosts up" in section
    with store.session() as session:
        session.get(User, people["operator-gd"].id).language = "zh_CN"
    chinese = dashboard(client, people["operator-gd"], headers={})
    assert "运行状况一览" in chinese and "主机在线" in chinese and "示例中学" in chinese


def test_the_pages_behind_the_badges_show_the_linked_site_and_the_sites_below_it_only(client, people, store) -> None:
    probe(store, "health", "gd-school-1", "school-gd-1", True, kind="health")
    probe(store, "health", "gd-edu-1", "province-gd", False, kind="health")
    alert(store, "ab00000000000002", {"alertname": "SchoolDown", "host": "gd-school-1", "site": "school-gd-1"})
    alert(store, "ab00000000000003", {"alertname": "OfficeDown", "host": "gd-edu-1", "site": "province-gd"})
    backed_up(store, "school-gd-1")
    backed_up(store, "province-gd")
    login_as(client, people["operator-gd"])
    monitoring = client.get("/monitoring?site=school-gd-1", headers=EN).get_data(as_text=True)
    assert 'data-host="gd-school-1"' in monitoring and 'data-host="gd-edu-1"' not in monitoring
    assert 'data-site-filter="school-gd-1"' in monitoring
    alerts = client.get("/alerts?site=school-gd-1", headers=EN).get_data(as_text=True)
    assert "SchoolDown" in alerts and "OfficeDown" not in alerts
    province = client.get("/alerts?site=province-gd", headers=EN).get_data(as_text=True)
    assert "SchoolDown" in province and "OfficeDown" in province  # a province covers its schools
    backup = client.get("/backup?site=school-gd-1", headers=EN).get_data(as_text=True)
    assert "gd-school-1" in backup and "gd-edu-1" not in backup
    compliance = client.get("/compliance?site=school-gd-1", headers=EN)
    assert compliance.status_code == 200 and 'data-site-filter="school-gd-1"' in compliance.get_data(as_text=True)


def test_a_site_filter_outside_the_scope_is_refused_and_a_bad_one_is_bad_input(client, people) -> None:
    login_as(client, people["operator-gd"])
    for path in ("/monitoring", "/alerts", "/backup", "/compliance", "/hosts"):
        assert client.get(f"{path}?site=dr-center").status_code == 403, path
        assert client.get(f"{path}?site=no-such-site").status_code == 404, path
        assert client.get(f"{path}?site=%3Cscript%3E").status_code == 400, path


def test_a_probe_changing_state_re_reads_the_probes_only(client, people, store, monkeypatch) -> None:
    from controlplane.web import health
    from controlplane.web.views import dashboard as view

    monkeypatch.setattr(view, "REFRESH_SECONDS", 1e9)  # no time bucket boundary during the test
    green_school(store)
    reads: list[str] = []
    for name in ("backup_rows", "probe_counts", "compliance_counts"):
        original = getattr(health, name)
        monkeypatch.setattr(health, name, lambda *a, _f=original, _n=name, **k: reads.append(_n) or _f(*a, **k))
    dashboard(client, people["operator-gd"])
    dashboard(client, people["root"])  # another scope: the sources are shared
    assert sorted(reads) == ["backup_rows", "compliance_counts", "probe_counts"]
    probe(store, "health", "gd-school-1", "school-gd-1", False, kind="health")
    assert nodes(dashboard(client, people["operator-gd"]))["school-gd-1"]["health"] == "bad"
    assert sorted(reads) == ["backup_rows", "compliance_counts", "probe_counts", "probe_counts"]
