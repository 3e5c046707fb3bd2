"""Dashboard, hosts and runs listings: fresh after every run change, per scope and language, paged and filtered."""

from __future__ import annotations

from controlplane.store.models import RunStatus
from tests.unit.web.conftest import login_as

EN = {"Accept-Language": "en"}


def _run(store, host: str, site: str, status: str | None = None) -> int:
    from controlplane.runs import create_run, finish_run

    with store.session() as session:
        run = create_run(session, kind="ping", target=host, actor="t", site=site)
        if status:
            finish_run(session, run, status)
        return run.id


def test_the_dashboard_shows_a_run_that_ends_at_once_not_after_the_cache_expires(client, people, store) -> None:
    from controlplane.runs import finish_run
    from controlplane.store.models import Run

    run_id = _run(store, "gd-school-1", "school-gd-1")
    login_as(client, people["oncall-gd"])
    before = client.get("/", headers=EN).get_data(as_text=True)
    assert "<strong>1</strong> running" in before and "<strong>0</strong> failed" in before
    with store.session() as session:
        finish_run(session, session.get(Run, run_id), RunStatus.FAILED)
    after = client.get("/", headers=EN).get_data(as_text=True)
    assert "<strong>0</strong> running" in after and "<strong>1</strong> failed" in after


def test_users_of_different_scopes_never_see_each_others_cached_dashboard(client, people, store) -> None:
    _run(store, "dr-app-1", "dr-center", RunStatus.SUCCEEDED)
    login_as(client, people["oncall-gd"])
    gd = client.get("/", headers=EN).get_data(as_text=True)
    login_as(client, people["oncall-dr"])
    dr = client.get("/", headers=EN).get_data(as_text=True)
    assert "gd-school-1" in gd and "dr-app-1" not in gd
    assert "dr-app-1" in dr and "gd-school-1" not in dr


def test_the_cached_dashboard_follows_the_language_of_the_request(client, people) -> None:
    login_as(client, people["oncall-gd"])
    english = client.get("/", headers=EN).get_data(as_text=True)
    chinese = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Last run" in english and "Last run" not in chinese


def test_a_large_scope_gets_a_per_site_summary_and_the_hosts_needing_attention(
    client, people, store, monkeypatch
) -> None:
    from controlplane.web.views import dashboard

    monkeypatch.setattr(dashboard, "FULL_LIST_HOSTS", 3)
    _run(store, "mn-db-1", "ministry", RunStatus.FAILED)
    _run(store, "mn-portal-1", "ministry", RunStatus.SUCCEEDED)
    login_as(client, people["root"])
    page = client.get("/", headers=EN).get_data(as_text=True)
    assert "15 hosts in your scope" in page
    attention = page.split("Hosts needing attention", 1)[1].split("</table>", 1)[0]
    assert "mn-db-1" in attention and "mn-portal-1" not in attention


def test_the_hosts_list_pages_and_filters_by_site_within_scope(app, client, people, monkeypatch) -> None:
    from controlplane.web.views import hosts

    monkeypatch.setattr(hosts, "PER_PAGE", 2)
    login_as(client, people["root"])
    first = client.get("/hosts", headers=EN).get_data(as_text=True)
    assert "Page 1 of 8 (15 hosts)" in first and "/hosts?page=2" in first
    last = client.get("/hosts?page=8", headers=EN).get_data(as_text=True)
    assert "Page 8 of 8 (15 hosts)" in last
    province = client.get("/hosts?site=province-gd", headers=EN).get_data(as_text=True)
    assert "gd-edu-1" in province and "gd-gw-1" in province and "mn-db-1" not in province
    login_as(client, people["oncall-gd"])
    assert client.get("/hosts?site=dr-center").status_code == 403
    assert client.get("/hosts?site=no-such-site").status_code == 404
    assert client.get("/hosts?site=../etc").status_code == 400


def test_a_new_run_appears_in_the_runs_list_at_once(client, people, store) -> None:
    login_as(client, people["oncall-gd"])
    assert "(0 runs)" in client.get("/runs", headers=EN).get_data(as_text=True)
    run_id = _run(store, "gd-school-1", "school-gd-1", RunStatus.SUCCEEDED)
    page = client.get("/runs", headers=EN).get_data(as_text=True)
    assert "(1 runs)" in page and f"/runs/{run_id}" in page


def test_a_harden_run_page_links_to_its_per_host_view(client, people, store) -> None:
    from controlplane.runs import create_run

    with store.session() as session:
        harden = create_run(session, kind="harden", target="gd-school-1", actor="t", site="school-gd-1").id
        ping = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1").id
    login_as(client, people["oncall-gd"])
    assert f"/automation/runs/{harden}" in client.get(f"/runs/{harden}").get_data(as_text=True)
    assert "/automation/runs/" not in client.get(f"/runs/{ping}").get_data(as_text=True)
