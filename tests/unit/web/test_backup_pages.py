"""Backup console pages and API: the grid by age against RPO, scoped to the user's sites, role-checked actions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from controlplane.backup import records
from controlplane.backup.jsonout import BackupSummary
from controlplane.runs import create_run
from tests.conftest import REPO
from tests.unit.web.conftest import login_as, make_app, remote_client


@pytest.fixture
def backup_app(config: Any, store: Any, vault: Any, lab_inventory: Any) -> Iterator[Flask]:
    """The console (its backup blueprints included) with the lab's backup policies."""
    from controlplane.web import shutdown

    site = dataclasses.replace(config, backup=REPO / "backup")
    application = make_app(site, store, vault, lab_inventory)
    yield application
    shutdown(application)


@pytest.fixture
def bclient(backup_app: Flask) -> FlaskClient:
    return remote_client(backup_app)


def _backed_up(store: Any, dataset: str, host: str, site: str) -> None:
    with store.session() as session:
        run = create_run(session, kind="backup", target=f"{dataset}@{host}", actor="t").id
    summary = BackupSummary("ef" * 32, 2, 0, 0, 1, 0, 100, 90, 2, 100, 1.5)
    records.record_backup(
        store,
        run_id=run,
        dataset=dataset,
        host=host,
        site=site,
        status="succeeded",
        message="ok",
        duration=1.0,
        summary=summary,
    )


def test_the_grid_shows_only_the_datasets_of_sites_in_scope_coloured_by_verdict(
    bclient: FlaskClient,
    people: Any,
    store: Any,
) -> None:
    _backed_up(store, "school-data", "gd-school-1", "school-gd-1")
    login_as(bclient, people["operator-gd"])
    page = bclient.get("/backup").get_data(as_text=True)
    assert "gd-school-1" in page and "gd-edu-1" in page
    assert "mn-oa-1" not in page and "mn-portal-1" not in page
    assert 'data-verdict="warning"' in page  # backed up, but never drilled
    assert 'data-verdict="never"' in page
    assert bclient.get("/backup/oa-data/mn-oa-1").status_code == 403
    assert bclient.get("/backup/school-data/gd-school-1").status_code == 200


def test_the_api_lists_readiness_rows_and_snapshots_within_scope(
    backup_app: Flask,
    people: Any,
    store: Any,
) -> None:
    _backed_up(store, "school-data", "gd-school-1", "school-gd-1")
    client = remote_client(backup_app)
    login_as(client, people["auditor-gd"])
    rows = client.get("/api/v1/backup/status").get_json()["items"]
    assert {row["site"] for row in rows} <= {"school-gd-1", "province-gd"}
    snaps = client.get("/api/v1/backup/school-data/gd-school-1/snapshots").get_json()["items"]
    assert snaps[0]["snapshot_id"] == "ef" * 32
    assert client.get("/api/v1/backup/oa-data/mn-oa-1/snapshots").status_code == 403


def test_only_operators_and_admins_may_start_a_backup_and_only_admins_restore(
    bclient: FlaskClient,
    people: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from controlplane.web.views import backup as backup_views

    started: list[tuple[str, str, str]] = []
    monkeypatch.setattr(backup_views, "start_operation", lambda kind, d, h, **kw: started.append((kind, d, h)))
    token = login_as(bclient, people["oncall-gd"])
    response = bclient.post("/backup/school-data/gd-school-1/run", data={"csrf_token": token, "action": "backup"})
    assert response.status_code == 403 and started == []
    token = login_as(bclient, people["operator-gd"])
    response = bclient.post("/backup/school-data/gd-school-1/run", data={"csrf_token": token, "action": "drill"})
    assert response.status_code == 302 and started == [("drill", "school-data", "gd-school-1")]
    response = bclient.post(
        "/backup/school-data/gd-school-1/restore", data={"csrf_token": token, "target": "/var/lib/egov/restore/x"}
    )
    assert response.status_code == 403


def test_a_console_restore_outside_the_roots_is_refused_and_nothing_starts(
    bclient: FlaskClient,
    people: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from controlplane.web.views import backup as backup_views

    started: list[Any] = []
    monkeypatch.setattr(backup_views, "start_operation", lambda *a, **kw: started.append(a))
    token = login_as(bclient, people["root"])
    response = bclient.post(
        "/backup/oa-data/mn-oa-1/restore", data={"csrf_token": token, "target": "/etc"}, follow_redirects=True
    )
    assert "outside the allowed restore roots" in response.get_data(as_text=True)
    assert started == []
    bclient.post("/backup/oa-data/mn-oa-1/restore", data={"csrf_token": token, "target": "/var/lib/egov/restore/a"})
    assert len(started) == 1


def test_the_pages_show_the_active_center_and_the_off_site_copy_age_and_offer_a_copy_only_before_failover(
    bclient: FlaskClient,
    people: Any,
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt

    from controlplane.backup.centers import set_active_center
    from controlplane.backup.offsite import record_copy
    from controlplane.backup.policy import load_policies
    from controlplane.inventory import load_inventory
    from controlplane.store.models import utcnow
    from controlplane.web.views import backup as backup_views

    started: list[tuple[str, str, str]] = []
    monkeypatch.setattr(backup_views, "start_operation", lambda kind, d, h, **kw: started.append((kind, d, h)))
    _backed_up(store, "school-data", "gd-school-1", "school-gd-1")
    record_copy(
        store,
        dataset="school-data",
        host="gd-school-1",
        site="school-gd-1",
        status="succeeded",
        newest=utcnow() - dt.timedelta(hours=3),
    )
    token = login_as(bclient, people["operator-gd"])
    page = bclient.get("/backup").get_data(as_text=True)
    assert 'data-active-center="primary"' in page and "dr-backup-1" in page
    assert "off-site copy: 3h0m" in page
    detail = bclient.get("/backup/school-data/gd-school-1").get_data(as_text=True)
    assert 'data-copy-status="succeeded"' in detail and 'value="copy"' in detail
    response = bclient.post("/backup/school-data/gd-school-1/run", data={"csrf_token": token, "action": "copy"})
    assert response.status_code == 302 and started == [("copy", "school-data", "gd-school-1")]

    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    set_active_center(store, load_policies(REPO / "backup", inventory), "secondary", actor="t")
    page = bclient.get("/backup").get_data(as_text=True)
    assert 'data-active-center="secondary"' in page and "Failed over" in page
    detail = bclient.get("/backup/school-data/gd-school-1").get_data(as_text=True)
    assert 'value="copy"' not in detail and "@10.198.0.32:" in detail  # the repository shown is the secondary's
    response = bclient.post("/backup/school-data/gd-school-1/run", data={"csrf_token": token, "action": "copy"})
    assert response.status_code == 400 and len(started) == 1
