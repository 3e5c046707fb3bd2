"""User administration and the audit page through the console's forms."""

from __future__ import annotations

from tests.unit.web.conftest import audit_actions, login_as


def test_admin_adds_changes_disables_and_resets_a_user(client, people, store, vault) -> None:
    csrf = login_as(client, people["root"])
    added = client.post(
        "/users",
        data={
            "name": "zhang-wei",
            "role": "operator",
            "password": "a long enough password",
            "sites": ["province-gd"],
            "display_name": "张伟",
            "csrf_token": csrf,
        },
    )
    assert added.status_code == 302 and added.headers["Location"] == "/users/zhang-wei"
    assert "张伟" in client.get("/users").get_data(as_text=True)
    client.post("/users/zhang-wei", data={"role": "security_officer", "sites": ["school-gd-1"], "csrf_token": csrf})
    from controlplane.users import get_user

    with store.session() as session:
        user = get_user(session, "zhang-wei")
        assert (user.role, user.sites) == ("security_officer", ["school-gd-1"])
        user_id = user.id
    vault.set(f"user.{user_id}.totp", "JBSWY3DPEHPK3PXP")
    client.post("/users/zhang-wei/totp-reset", data={"csrf_token": csrf})
    assert not vault.exists(f"user.{user_id}.totp")
    client.post("/users/zhang-wei/disable", data={"csrf_token": csrf})
    with store.session() as session:
        assert get_user(session, "zhang-wei").disabled
    client.post("/users/zhang-wei/enable", data={"csrf_token": csrf})
    actions = audit_actions(store)
    for action in ("user.create", "user.role", "user.totp_reset", "user.disable", "user.enable"):
        assert (action, "zhang-wei", "ok") in actions, action


def test_weak_password_and_bad_site_are_refused_with_a_message(client, people) -> None:
    csrf = login_as(client, people["root"])
    page = client.post(
        "/users",
        data={"name": "li-na", "role": "oncall", "password": "short", "csrf_token": csrf},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "The user was not added" in page and "12 characters" in page
    page = client.post(
        "/users",
        data={
            "name": "li-na",
            "role": "oncall",
            "password": "a long enough password",
            "sites": ["atlantis"],
            "csrf_token": csrf,
        },
        follow_redirects=True,
    )
    assert page.status_code in (200, 403)


def test_admin_cannot_lock_themselves_out(client, people) -> None:
    csrf = login_as(client, people["root"])
    page = client.post("/users/root/disable", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Not changed" in page.get_data(as_text=True)
    assert client.get("/users").status_code == 200


def test_audit_page_shows_records_and_the_chain_status(client, people, store) -> None:
    from controlplane import audit

    audit.append(store, actor="someone", action="test.thing", target="<b>x</b>", site="school-gd-1")
    client.application.config["EGOV_AUDIT_VERIFY_SECONDS"] = 0  # verify on every view: a tamper shows at once
    login_as(client, people["auditor-gd"])
    page = client.get("/audit").get_data(as_text=True)
    assert "Hash chain verified" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    filtered = client.get("/audit?action=test.").get_data(as_text=True)
    assert "test.thing" in filtered
    with store.session() as session:
        from controlplane.store.models import AuditRecord

        session.get(AuditRecord, 1).target = "tampered"
    assert "BROKEN" in client.get("/audit").get_data(as_text=True)
    verify = client.get("/api/v1/audit/verify").json
    assert verify["ok"] is False and verify["bad_seq"] == 1


def test_the_audit_page_reuses_a_verification_until_a_record_is_added(client, people, store) -> None:
    from controlplane import audit

    audit.append(store, actor="someone", action="test.one", target="x", site="school-gd-1")
    login_as(client, people["auditor-gd"])
    first = client.get("/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Hash chain verified: 1 records intact." in first
    audit.append(store, actor="someone", action="test.two", target="y", site="school-gd-1")
    second = client.get("/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Hash chain verified: 2 records intact." in second and "Chain checked at" in second


def test_profile_language_and_display_name(client, people, store) -> None:
    csrf = login_as(client, people["oncall-gd"])
    client.post("/profile", data={"display_name": "值班 王", "language": "zh_CN", "csrf_token": csrf})
    page = client.get("/profile").get_data(as_text=True)
    assert "个人设置" in page and "值班 王" in page
    assert (
        client.post("/profile", data={"language": "fr", "csrf_token": csrf}, follow_redirects=True).status_code == 200
    )
