"""The console's recovery banner (controlplane/web/recovery_banner.py): a restored copy says so on every page."""

from __future__ import annotations

from typing import Any

from flask import Flask

from controlplane.recovery.standing import Standing, write


def test_an_ordinary_control_plane_shows_no_recovery_banner(app: Flask) -> None:
    page = app.test_client().get("/login")
    assert page.status_code == 200 and "recovery-" not in page.get_data(as_text=True)


def test_a_drill_copy_says_so_on_the_login_page(app: Flask, store: Any) -> None:
    write(store, Standing("drill", "restore drill", "2026-12-07T10:00:00Z", {"snapshot_time": "2026-12-07T09:00:00"}))
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "recovery-drill" in page and "DRILL COPY" in page
