"""The /network page: the topology drawn from the flow file, the verified matrix, history, verify now, and scope.

Scope is a security boundary: a provincial operator sees only the zones
holding hosts of its sites and the flows and paths that touch them, never
another province's hosts, addresses, paths or counts. Every page is requested
as a ministry admin (``root``) and as the province-gd operator.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, write_config
from tests.unit.web.conftest import login_as, make_app, record_starts
from tests.unit.web.network_fixtures import (
    GD_BREAKAGE,
    GD_OK,
    GD_VIOLATION,
    HN_INTO_GD,
    HN_VIOLATION,
    MINISTRY_OK,
    save,
)

OTHER_PROVINCE = ("hn-edu-1", "hn-school-1", "hn-gw-1", "10.198.60.", "10.198.70.", "province-hn", "school-hn-province")
MINISTRY_HOSTS = ("mn-portal-1", "mn-db-1", "mn-oa-1", "mn-gw-1", "bc-backup-1", "ext-probe-1", "10.198.11.14")


def page(client: Any, person: Any, **headers: str) -> str:
    login_as(client, person)
    response = client.get("/network", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def svg_of(text: str) -> str:
    return text[text.index('<svg class="network-map"') : text.index("</svg>", text.index('<svg class="network-map"'))]


def test_a_ministry_admin_sees_every_zone_host_gateway_and_flow_of_the_flow_file(client, people) -> None:
    text = page(client, people["root"])
    picture = svg_of(text)
    for zone in ("management", "backbone", "dmz", "internal", "backup", "dr", "outside", "province-gd", "school-gd",
                 "province-hn", "school-hn"):  # fmt: skip
        assert f'data-zone="{zone}"' in picture
    for gateway in ("mn-gw-1", "gd-gw-1", "hn-gw-1"):
        assert f'data-gateway="{gateway}"' in picture
    assert 'data-host="hn-school-1"' in picture and "10.198.70.71" in picture
    assert 'data-from="outside" data-to="dmz" data-flows="public-web"' in picture
    assert 'data-from="dmz" data-to="internal" data-flows="portal-database"' in picture
    assert "tcp 80,443" in picture and "tcp 5432" in picture
    assert "zone-stub" not in picture
    assert "The network has not been verified yet." in text
    assert 'id="network-verify"' in text and '<option value="">the whole network</option>' in text


def test_a_province_operator_sees_only_its_zones_and_the_flows_that_touch_them(client, people) -> None:
    text = page(client, people["operator-gd"])
    picture = svg_of(text)
    assert 'data-host="gd-edu-1"' in picture and 'data-host="gd-school-1"' in picture
    assert "10.198.40.41" in picture and 'data-gateway="gd-gw-1"' in picture
    assert 'data-from="school-gd" data-to="province-gd"' in picture
    assert 'data-from="province-gd" data-to="internal" data-flows="provinces-ministry-office"' in picture
    # The ministry zones its flows reach are stubs: no hosts, no subnet, the ministry's gateway unnamed.
    assert re.search(r'class="zone zone-zone zone-stub" data-zone="internal"', picture)
    assert "10.198.11.0/24" not in text
    for secret in OTHER_PROVINCE + MINISTRY_HOSTS:
        assert secret not in text, secret
    assert 'data-from="province-hn"' not in text and 'data-zone="province-hn"' not in text
    assert 'data-from="outside" data-to="dmz"' not in picture


def test_the_latest_verify_draws_violations_and_breakages_red_with_their_evidence(client, people, store) -> None:
    save(store, GD_OK, GD_VIOLATION, GD_BREAKAGE, MINISTRY_OK)
    text = page(client, people["root"])
    picture = svg_of(text)
    assert re.search(r'class="flow flow-bad" data-from="school-gd" data-to="internal" data-flows=""', picture)
    assert re.search(r'class="flow flow-bad" data-from="province-gd" data-to="internal"', picture)
    assert re.search(r'class="flow flow-ok" data-from="outside" data-to="dmz"', picture)
    assert 'class="host host-bad" data-host="mn-db-1"' in picture
    assert 'data-violations="1" data-breakages="1"' in text
    problems = text[
        text.index('id="network-problems-table"') : text.index("</table>", text.index('id="network-problems-table"'))
    ]
    assert problems.index('data-verdict="violation"') < problems.index('data-verdict="breakage"')
    assert "mn-gw-1 flow:portal-database +3 packets" in problems and "10.198.11.14" in problems
    assert 'data-from="school-gd" data-to="internal" data-verdict="violation"' in text


def test_a_province_operator_never_sees_another_provinces_paths_or_counts(client, people, store) -> None:
    save(store, GD_OK, HN_VIOLATION, MINISTRY_OK)
    gd = page(client, people["operator-gd"])
    assert 'data-violations="0" data-breakages="0"' in gd
    for secret in OTHER_PROVINCE + MINISTRY_HOSTS + ("3306", "stray"):
        assert secret not in gd, secret
    assert "gd-gw-1 flow:school-gd-province +1 packets" in gd
    ministry = page(client, people["root"])
    assert 'data-violations="1" data-breakages="0"' in ministry and "10.198.60.61" in ministry


def test_a_path_into_a_province_names_the_far_end_by_its_zone_only(client, people, store) -> None:
    save(store, HN_INTO_GD, GD_VIOLATION)
    gd = page(client, people["operator-gd"])
    assert 'data-violations="2"' in gd
    assert "(a host of school-hn)" in gd and "(a host of internal)" in gd
    assert "… flow:stray +1 packets" in gd and "… flow:portal-database +3 packets" in gd
    for secret in ("hn-school-1", "hn-gw-1", "mn-db-1", "mn-gw-1", "10.198.11.14", "10.198.70.71"):
        assert secret not in gd, secret
    assert "gd-edu-1" in gd and "10.198.40.41" in gd  # its own end stays named


def test_hygiene_findings_are_shown_only_for_zones_and_gateways_in_scope(client, people, store) -> None:
    findings = (("unjustified-rule", "gd-gw-1", "rule 7 accepts tcp/8080"),
                ("unknown-host", "province-hn", "10.198.60.99 answers"))  # fmt: skip
    save(store, GD_OK, findings=findings)
    gd = page(client, people["operator-gd"])
    assert "rule 7 accepts tcp/8080" in gd and "10.198.60.99" not in gd
    ministry = page(client, people["root"])
    assert "rule 7 accepts tcp/8080" in ministry and "10.198.60.99 answers" in ministry


def test_the_history_charts_every_verify_counted_within_the_readers_scope(client, people, store) -> None:
    save(store, GD_OK, minutes=0)
    save(store, GD_VIOLATION, HN_VIOLATION, minutes=10)
    save(store, HN_VIOLATION, minutes=20, zone="school-hn")
    ministry = page(client, people["root"])
    history = ministry[ministry.index('id="network-history"') :]
    assert ministry.count('class="verify-violations"') == 2 and 'class="verify-clean"' in ministry
    assert "school-hn" in history and history.count("<tr>") == 4  # header + three verifies
    gd = page(client, people["operator-gd"])
    gd_history = gd[gd.index('id="network-history"') :]
    assert gd.count('class="verify-violations"') == 1 and gd_history.count("<tr>") == 3
    assert "school-hn" not in gd_history


def test_the_page_speaks_chinese_with_the_ministrys_terms(client, people) -> None:
    text = page(client, people["operator-gd"], **{"Accept-Language": "zh-CN"})
    for term in ("安全区域", "边界", "访问控制", "立即验证", "省级教育网（示例省）", "不在您的范围内"):
        assert term in text, term


def test_only_operators_and_admins_get_the_verify_button(client, people) -> None:
    assert 'id="network-verify"' not in page(client, people["oncall-gd"])
    assert 'id="network-verify"' not in page(client, people["auditor-gd"])
    gd = page(client, people["operator-gd"])
    assert '<option value="province-gd">' in gd and '<option value="school-gd">' in gd
    assert '<option value="">' not in gd  # the whole network is not a province's to verify


@pytest.fixture
def started(app, config) -> list[Any]:
    """Record verify runs the console starts instead of probing (and give the site an SSH key file)."""
    runs: list[Any] = []
    config.ssh_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.ssh_key_file.write_text("unused\n")
    record_starts(app, runs.append)
    return runs


def test_verify_now_starts_a_whole_network_run_for_a_ministry_admin(client, people, started) -> None:
    csrf = login_as(client, people["root"])
    response = client.post("/network/verify", data={"csrf_token": csrf, "zone": ""})
    assert response.status_code == 302 and re.search(r"/runs/\d+$", response.headers["Location"])
    assert [(run.kind, run.site, (run.params or {}).get("zone")) for run in started] == [("network-verify", None, None)]


def test_a_province_operator_verifies_a_zone_of_its_own_and_nothing_else(client, people, started) -> None:
    csrf = login_as(client, people["operator-gd"])
    response = client.post("/network/verify", data={"csrf_token": csrf, "zone": "school-gd"})
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    assert [(run.site, (run.params or {}).get("zone")) for run in started] == [("school-gd-1", "school-gd")]
    assert client.post("/network/verify", data={"csrf_token": csrf, "zone": "school-hn"}).status_code == 403
    whole = client.post("/network/verify", data={"csrf_token": csrf, "zone": ""})
    assert whole.status_code == 302 and whole.headers["Location"].endswith("/network")
    assert len(started) == 1
    login_as(client, people["oncall-gd"])
    assert client.post("/network/verify", data={"csrf_token": "csrf-oncall-gd", "zone": "school-gd"}).status_code == 403


def test_verify_now_without_an_ssh_key_says_why_and_starts_nothing(client, people, app) -> None:
    runs: list[Any] = []
    record_starts(app, runs.append)
    csrf = login_as(client, people["root"])
    response = client.post("/network/verify", data={"csrf_token": csrf, "zone": ""}, follow_redirects=True)
    assert "SSH key" in response.get_data(as_text=True) and runs == []


def site_with_flow_file(tmp_path: Path, template_site: Path, text: str | None) -> Any:
    """A site whose inventory folder holds ``text`` as network.yml (None: no flow file)."""
    from controlplane.config import load_config

    folder = tmp_path / "own"
    (folder / "inventory").mkdir(parents=True)
    shutil.copy(REPO / "inventory" / "lab.yml", folder / "inventory" / "lab.yml")
    if text is not None:
        (folder / "inventory" / "network.yml").write_text(text, encoding="utf-8")
    shutil.copytree(template_site / "var", folder / "var")
    path = write_config(folder)
    data = path.read_text().replace(str(REPO / "inventory" / "lab.yml"), str(folder / "inventory" / "lab.yml"))
    path.write_text(data)
    return load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, "This site has no flow file yet"), ("zones: {dmz: {subnet: nonsense}}\n", "The flow file has errors")],
)
def test_a_missing_or_invalid_flow_file_is_said_on_the_page_not_a_server_error(
    tmp_path, template_site, lab_inventory, password_hash, text, expected
) -> None:
    from controlplane.store import open_store
    from controlplane.vault import open_vault
    from controlplane.web import shutdown
    from tests.unit.web.conftest import make_people, remote_client

    config = site_with_flow_file(tmp_path, template_site, text)
    store = open_store(config)
    vault = open_vault(config, store)
    app = make_app(config, store, vault, lab_inventory)
    try:
        people = make_people(store, vault, password_hash)
        client = remote_client(app)
        body = page(client, people["root"])
        assert expected in body and 'id="network-verify"' not in body
    finally:
        shutdown(app)
        store.close()


def test_an_outsider_of_another_site_sees_its_own_zone_and_nothing_of_the_province(client, people, store) -> None:
    save(store, GD_OK, GD_VIOLATION)
    text = page(client, people["operator-dr"])
    picture = svg_of(text)
    assert 'data-host="dr-app-1"' in picture and 'data-host="dr-backup-1"' in picture
    # Every zone backs up to the DR center, so the zones are there as outlines: never their hosts or addresses.
    assert re.search(r'class="zone zone-zone zone-stub" data-zone="province-gd"', picture)
    for secret in ("gd-edu-1", "gd-school-1", "gd-gw-1", "hn-edu-1", "hn-school-1", "10.198.40.", "10.198.50.",
                   "10.198.60.", "10.198.40.0/24", "school-gd-province"):  # fmt: skip
        assert secret not in text, secret
    assert 'data-violations="0" data-breakages="0"' in text


def test_an_anonymous_visitor_is_sent_to_the_login_page(client) -> None:
    response = client.get("/network")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert client.get("/api/v1/network").status_code == 401
