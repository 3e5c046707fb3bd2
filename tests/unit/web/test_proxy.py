"""Behind a reverse proxy: the audit log gets the real client address, and loopback is not everyone."""

from __future__ import annotations

import dataclasses

from tests.unit.web.conftest import PASSWORD, audit_actions, make_app
from tests.unit.web.test_auth import post_login

FORWARDED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}


def _audited_addresses(store) -> list[str]:
    from controlplane import audit

    return [record.client for record in audit.list_records(store, limit=100) if record.action == "auth.login"]


def _proxied_app(config, store, vault, lab_inventory, hops: int):
    site = dataclasses.replace(config, trusted_proxies=hops, public_url="https://console.example.edu.cn")
    return make_app(site, store, vault, lab_inventory)


def test_with_one_trusted_proxy_the_forwarded_client_is_audited_and_metrics_need_login(
    config, store, vault, lab_inventory, people
) -> None:
    app = _proxied_app(config, store, vault, lab_inventory, hops=1)
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR="127.0.0.1")  # the proxy runs on this machine
    assert client.get("/metrics", headers=FORWARDED).status_code in (302, 401)
    answer = client.post(
        "/login",
        data={"name": "oncall-gd", "password": PASSWORD, "csrf_token": _csrf(client)},
        headers=FORWARDED,
    )
    assert answer.status_code == 302
    assert "198.51.100.7" in _audited_addresses(store)
    assert "Secure" in answer.headers.get("Set-Cookie", "")


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(client, people, store) -> None:
    client.environ_base.update(REMOTE_ADDR="192.0.2.30")
    headers = {"X-Forwarded-For": "198.51.100.99"}
    client.get("/login", headers=headers)
    assert post_login(client, "oncall-gd", PASSWORD).status_code == 302
    assert "198.51.100.99" not in _audited_addresses(store)
    assert "192.0.2.30" in _audited_addresses(store)
    assert ("auth.login", "oncall-gd", "ok") in audit_actions(store)


def _csrf(client) -> str:
    from tests.unit.web.test_auth import form_csrf

    return form_csrf(client, "/login")
