"""Login, TOTP, throttling, sessions, CSRF, logout and password change."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from tests.unit.web.conftest import PASSWORD, audit_actions, login_as, remote_client

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_csrf(client, path: str = "/login") -> str:
    """GET a page and return the CSRF token of its form."""
    response = client.get(path)
    match = CSRF.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:500]
    return match.group(1)


def post_login(client, name: str, password: str):
    return client.post("/login", data={"name": name, "password": password, "csrf_token": form_csrf(client)})


def test_anonymous_pages_redirect_to_login_and_api_says_401(client) -> None:
    page = client.get("/runs?status=failed")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")
    api = client.get("/api/v1/runs")
    assert api.status_code == 401
    assert api.json == {"error": {"code": "unauthorized", "message": "authentication required"}}
    assert api.headers["WWW-Authenticate"].startswith("Bearer")


def test_login_ok_reaches_the_dashboard_and_is_audited(client, people, store) -> None:
    response = post_login(client, "operator-gd", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert ("auth.login", "operator-gd", "ok") in audit_actions(store)
    records = [r for r in __import__("controlplane.audit").audit.list_records(store) if r.action == "auth.login"]
    assert records[0].client == "192.0.2.10"
    assert PASSWORD not in records[0].details


def test_a_failed_login_is_refused_and_audited_without_the_password(client, people, store) -> None:
    response = post_login(client, "operator-gd", "wrong password here")
    assert response.status_code == 200
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert ("auth.login", "operator-gd", "failed") in audit_actions(store)
    from controlplane import audit

    assert all("wrong password here" not in (r.details + r.target) for r in audit.list_records(store))


def test_unknown_user_and_disabled_user_fail_like_a_wrong_password(client, people, store) -> None:
    from controlplane.store.models import User

    with store.session() as session:
        session.get(User, people["oncall-gd"].id).disabled = True
    for name in ("nobody", "oncall-gd"):
        response = post_login(client, name, PASSWORD)
        assert "Wrong user name or password" in response.get_data(as_text=True)


def test_five_failures_lock_the_name_for_fifteen_minutes_audited(client, people, store) -> None:
    for _ in range(4):
        assert post_login(client, "auditor-gd", "not the password").status_code == 200
    locked = post_login(client, "auditor-gd", "not the password")
    assert locked.status_code == 429
    # Even the right password is refused while locked.
    again = post_login(client, "auditor-gd", PASSWORD)
    assert again.status_code == 429
    assert "Too many failed attempts" in again.get_data(as_text=True)
    actions = audit_actions(store)
    assert ("auth.lockout", "user:auditor-gd", "locked") in actions
    # Five failures lock the name, not the address (a school's staff may share it behind NAT).
    assert ("auth.lockout", "addr:192.0.2.10", "locked") not in actions
    assert ("auth.login", "auditor-gd", "locked") in actions
    from controlplane.store.models import LoginThrottle

    with store.session() as session:
        row = session.get(LoginThrottle, "user:auditor-gd")
        remaining = row.locked_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)


def test_the_address_lock_covers_other_names_and_expires(client, people, store) -> None:
    from controlplane.users import ADDRESS_THROTTLE_LIMIT

    for index in range(ADDRESS_THROTTLE_LIMIT - 1):
        post_login(client, f"a-{index}", "whatever password")
    # A school behind one NAT address: a few mistyped passwords lock no one else out.
    assert post_login(remote_client(client.application), "oncall-gd", PASSWORD).status_code == 302
    post_login(client, "a-last", "whatever password")
    assert post_login(client, "oncall-gd", PASSWORD).status_code == 429
    assert ("auth.lockout", "addr:192.0.2.10", "locked") in audit_actions(store)
    # Another client address is not locked.
    other = remote_client(client.application, "192.0.2.99")
    assert post_login(other, "oncall-gd", PASSWORD).status_code == 302
    from controlplane.store.models import LoginThrottle

    with store.session() as session:
        session.get(LoginThrottle, "addr:192.0.2.10").locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert post_login(client, "oncall-gd", PASSWORD).status_code == 302


def test_totp_user_needs_the_code_after_the_password(client, app, store, vault, password_hash) -> None:
    from tests.unit.web.conftest import add_person

    person = add_person(store, vault, password_hash, "sec-totp", "security_officer", [], totp=True)
    response = post_login(client, "sec-totp", PASSWORD)
    assert response.headers["Location"].startswith("/login/totp")
    assert client.get("/").status_code == 302  # not logged in yet
    assert client.get("/api/v1/me").status_code == 401
    token = form_csrf(client, "/login/totp")
    wrong = client.post("/login/totp", data={"code": "000000", "csrf_token": token})
    assert "Wrong code" in wrong.get_data(as_text=True)
    ok = client.post("/login/totp", data={"code": person.code(), "csrf_token": token})
    assert ok.status_code == 302
    assert client.get("/audit").status_code == 200
    actions = audit_actions(store)
    assert ("auth.totp", "sec-totp", "failed") in actions and ("auth.login", "sec-totp", "ok") in actions


def test_a_totp_code_cannot_be_replayed(client, store, vault, password_hash) -> None:
    from tests.unit.web.conftest import add_person

    person = add_person(store, vault, password_hash, "replayer", "oncall", [], totp=True)
    code = person.code()
    post_login(client, "replayer", PASSWORD)
    token = form_csrf(client, "/login/totp")
    assert client.post("/login/totp", data={"code": code, "csrf_token": token}).status_code == 302
    client.post("/logout", data={"csrf_token": form_csrf(client, "/profile")})
    post_login(client, "replayer", PASSWORD)
    token = form_csrf(client, "/login/totp")
    replay = client.post("/login/totp", data={"code": code, "csrf_token": token})
    assert "Wrong code" in replay.get_data(as_text=True)


def test_an_admin_without_totp_can_only_enrol(client, store, vault, password_hash) -> None:
    import pyotp

    from tests.unit.web.conftest import add_person

    add_person(store, vault, password_hash, "new-admin", "admin", [])
    response = post_login(client, "new-admin", PASSWORD)
    assert response.headers["Location"] == "/profile/totp"
    for path in ("/", "/users", "/hosts", "/profile", "/audit"):
        blocked = client.get(path)
        assert blocked.status_code == 302 and blocked.headers["Location"] == "/profile/totp", path
    api = client.get("/api/v1/users")
    assert api.status_code == 403 and api.json["error"]["code"] == "totp_enrolment_required"
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json["totp_enrolment_required"] is True
    page = client.get("/profile/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert "otpauth://totp/EduGov:new-admin?secret=" in page
    token = CSRF.search(page).group(1)
    assert client.post("/profile/totp", data={"code": "123456", "csrf_token": token}).status_code == 302
    assert client.get("/users").status_code == 302
    client.post("/profile/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert client.get("/users").status_code == 200
    assert ("user.totp_enrol", "new-admin", "ok") in audit_actions(store)
    # The secret is in the vault, encrypted, never in the users table.
    assert vault.get(f"user.{_user_id(store, 'new-admin')}.totp") == secret


def _user_id(store, name: str) -> int:
    from controlplane.users import get_user

    with store.session() as session:
        return get_user(session, name).id


def test_csrf_is_required_on_forms(client, people) -> None:
    login_as(client, people["operator-gd"])
    refused = client.post("/runs/new", data={"kind": "ping", "host": "gd-school-1"})
    assert refused.status_code == 403
    wrong = client.post("/runs/new", data={"kind": "ping", "host": "gd-school-1", "csrf_token": "forged"})
    assert wrong.status_code == 403
    # Cookie-authenticated API calls need the header too.
    api = client.post("/api/v1/runs", json={"kind": "ping", "host": "gd-school-1"})
    assert api.status_code == 403 and api.json["error"]["code"] == "csrf_failed"
    # And the login form itself.
    assert client.post("/login", data={"name": "x", "password": "y"}).status_code == 403


def test_security_headers_on_pages_api_and_errors(client, people) -> None:
    login_as(client, people["oncall-gd"])
    for path in ("/", "/login", "/api/v1/me", "/nope", "/api/v1/nope"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/console.css").headers.get("Cache-Control", "")


def test_session_cookie_flags(client, people) -> None:
    response = post_login(client, "oncall-gd", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; Secure under TLS (see test_secure_cookie_under_tls)


def test_secure_cookie_under_tls(config, store, vault, lab_inventory, people) -> None:
    from controlplane.web import create_app

    tls_app = create_app(
        config,
        {"TESTING": True, "EGOV_STORE": store, "EGOV_VAULT": vault, "EGOV_INVENTORY": lab_inventory, "EGOV_TLS": True},
    )
    client = tls_app.test_client()
    response = post_login(client, "oncall-gd", PASSWORD)
    assert "Secure" in response.headers["Set-Cookie"]
    assert "max-age" in client.get("/login").headers["Strict-Transport-Security"]


def test_idle_and_absolute_timeouts_end_the_session(client, people) -> None:
    login_as(client, people["oncall-gd"])
    assert client.get("/").status_code == 200
    with client.session_transaction() as data:
        data["seen"] = time.time() - 31 * 60
    expired = client.get("/")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/login")
    login_as(client, people["oncall-gd"])
    with client.session_transaction() as data:
        data["t0"] = time.time() - 13 * 3600
    assert client.get("/").status_code == 302


def test_activity_keeps_the_session_alive(client, people) -> None:
    login_as(client, people["oncall-gd"])
    with client.session_transaction() as data:
        data["seen"] = time.time() - 29 * 60
    assert client.get("/").status_code == 200
    with client.session_transaction() as data:
        assert time.time() - data["seen"] < 5


def test_logout_ends_the_session_and_is_audited(client, people, store) -> None:
    csrf = login_as(client, people["oncall-gd"])
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/").status_code == 302
    assert ("auth.logout", "oncall-gd", "ok") in audit_actions(store)


def test_disabling_a_user_ends_their_session(client, people, store) -> None:
    from controlplane.store.models import User

    login_as(client, people["oncall-gd"])
    with store.session() as session:
        session.get(User, people["oncall-gd"].id).disabled = True
    assert client.get("/").status_code == 302


def test_password_change_needs_the_old_password_and_12_characters(client, people, store, app) -> None:
    csrf = login_as(client, people["oncall-gd"])
    other = app.test_client()
    login_as(other, people["oncall-gd"])
    short = client.post(
        "/profile/password",
        data={"old_password": PASSWORD, "new_password": "short", "new_password2": "short", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "at least 12 characters" in short.get_data(as_text=True)
    wrong = client.post(
        "/profile/password",
        data={"old_password": "nope", "new_password": "x" * 14, "new_password2": "x" * 14, "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "current password is wrong" in wrong.get_data(as_text=True)
    ok = client.post(
        "/profile/password",
        data={
            "old_password": PASSWORD,
            "new_password": "a new passphrase",
            "new_password2": "a new passphrase",
            "csrf_token": csrf,
        },
        follow_redirects=True,
    )
    assert "Password changed" in ok.get_data(as_text=True)
    assert client.get("/").status_code == 200  # this session continues
    assert other.get("/").status_code == 302  # the other one ended
    actions = audit_actions(store)
    assert ("user.password", "oncall-gd", "failed") in actions and ("user.password", "oncall-gd", "ok") in actions
    client.post("/logout", data={"csrf_token": form_csrf(client, "/profile")})
    assert post_login(client, "oncall-gd", "a new passphrase").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", "/\t/evil.example"])
def test_login_never_redirects_off_site(client, people, target) -> None:
    token = form_csrf(client)
    response = client.post(
        "/login", data={"name": "oncall-gd", "password": PASSWORD, "csrf_token": token, "next": target}
    )
    assert response.headers["Location"] == "/"


def test_reentering_the_password_does_not_reset_the_totp_guess_count(client, store, vault, password_hash) -> None:
    from tests.unit.web.conftest import add_person

    add_person(store, vault, password_hash, "guessed", "oncall", [], totp=True)
    statuses = []
    for _ in range(3):
        post_login(client, "guessed", PASSWORD)
        token = form_csrf(client, "/login/totp")
        for code in ("000001", "000002"):
            statuses.append(client.post("/login/totp", data={"code": code, "csrf_token": token}).status_code)
    assert 429 in statuses  # the fifth wrong code locked the name, whatever the password re-entries
    assert post_login(client, "guessed", PASSWORD).status_code == 429


def test_wrong_current_passwords_count_towards_the_lock(client, people, store) -> None:
    csrf = login_as(client, people["oncall-gd"])
    form = {"old_password": "wrong", "new_password": "y" * 14, "new_password2": "y" * 14, "csrf_token": csrf}
    for _ in range(5):
        client.post("/profile/password", data=form)
    text = client.post("/profile/password", data={**form, "old_password": PASSWORD}, follow_redirects=True)
    assert "Too many attempts" in text.get_data(as_text=True)
    assert ("auth.lockout", "user:oncall-gd", "locked") in audit_actions(store)
