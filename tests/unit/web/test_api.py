"""The JSON API: bearer tokens, the one error shape, input validation, users CRUD, OpenAPI."""

from __future__ import annotations

import re

import pytest

from tests.unit.web.conftest import PASSWORD, audit_actions, login_as, token_for

INJECTIONS = ["; rm -rf /", "$(reboot)", "../../etc/passwd", "line\nbreak", "<script>alert(1)</script>", "a\x00b"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code:
        assert body["error"]["code"] == code


def test_a_token_authenticates_and_carries_role_and_sites(client, app, people) -> None:
    token = token_for(app, people["operator-gd"])
    assert re.fullmatch(r"egov_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", token)
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["name"] == "operator-gd" and me.json["role"] == "operator" and me.json["auth"] == "token"
    assert me.json["visible_sites"] == ["province-gd", "school-gd-1"]
    sites = client.get("/api/v1/sites", headers=bearer(token)).json["items"]
    assert [s["name"] for s in sites] == ["province-gd", "school-gd-1"]
    hosts = client.get("/api/v1/hosts", headers=bearer(token)).json["items"]
    assert sorted(h["name"] for h in hosts) == ["gd-edu-1", "gd-gw-1", "gd-school-1"]


def test_the_token_is_stored_only_as_its_sha256(app, people, store) -> None:
    import hashlib

    from controlplane.store.models import ApiToken

    token = token_for(app, people["oncall-gd"])
    with store.session() as session:
        rows = session.query(ApiToken).all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in (r.prefix + r.name) for r in rows)


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer egov_aaaaaaaa_" + "x" * 43, "Basic abc", "Bearer "])
def test_bad_tokens_are_401(client, header) -> None:
    assert_error(client.get("/api/v1/me", headers={"Authorization": header}), 401)


