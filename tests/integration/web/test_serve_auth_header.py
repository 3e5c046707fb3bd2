"""A served `egov serve` behind a proxy that adds its own `Authorization: Basic`: the console still works.

The proxy's credentials are not ours: the request authenticates by its session
cookie (or stays anonymous), while a bad Bearer token is still a 401.
Nothing leaves the machine: the server binds 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.integration.web.test_serve_console import login, site, start_console, stop_console

__all__ = ["site"]  # the fixture, imported for this module's tests

BASIC = {"Authorization": "Basic cHJveHk6cHJveHktcGFzc3dvcmQ="}  # "proxy:proxy-password"


def test_a_proxys_basic_authorization_header_does_not_make_every_route_401(site: Path) -> None:
    process, url = start_console(site)
    try:
        session = requests.Session()
        assert login(session, url, timeout=10, headers=BASIC).status_code == 302
        me = session.get(f"{url}/api/v1/me", headers=BASIC, timeout=10)
        assert me.status_code == 200 and me.json()["name"] == "ops1" and me.json()["auth"] == "session"
        assert session.get(f"{url}/hosts", headers=BASIC, timeout=10).status_code == 200
        # The header alone is no credential, and a wrong Bearer token stays a 401 even beside a session.
        assert requests.get(f"{url}/api/v1/me", headers=BASIC, timeout=10).status_code == 401
        bad = session.get(f"{url}/api/v1/me", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
