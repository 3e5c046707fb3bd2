"""The profile's second factor and API tokens: re-enrol and disable need password and code, throttled;
tokens expire by default and die with a password change; a non-Bearer Authorization header is ignored."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pyotp
import pytest

from tests.unit.web.conftest import PASSWORD, Person, add_person, audit_actions, login_as, token_for

SECRET_ON_PAGE = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')


@pytest.fixture
def otp_user(store: Any, vault: Any, password_hash: str) -> Person:
    """An on-call user of province-gd with TOTP enrolled (TOTP is optional for non-admins)."""
    return add_person(store, vault, password_hash, "otp-user", "oncall", ["province-gd"], totp=True)


def _secret(vault: Any, person: Person, pending: bool = False) -> str | None:
    name = f"user.{person.id}.totp_pending" if pending else f"user.{person.id}.totp"
    return vault.get(name) if vault.exists(name) else None


def _totp_on(store: Any, person: Person) -> bool:
    from controlplane.store.models import User

    with store.session() as session:
        return bool(session.get(User, person.id).totp_enabled)


# --------------------------------------------------------------------------- re-enrolment
def test_reenrolment_while_totp_is_on_needs_the_password_and_current_code(client, vault, otp_user) -> None:
    csrf = login_as(client, otp_user)
    # The old form: "Generate a new secret" started a pending enrolment with nothing but the session.
    client.post("/profile/totp", data={"restart": "1", "csrf_token": csrf})
    assert _secret(vault, otp_user, pending=True) is None
    # A pending secret left behind (or planted) cannot be confirmed over the enrolled one either.
    planted = pyotp.random_base32()
    vault.set(f"user.{otp_user.id}.totp_pending", planted)
    client.post("/profile/totp", data={"code": pyotp.TOTP(planted).now(), "csrf_token": csrf})
    assert _secret(vault, otp_user) == otp_user.totp_secret
    # Wrong password with the right code, or the right password with a wrong code: refused too.
    for password, code in ((f"{PASSWORD}x", otp_user.code(-1)), (PASSWORD, "000000")):
        response = client.post(
            "/profile/totp",
            data={"reenrol": "1", "password": password, "code": code, "csrf_token": csrf},
            follow_redirects=True,
        )
        assert "Wrong password or code" in response.get_data(as_text=True)
    assert _secret(vault, otp_user) == otp_user.totp_secret
    assert SECRET_ON_PAGE.search(client.get("/profile/totp").get_data(as_text=True)) is None


def test_reenrolment_with_password_and_current_code_replaces_the_secret(client, store, vault, otp_user) -> None:
    csrf = login_as(client, otp_user)
    started = client.post(
        "/profile/totp", data={"reenrol": "1", "password": PASSWORD, "code": otp_user.code(), "csrf_token": csrf}
    )
    assert started.status_code == 302 and started.headers["Location"] == "/profile/totp"
    page = client.get("/profile/totp").get_data(as_text=True)
    new_secret = SECRET_ON_PAGE.search(page).group(1)
    assert new_secret != otp_user.totp_secret
    # The new secret's code of this very time step is accepted: the replay guard belongs to the old secret.
    done = client.post("/profile/totp", data={"code": pyotp.TOTP(new_secret).now(), "csrf_token": csrf})
    assert done.status_code == 302 and done.headers["Location"] == "/profile"
    assert _secret(vault, otp_user) == new_secret and _secret(vault, otp_user, pending=True) is None
    assert _totp_on(store, otp_user)
    assert ("user.totp_reenrol", "otp-user", "ok") in audit_actions(store)


def test_the_api_reenrols_only_with_password_and_current_code(app, client, vault, otp_user) -> None:
    auth = {"Authorization": f"Bearer {token_for(app, otp_user)}"}
    bare = client.post("/api/v1/me/totp", headers=auth)
    assert bare.status_code == 409 and bare.json["error"]["code"] == "totp_enabled"
    wrong = client.post("/api/v1/me/totp", json={"password": PASSWORD, "code": "000000"}, headers=auth)
    assert wrong.status_code == 403 and wrong.json["error"]["code"] == "wrong_password_or_code"
    ok = client.post("/api/v1/me/totp", json={"password": PASSWORD, "code": otp_user.code()}, headers=auth)
    assert ok.status_code == 200, ok.json
    new_secret = ok.json["secret"]
    confirmed = client.post("/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(new_secret).now()}, headers=auth)
    assert confirmed.status_code == 200, confirmed.json
    assert _secret(vault, otp_user) == new_secret


# --------------------------------------------------------------------------- disable
def test_disabling_totp_needs_the_password_as_well_as_the_code(client, store, vault, otp_user) -> None:
    csrf = login_as(client, otp_user)
    client.post("/profile/totp/disable", data={"code": otp_user.code(-1), "csrf_token": csrf})
    assert _totp_on(store, otp_user), "a code alone turned the second factor off"
    client.post("/profile/totp/disable", data={"code": otp_user.code(), "password": PASSWORD, "csrf_token": csrf})
    assert not _totp_on(store, otp_user)
    assert _secret(vault, otp_user) is None
    assert ("user.totp_disable", "otp-user", "ok") in audit_actions(store)


def test_wrong_totp_disable_attempts_lock_like_logins(client, store, otp_user) -> None:
    csrf = login_as(client, otp_user)
    for _ in range(5):
        client.post("/profile/totp/disable", data={"code": "000000", "password": PASSWORD, "csrf_token": csrf})
    # The sixth try has everything right, and is refused: the name is locked like after five bad logins.
    refused = client.post(
        "/profile/totp/disable",
        data={"code": otp_user.code(), "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert _totp_on(store, otp_user)
    assert ("auth.lockout", "user:otp-user", "locked") in audit_actions(store)


def test_the_api_disables_totp_with_password_and_code_and_throttles(app, client, store, otp_user) -> None:
    auth = {"Authorization": f"Bearer {token_for(app, otp_user)}"}
    no_password = client.post("/api/v1/me/totp/disable", json={"code": otp_user.code(-1)}, headers=auth)
    assert no_password.status_code == 400
    statuses = [
        client.post("/api/v1/me/totp/disable", json={"code": "000000", "password": PASSWORD}, headers=auth).status_code
        for _ in range(6)
    ]
    assert statuses[:4] == [403] * 4 and statuses[-1] == 429
    assert _totp_on(store, otp_user)


# --------------------------------------------------------------------------- token lifetimes
def _token_rows(store: Any, person: Person) -> list[Any]:
    from controlplane.store.models import ApiToken

    with store.session() as session:
        return list(session.query(ApiToken).filter_by(user_id=person.id).order_by(ApiToken.id))


def test_a_token_made_without_a_lifetime_expires_after_the_default(client, store, people) -> None:
    csrf = login_as(client, people["oncall-gd"])
    assert client.post("/profile/tokens", data={"name": "laptop", "csrf_token": csrf}).status_code == 200
    row = _token_rows(store, people["oncall-gd"])[-1]
    assert row.expires_at is not None
    assert abs((row.expires_at - row.created_at) - dt.timedelta(days=90)) < dt.timedelta(seconds=5)


def test_a_lifetime_beyond_the_maximum_is_refused(app, client, people) -> None:
    auth = {"Authorization": f"Bearer {token_for(app, people['oncall-gd'])}"}
    too_long = client.post("/api/v1/tokens", json={"name": "forever", "expires_days": 3650}, headers=auth)
    assert too_long.status_code == 400 and "365" in too_long.json["error"]["message"]
    ok = client.post("/api/v1/tokens", json={"name": "year", "expires_days": 365}, headers=auth)
    assert ok.status_code == 201 and ok.json["expires_at"]


def test_a_token_without_expiry_from_before_is_held_to_the_maximum_lifetime(app, client, store, people) -> None:
    from controlplane.store.models import ApiToken

    clear = token_for(app, people["oncall-gd"], "old")
    with store.session() as session:
        row = session.query(ApiToken).filter_by(user_id=people["oncall-gd"].id).one()
        row.expires_at = None
        row.created_at = row.created_at - dt.timedelta(days=366)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"}).status_code == 401


def test_changing_ones_password_revokes_ones_tokens_and_says_so(app, client, store, people) -> None:
    person = people["oncall-gd"]
    clear = token_for(app, person)
    auth = {"Authorization": f"Bearer {clear}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    csrf = login_as(client, person)
    new = "another long passphrase"
    answer = client.post(
        "/profile/password",
        data={"old_password": PASSWORD, "new_password": new, "new_password2": new, "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "API tokens revoked: 1" in answer.get_data(as_text=True)
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert all(row.revoked for row in _token_rows(store, person))


def test_the_api_password_change_revokes_tokens_and_reports_how_many(app, client, store, people) -> None:
    person = people["operator-gd"]
    first, second = token_for(app, person, "one"), token_for(app, person, "two")
    answer = client.post(
        "/api/v1/me/password",
        json={"old_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers={"Authorization": f"Bearer {first}"},
    )
    assert answer.status_code == 200 and answer.json == {"changed": True, "tokens_revoked": 2}
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 401


def test_disabling_a_user_revokes_their_tokens(app, client, people) -> None:
    clear = token_for(app, people["oncall-gd"])
    root = {"Authorization": f"Bearer {token_for(app, people['root'])}"}
    assert client.patch("/api/v1/users/oncall-gd", json={"disabled": True}, headers=root).status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"}).status_code == 401


# --------------------------------------------------------------------------- Authorization header
@pytest.mark.parametrize("header", ["Basic b3BzOnNlY3JldA==", "Negotiate abc", "Digest username=x", "Basic"])
def test_a_non_bearer_authorization_header_is_ignored(client, people, header) -> None:
    """A proxy that adds its own Basic credentials must not make every route 401."""
    login_as(client, people["oncall-gd"])
    page = client.get("/", headers={"Authorization": header})
    assert page.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": header})
    assert me.status_code == 200 and me.json["auth"] == "session"
    # Without a session the header grants nothing: the API still asks for authentication.
    anonymous = client.application.test_client()
    anonymous.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert anonymous.get("/api/v1/me", headers={"Authorization": header}).status_code == 401


@pytest.mark.parametrize("header", ["Bearer nonsense", "bearer egov_abcdefgh_" + "x" * 43, "Bearer "])
def test_a_bad_bearer_token_is_still_a_401_even_with_a_session(client, people, header) -> None:
    login_as(client, people["oncall-gd"])
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_token"