def test_revoked_expired_and_disabled_users_tokens_stop_working(client, app, people, store) -> None:
    import datetime as dt

    from controlplane.store.models import ApiToken, User

    token = token_for(app, people["oncall-gd"])
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with store.session() as session:
        session.query(ApiToken).update({"expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)})
    assert_error(client.get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")
    token2 = token_for(app, people["oncall-gd"], "second")
    with store.session() as session:
        session.get(User, people["oncall-gd"].id).disabled = True
    assert_error(client.get("/api/v1/me", headers=bearer(token2)), 401)


def test_tokens_create_list_revoke_are_audited_and_shown_once(client, app, people, store) -> None:
    token = token_for(app, people["auditor-gd"])
    created = client.post("/api/v1/tokens", json={"name": "ci", "expires_days": 30}, headers=bearer(token))
    assert created.status_code == 201 and created.json["token"].startswith("egov_")
    listed = client.get("/api/v1/tokens", headers=bearer(token)).json["items"]
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    revoked = client.delete(f"/api/v1/tokens/{created.json['id']}", headers=bearer(token))
    assert revoked.status_code == 200 and revoked.json["revoked"] is True
    assert_error(client.get("/api/v1/me", headers=bearer(created.json["token"])), 401)
    actions = audit_actions(store)
    assert ("token.create", f"token:{created.json['id']}", "ok") in actions
    assert ("token.revoke", f"token:{created.json['id']}", "ok") in actions
    from controlplane import audit

    assert all(created.json["token"] not in r.details for r in audit.list_records(store))
    # Another user's token id is not ours to revoke.
    other = token_for(app, people["oncall-gd"])
    assert_error(client.delete(f"/api/v1/tokens/{created.json['id']}", headers=bearer(other)), 404)


def test_the_token_page_shows_the_token_once(client, people) -> None:
    csrf = login_as(client, people["oncall-gd"])
    page = client.post("/profile/tokens", data={"name": "laptop", "csrf_token": csrf})
    text = page.get_data(as_text=True)
    token = re.search(r"egov_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", text).group(0)
    assert page.headers["Cache-Control"] == "no-store"
    assert token not in client.get("/profile").get_data(as_text=True)


def test_error_shape_for_404_405_413_415_400(client, app, people) -> None:
    token = token_for(app, people["root"])
    headers = bearer(token)
    assert_error(client.get("/api/v1/nothing-here", headers=headers), 404, "not_found")
    assert_error(client.get("/api/v1/runs/99999", headers=headers), 404)
    assert_error(client.put("/api/v1/runs", headers=headers, json={}), 405, "method_not_allowed")
    big = {"kind": "ping", "host": "x" * (70 * 1024)}
    assert_error(client.post("/api/v1/runs", headers=headers, json=big), 413, "payload_too_large")
    assert_error(
        client.post(
            "/api/v1/runs", headers=headers, data="kind=ping", content_type="application/x-www-form-urlencoded"
        ),
        415,
        "unsupported_media_type",
    )
    assert_error(client.post("/api/v1/runs", headers=headers, data="{nope", content_type="application/json"), 400)
    assert_error(client.post("/api/v1/runs", headers=headers, json={"kind": "ping"}), 400)
    assert_error(client.post("/api/v1/runs", headers=headers, json=["kind"]), 400)
    assert_error(client.get("/api/v1/runs?status=bogus", headers=headers), 400)
    assert_error(client.get("/api/v1/runs?page=0", headers=headers), 400)
    assert_error(client.get("/api/v1/runs?per_page=1000", headers=headers), 400)


def test_unknown_fields_are_400_and_named(client, app, people) -> None:
    headers = bearer(token_for(app, people["root"]))
    response = client.post("/api/v1/runs", headers=headers, json={"kind": "ping", "host": "gd-school-1", "shell": "x"})
    assert_error(response, 400, "invalid")
    assert "shell" in response.json["error"]["message"]
    assert_error(client.patch("/api/v1/me", headers=headers, json={"role": "admin"}), 400)
    assert_error(client.patch("/api/v1/users/operator-gd", headers=headers, json={"password_hash": "x"}), 400)


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_strings_in_every_api_text_field_are_refused_or_escaped(client, app, people, store, evil) -> None:
    headers = bearer(token_for(app, people["root"]))
    # Identifiers: refused with a clear 4xx, nothing started.
    for body in (
        {"kind": "ping", "host": evil},
        {"kind": evil, "host": "gd-school-1"},
    ):
        response = client.post("/api/v1/runs", headers=headers, json=body)
        assert 400 <= response.status_code < 500 and response.json["error"]["code"] in ("invalid", "unknown_host")
    user = {"name": evil, "role": "oncall", "password": "a long enough password"}
    assert_error(client.post("/api/v1/users", headers=headers, json=user), 400)
    user = {"name": "evil-sites", "role": "oncall", "password": "a long enough password", "sites": [evil]}
    assert_error(client.post("/api/v1/users", headers=headers, json=user), 400)
    assert_error(client.post("/api/v1/tokens", headers=headers, json={"name": evil}), 400)
    assert client.get(f"/api/v1/hosts/{evil.replace(chr(0), '')}", headers=headers).status_code in (400, 404)
    assert client.get("/api/v1/audit", headers=headers, query_string={"actor": evil}).status_code == 400
    # Free text: a display name with control characters is refused; printable markup is stored and escaped.
    response = client.patch("/api/v1/me", headers=headers, json={"display_name": evil})
    if any(ord(ch) < 32 for ch in evil):
        assert_error(response, 400)
    else:
        assert response.status_code == 200 and response.json["display_name"] == evil
        login_as(client, people["root"])
        page = client.get("/profile").get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page
    from controlplane.store.models import Run

    with store.session() as session:
        assert session.query(Run).count() == 0


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_strings_in_every_form_field_are_refused_or_escaped(client, people, store, evil) -> None:
    csrf = login_as(client, people["root"])
    response = client.post("/runs/new", data={"kind": "ping", "host": evil, "csrf_token": csrf})
    assert response.status_code in (302, 400, 404)
    response = client.post("/runs/new", data={"kind": evil, "host": "gd-school-1", "csrf_token": csrf})
    assert response.status_code in (302, 400)
    form = {"name": evil, "role": "oncall", "password": "a long enough password", "csrf_token": csrf}
    client.post("/users", data=form)
    client.post("/users", data={**form, "name": "evil-display", "display_name": evil})
    client.post("/profile/tokens", data={"name": evil, "csrf_token": csrf})
    client.post("/profile", data={"display_name": evil, "csrf_token": csrf})
    for path in ("/users", "/profile", "/runs", "/audit", "/"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page, path
    from controlplane.store.models import Run, User

    with store.session() as session:
        assert session.query(Run).count() == 0
        names = {u.name for u in session.query(User)}
    assert evil not in names


def test_api_runs_scope_filters_lists_and_refuses_other_sites(client, app, people, store) -> None:
    from controlplane.runs import create_run

    with store.session() as session:
        mine = create_run(session, kind="ping", target="gd-school-1", actor="x", site="school-gd-1").id
        theirs = create_run(session, kind="ping", target="mn-portal-1", actor="x", site="ministry").id
        global_run = create_run(session, kind="backup", target="all", actor="x").id
    gd = bearer(token_for(app, people["oncall-gd"]))
    ids = [r["id"] for r in client.get("/api/v1/runs", headers=gd).json["items"]]
    assert ids == [mine]
    assert_error(client.get(f"/api/v1/runs/{theirs}", headers=gd), 403)
    assert_error(client.get(f"/api/v1/runs/{global_run}", headers=gd), 403)
    root = bearer(token_for(app, people["root"]))
    assert {r["id"] for r in client.get("/api/v1/runs", headers=root).json["items"]} == {mine, theirs, global_run}
    page = client.get("/api/v1/runs?per_page=2&page=2", headers=root).json
    assert page["total"] == 3 and [r["id"] for r in page["items"]] == [mine]


def test_users_crud_by_admin_with_scope_and_audit(client, app, people, store) -> None:
    root = bearer(token_for(app, people["root"]))
    created = client.post(
        "/api/v1/users",
        headers=root,
        json={"name": "newbie", "role": "operator", "password": "a long enough password", "sites": ["school-gd-1"]},
    )
    assert created.status_code == 201 and "password" not in created.json
    assert client.get("/api/v1/users/newbie", headers=root).json["sites"] == ["school-gd-1"]
    changed = client.patch("/api/v1/users/newbie", headers=root, json={"role": "oncall", "sites": ["province-gd"]})
    assert changed.json["role"] == "oncall" and changed.json["sites"] == ["province-gd"]
    assert_error(client.patch("/api/v1/users/newbie", headers=root, json={"sites": ["atlantis"]}), 400)
    assert_error(
        client.post("/api/v1/users", headers=root, json={"name": "short", "role": "oncall", "password": "x"}), 400
    )
    assert_error(
        client.post(
            "/api/v1/users",
            headers=root,
            json={"name": "newbie", "role": "oncall", "password": "a long enough password"},
        ),
        400,
    )
    disabled = client.delete("/api/v1/users/newbie", headers=root)
    assert disabled.json["disabled"] is True
    actions = audit_actions(store)
    for action in ("user.create", "user.role", "user.disable"):
        assert (action, "newbie", "ok") in actions
    # A province admin manages its own sites only, and cannot grant more.
    gd_admin = bearer(token_for(app, people["admin-gd"]))
    names = {u["name"] for u in client.get("/api/v1/users", headers=gd_admin).json["items"]}
    assert "root" not in names and "operator-dr" not in names and "operator-gd" in names
    assert_error(client.patch("/api/v1/users/operator-gd", headers=gd_admin, json={"sites": []}), 403)
    assert_error(client.get("/api/v1/users/root", headers=gd_admin), 403)


def test_no_change_may_lock_out_the_last_ministry_admin(client, app, people) -> None:
    root = bearer(token_for(app, people["root"]))
    assert_error(client.patch("/api/v1/users/root", headers=root, json={"role": "auditor"}), 409, "self_change")
    other = client.post(
        "/api/v1/users", headers=root, json={"name": "root-two", "role": "admin", "password": "a long enough password"}
    )
    assert other.status_code == 201
    two = bearer(_token(app, "root-two"))
    # An admin without TOTP can do nothing with a token either.
    assert_error(client.get("/api/v1/users", headers=two), 403, "totp_enrolment_required")
    from controlplane.users import get_user

    with app.extensions["egov"].store.session() as session:
        get_user(session, "root-two").totp_enabled = True
    # root-two may disable root: an enabled ministry admin (root-two) remains...
    assert client.patch("/api/v1/users/root", headers=two, json={"disabled": True}).status_code == 200
    # ...but not itself, and nobody may remove the last one.
    assert_error(client.patch("/api/v1/users/root-two", headers=two, json={"disabled": True}), 409)


def _token(app, name: str) -> str:
    from controlplane import users

    with app.extensions["egov"].store.session() as session:
        return users.create_token(session, users.get_user(session, name), "t")[1]


def test_me_password_change_over_the_api(client, app, people, store) -> None:
    headers = bearer(token_for(app, people["oncall-gd"]))
    wrong = client.post("/api/v1/me/password", headers=headers, json={"old_password": "x", "new_password": "y" * 12})
    assert_error(wrong, 403, "wrong_password")
    weak = client.post("/api/v1/me/password", headers=headers, json={"old_password": PASSWORD, "new_password": "short"})
    assert_error(weak, 400)
    ok = client.post(
        "/api/v1/me/password", headers=headers, json={"old_password": PASSWORD, "new_password": "a brand new secret"}
    )
    assert ok.status_code == 200
    assert ("user.password", "oncall-gd", "ok") in audit_actions(store)


def test_totp_enrolment_over_the_api(client, app, people, store) -> None:
    import pyotp

    headers = bearer(token_for(app, people["oncall-gd"]))
    started = client.post("/api/v1/me/totp", headers=headers)
    assert started.status_code == 200 and started.json["otpauth_uri"].startswith("otpauth://totp/")
    assert_error(client.post("/api/v1/me/totp/confirm", headers=headers, json={"code": "12345"}), 400)
    code = pyotp.TOTP(started.json["secret"]).now()
    confirmed = client.post("/api/v1/me/totp/confirm", headers=headers, json={"code": code})
    assert confirmed.status_code == 200 and confirmed.json["totp_enabled"] is True
    assert_error(client.post("/api/v1/me/totp", headers=headers), 409)
    admin = bearer(token_for(app, people["root"]))
    assert_error(client.post("/api/v1/me/totp/disable", headers=admin, json={"code": "000000"}), 409, "totp_required")


def test_openapi_documents_every_api_route_and_closes_request_bodies(client, app) -> None:
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    schemas = doc["components"]["schemas"]
    for ops in doc["paths"].values():
        for op in ops.values():
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                assert schemas[ref]["additionalProperties"] is False
    from jsonschema import Draft202012Validator

    for name in ("RunCreate", "UserCreate", "UserUpdate", "TokenCreate"):
        Draft202012Validator.check_schema(schemas[name])
