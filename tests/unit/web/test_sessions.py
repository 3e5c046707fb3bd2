"""Console sessions live in the store: logout, "end other sessions" and an admin's "end all" hold for copied cookies."""

from __future__ import annotations

import datetime as dt

from controlplane.store.models import WebSession
from controlplane.users import sessions
from tests.unit.web.conftest import PASSWORD, login_as, token_for
from tests.unit.web.test_auth import form_csrf, post_login


def _logged_in_by_form(app, name: str):
    """A client logged in through the login form (no second factor), and its CSRF token."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.20"
    assert post_login(client, name, PASSWORD).status_code == 302
    return client, form_csrf(client, "/profile")


def _copy_of(app, client):
    """A second client that sends the same session cookie (a stolen or copied cookie)."""
    copy = app.test_client()
    cookie = client.get_cookie("egov_session")
    copy.set_cookie(cookie.key, cookie.value)
    return copy


def test_a_copied_cookie_stops_working_when_its_owner_logs_out(app, people) -> None:
    client, csrf = _logged_in_by_form(app, "oncall-gd")
    copy = _copy_of(app, client)
    assert copy.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert copy.get("/").status_code == 302


def test_ending_other_sessions_keeps_this_one_and_is_audited(app, people, store) -> None:
    from tests.unit.web.conftest import audit_actions

    laptop, csrf = _logged_in_by_form(app, "oncall-gd")
    phone, _ = _logged_in_by_form(app, "oncall-gd")
    listed = laptop.get("/api/v1/me/sessions").json["items"]
    assert len(listed) == 2 and sum(item["current"] for item in listed) == 1
    assert "key_hash" not in listed[0]
    answer = laptop.post("/profile/sessions/end-others", data={"csrf_token": csrf})
    assert answer.status_code == 302
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    assert ("session.end_others", "oncall-gd", "ok") in audit_actions(store)


def test_an_admin_ends_every_session_of_a_user_in_scope(app, client, people, store) -> None:
    victim, _ = _logged_in_by_form(app, "auditor-gd")
    token = token_for(app, people["root"])
    answer = client.post("/api/v1/users/auditor-gd/sessions/end", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json == {"ended": 1}
    assert victim.get("/").status_code == 302


def test_an_admin_of_another_site_cannot_end_a_users_sessions(app, client, people) -> None:
    _logged_in_by_form(app, "auditor-gd")
    token = token_for(app, people["admin-dr"])
    answer = client.post("/api/v1/users/auditor-gd/sessions/end", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (403, 404)


def test_disabling_a_user_revokes_their_stored_sessions(app, client, people, store) -> None:
    from controlplane.store.models import User

    _logged_in_by_form(app, "auditor-gd")
    token = token_for(app, people["root"])
    assert client.delete("/api/v1/users/auditor-gd", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with store.session() as db:
        assert sessions.live(db, db.query(User).filter_by(name="auditor-gd").one().id) == []


def test_the_store_keeps_only_a_hash_of_the_cookie_key(app, people, store) -> None:
    client, _ = _logged_in_by_form(app, "oncall-gd")
    with client.session_transaction() as data:
        key = data["sid"]
    with store.session() as db:
        hashes = [row.key_hash for row in db.query(WebSession)]
    assert key not in hashes and sessions.key_hash(key) in hashes


def test_a_session_of_another_user_key_is_refused(app, people, store) -> None:
    client = app.test_client()
    login_as(client, people["oncall-gd"])
    with client.session_transaction() as data:
        data["uid"] = people["root"].id  # a forged uid with a real key of someone else
    assert client.get("/").status_code == 302


def test_purge_drops_sessions_older_than_the_absolute_limit(store, people) -> None:
    with store.session() as db:
        sessions.begin(db, people["oncall-gd"].id, address="192.0.2.1", user_agent="old\nbrowser")
        old = db.query(WebSession).one()
        assert old.user_agent == "oldbrowser"
        old.created_at -= dt.timedelta(hours=13)
        sessions.begin(db, people["oncall-gd"].id, address="192.0.2.1", user_agent="new")
    with store.session() as db:
        assert sessions.purge(db, dt.timedelta(hours=12)) == 1
        assert [row.user_agent for row in db.query(WebSession)] == ["new"]


def test_last_seen_is_written_at_most_once_a_minute(app, people, store) -> None:
    client, _ = _logged_in_by_form(app, "oncall-gd")
    with store.session() as db:
        row = db.query(WebSession).one()
        row.last_seen_at -= dt.timedelta(minutes=5)
        stale = row.last_seen_at
    assert client.get("/api/v1/me").status_code == 200
    with store.session() as db:
        touched = db.query(WebSession).one().last_seen_at
    assert touched > stale + dt.timedelta(minutes=4)
    assert client.get("/api/v1/me").status_code == 200
    with store.session() as db:
        assert db.query(WebSession).one().last_seen_at == touched


def test_the_sessions_api_answers_match_the_openapi_document(app, people) -> None:
    from jsonschema import Draft202012Validator

    client, _ = _logged_in_by_form(app, "oncall-gd")
    doc = client.get("/api/v1/openapi.json").get_json()

    def check(path: str, method: str, body: object) -> None:
        schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        errors = list(Draft202012Validator({**schema, "components": doc["components"]}).iter_errors(body))
        assert not errors, (path, [error.message for error in errors])

    listed = client.get("/api/v1/me/sessions").get_json()
    assert listed["items"]
    check("/api/v1/me/sessions", "get", listed)
    check(
        "/api/v1/me/sessions/end",
        "post",
        client.post("/api/v1/me/sessions/end", json={}, headers={"X-CSRF-Token": _csrf_of(client)}).get_json(),
    )


def _csrf_of(client) -> str:
    with client.session_transaction() as data:
        return data["csrf"]
