"""Console users without Flask: password hashes, tokens, throttling, TOTP, and `egov users`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from controlplane import totp, users
from controlplane.errors import BadInputError
from controlplane.store.models import LoginThrottle, User, utcnow

PASSWORD = "a long enough password"


# --------------------------------------------------------------------------- passwords
def test_password_hash_format_is_scrypt_with_salt_and_parameters() -> None:
    stored = users.hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    salt_bytes = base64.b64decode(salt)
    assert len(salt_bytes) == 16
    expected = hashlib.scrypt(PASSWORD.encode(), salt=salt_bytes, n=2**14, r=8, p=1, dklen=32)
    assert base64.b64decode(digest) == expected
    assert users.hash_password(PASSWORD) != stored  # a fresh salt each time


def test_verify_password_accepts_the_right_one_only() -> None:
    stored = users.hash_password(PASSWORD)
    assert users.verify_password(PASSWORD, stored)
    assert not users.verify_password(PASSWORD + "x", stored)
    assert not users.verify_password("", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "scrypt$1$8$1$AA==$AA==",
        "scrypt$16384$8$1$not-base64$AA==",
        "md5$1$1$1$AA==$AA==",
        f"scrypt${2**30}$8$1$AA==$AA==",
        "scrypt$16384$8$1$AA==$AA==$extra",
    ],
)
def test_malformed_or_costly_hashes_never_match(stored: str) -> None:
    assert not users.verify_password(PASSWORD, stored)


@pytest.mark.parametrize("password", ["short", "x" * 11, "tab\there is long", "x" * 1025])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(BadInputError):
        users.check_new_password(password)


def test_create_user_validates_every_field(store) -> None:
    with store.session() as session:
        for bad in (
            {"name": "Bad Name"},
            {"name": "; rm -rf /"},
            {"role": "root"},
            {"sites": ["../etc"]},
            {"sites": ["atlantis"]},
            {"display_name": "a\nb"},
            {"language": "fr"},
        ):
            fields = {"name": "valid-name", "role": "oncall", "password": PASSWORD, "known_sites": ["province-gd"]}
            with pytest.raises(BadInputError):
                users.create_user(session, **{**fields, **bad})
        user = users.create_user(session, name="li-lei", role="auditor", password=PASSWORD, sites=["province-gd"])
        assert user.sites == ["province-gd"] and user.password_hash.startswith("scrypt$")
        with pytest.raises(BadInputError, match="already exists"):
            users.create_user(session, name="li-lei", role="auditor", password=PASSWORD)


def test_change_password_needs_the_old_one(store) -> None:
    with store.session() as session:
        user = users.create_user(session, name="han-mei", role="oncall", password=PASSWORD)
        before = user.password_changed_at
        with pytest.raises(users.AuthError):
            users.change_password(session, user, "wrong", "another long password")
        time.sleep(0.001)
        users.change_password(session, user, PASSWORD, "another long password")
        assert users.verify_password("another long password", user.password_hash)
        assert user.password_changed_at > before


# --------------------------------------------------------------------------- tokens
def test_tokens_hash_only_expire_and_revoke(store) -> None:
    with store.session() as session:
        user = users.create_user(session, name="wang-fang", role="operator", password=PASSWORD)
        row, clear = users.create_token(session, user, "ci", expires_days=1)
        assert clear.startswith(f"egov_{row.prefix}_") and row.token_hash == hashlib.sha256(clear.encode()).hexdigest()
        found = users.authenticate_token(session, clear)
        assert found is not None and found[0].name == "wang-fang"
        assert users.authenticate_token(session, clear[:-1] + ("A" if clear[-1] != "A" else "B")) is None
        assert users.authenticate_token(session, "egov_x") is None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
        assert users.authenticate_token(session, clear) is None
        row2, clear2 = users.create_token(session, user, "second")
        users.revoke_token(session, user, row2.id)
        assert users.authenticate_token(session, clear2) is None
        with pytest.raises(BadInputError):
            users.create_token(session, user, "bad\nname")
        summary = users.token_summary(row)
        assert clear not in json.dumps(summary) and row.token_hash not in json.dumps(summary)


def test_every_token_expires_by_default_and_none_outlives_the_maximum(store) -> None:
    with store.session() as session:
        user = users.create_user(session, name="li-na", role="operator", password=PASSWORD)
        row, _clear = users.create_token(session, user, "default")
        assert row.expires_at - row.created_at == dt.timedelta(days=users.DEFAULT_TOKEN_DAYS)
        short, _ = users.create_token(session, user, "site default", default_days=7, max_days=30)
        assert short.expires_at - short.created_at == dt.timedelta(days=7)
        for days in (0, 31, True, "5"):
            with pytest.raises(BadInputError):
                users.create_token(session, user, "too long", days, max_days=30)  # type: ignore[arg-type]
        # A token from before lifetimes (no expiry) dies max_days after it was made.
        old, old_clear = users.create_token(session, user, "old")
        old.expires_at, old.created_at = None, utcnow() - dt.timedelta(days=31)
        assert users.authenticate_token(session, old_clear, max_days=365) is not None
        assert users.authenticate_token(session, old_clear, max_days=30) is None


def test_a_password_change_revokes_every_token_and_counts_the_live_ones(store) -> None:
    with store.session() as session:
        user = users.create_user(session, name="zhao-lei", role="operator", password=PASSWORD)
        _row, live = users.create_token(session, user, "live")
        expired, _ = users.create_token(session, user, "expired")
        expired.expires_at = utcnow() - dt.timedelta(days=1)
        revoked = users.change_password(session, user, PASSWORD, "a brand new passphrase")
        assert revoked == 1
        assert users.authenticate_token(session, live) is None
        assert all(row.revoked for row in users.list_tokens(session, user))
        with pytest.raises(users.AuthError):
            users.change_password(session, user, "wrong", "another new passphrase")


# --------------------------------------------------------------------------- throttling
def test_five_failures_lock_the_user_for_fifteen_minutes_but_not_yet_the_address(store) -> None:
    now = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    with store.session() as session:
        users.create_user(session, name="zhao-lei", role="oncall", password=PASSWORD)
        for attempt in range(4):
            result = users.check_login(session, "zhao-lei", "nope", "192.0.2.1", now + dt.timedelta(seconds=attempt))
            assert result.outcome == "failed" and not result.newly_locked
        fifth = users.check_login(session, "zhao-lei", "nope", "192.0.2.1", now + dt.timedelta(seconds=5))
        assert set(fifth.newly_locked) == {"user:zhao-lei"}
        assert fifth.locked_until == now + dt.timedelta(seconds=5, minutes=15)
        locked = users.check_login(session, "zhao-lei", PASSWORD, "192.0.2.2", now + dt.timedelta(minutes=10))
        assert locked.outcome == "locked"
        later = users.check_login(session, "zhao-lei", PASSWORD, "192.0.2.2", now + dt.timedelta(minutes=16))
        assert later.outcome == "ok"
        users.login_completed(session, later.user_id)  # the whole login (with TOTP when enrolled) is done
        assert session.get(LoginThrottle, "user:zhao-lei") is None  # ...so the name's failures are forgotten


def test_twenty_failures_from_one_address_lock_it_whatever_the_names(store) -> None:
    now = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    with store.session() as session:
        results = [
            users.record_failure(session, users.throttle_keys(f"name-{i}", "192.0.2.7"), now)
            for i in range(users.ADDRESS_THROTTLE_LIMIT)
        ]
    assert all("addr:192.0.2.7" not in r.locked_keys for r in results[:-1])
    assert "addr:192.0.2.7" in results[-1].locked_keys


def test_failures_outside_the_window_start_over(store) -> None:
    now = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    with store.session() as session:
        for minute in (0, 5, 10, 14):
            users.record_failure(session, ["user:x"], now + dt.timedelta(minutes=minute))
        result = users.record_failure(session, ["user:x"], now + dt.timedelta(minutes=16))
        assert not result.locked_keys and session.get(LoginThrottle, "user:x").failures == 1
        assert users.purge_throttle(session, now + dt.timedelta(hours=1)) == 1


# --------------------------------------------------------------------------- TOTP
@pytest.fixture
def vault(config, store):  # type: ignore[no-untyped-def]
    from controlplane.vault import open_vault

    return open_vault(config, store)


def test_totp_enrolment_verification_replay_and_reset(store, vault) -> None:
    with store.session() as session:
        user = users.create_user(session, name="sun-li", role="admin", password=PASSWORD)
        user_id = user.id
    secret, uri = users.start_totp_enrolment(vault, user)
    assert uri.startswith("otpauth://totp/EduGov:sun-li?secret=" + secret)
    assert vault.exists(f"user.{user_id}.totp_pending") and not vault.exists(f"user.{user_id}.totp")
    with store.session() as session:
        user = session.get(User, user_id)
        with pytest.raises(users.AuthError):
            users.confirm_totp_enrolment(session, vault, user, "000000")
    now = dt.datetime.now(dt.UTC)
    code = pyotp.TOTP(secret).at(now)
    with store.session() as session:
        user = session.get(User, user_id)
        users.confirm_totp_enrolment(session, vault, user, code, now)
        assert user.totp_enabled
    assert vault.get(f"user.{user_id}.totp") == secret and not vault.exists(f"user.{user_id}.totp_pending")
    with store.session() as session:
        user = session.get(User, user_id)
        assert not users.verify_totp(session, vault, user, code, now)  # replay of the enrolment code
        later = now + dt.timedelta(seconds=30)
        assert users.verify_totp(session, vault, user, pyotp.TOTP(secret).at(later), later)
        assert not users.verify_totp(session, vault, user, "12345a", later)
    # Vault writes need the session's write lock free (SQLite): a new transaction.
    with store.session() as session:
        user = session.get(User, user_id)
        users.reset_totp(session, vault, user)
        assert not user.totp_enabled
    assert not vault.exists(f"user.{user_id}.totp")


def _enrolled(store, vault, name: str, role: str = "oncall") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A user with TOTP on: (id, secret)."""
    with store.session() as session:
        user = users.create_user(session, name=name, role=role, password=PASSWORD)
        user_id = user.id
    secret = pyotp.random_base32()
    vault.set(f"user.{user_id}.totp", secret)
    with store.session() as session:
        session.get(User, user_id).totp_enabled = True
    return user_id, secret


def test_while_totp_is_on_no_new_secret_starts_or_confirms_without_password_and_code(store, vault) -> None:
    user_id, secret = _enrolled(store, vault, "he-ping")
    with store.session() as session:
        user = session.get(User, user_id)
    with pytest.raises(BadInputError):
        users.start_totp_enrolment(vault, user)
    planted = pyotp.random_base32()
    vault.set(f"user.{user_id}.totp_pending", planted)
    with store.session() as session, pytest.raises(BadInputError):
        users.confirm_totp_enrolment(session, vault, session.get(User, user_id), pyotp.TOTP(planted).now())
    assert vault.get(f"user.{user_id}.totp") == secret
    now = utcnow()
    for password, code in (("wrong password", pyotp.TOTP(secret).at(now)), (PASSWORD, "000000")):
        with store.session() as session:
            result, pending = users.begin_totp_reenrolment(
                session, vault, session.get(User, user_id), password, code, "192.0.2.1", now
            )
        assert result.outcome == "failed" and pending is None
    with store.session() as session:
        result, pending = users.begin_totp_reenrolment(
            session, vault, session.get(User, user_id), PASSWORD, pyotp.TOTP(secret).at(now), "192.0.2.1", now
        )
    assert result.outcome == "ok" and pending is not None
    with store.session() as session:
        user = session.get(User, user_id)
        users.confirm_totp_enrolment(session, vault, user, pyotp.TOTP(pending[0]).at(now), now)
    assert vault.get(f"user.{user_id}.totp") == pending[0]
    # The re-enrolment is used up: another planted secret cannot follow it in.
    vault.set(f"user.{user_id}.totp_pending", planted)
    with store.session() as session, pytest.raises(BadInputError):
        users.confirm_totp_enrolment(session, vault, session.get(User, user_id), pyotp.TOTP(planted).at(now), now)


def test_an_opened_reenrolment_closes_after_its_window(store, vault) -> None:
    user_id, secret = _enrolled(store, vault, "ma-jun")
    now = utcnow()
    with store.session() as session:
        _result, pending = users.begin_totp_reenrolment(
            session, vault, session.get(User, user_id), PASSWORD, pyotp.TOTP(secret).at(now), "192.0.2.1", now
        )
    later = now + totp.REENROL_WINDOW + dt.timedelta(seconds=1)
    with store.session() as session, pytest.raises(BadInputError):
        user = session.get(User, user_id)
        users.confirm_totp_enrolment(session, vault, user, pyotp.TOTP(pending[0]).at(later), later)


def test_disabling_totp_needs_password_and_code_and_counts_failures_like_logins(store, vault) -> None:
    user_id, secret = _enrolled(store, vault, "lu-xin")
    now = utcnow()
    outcomes = []
    for _ in range(users.THROTTLE_LIMIT):
        with store.session() as session:
            outcomes.append(
                users.disable_totp(session, vault, session.get(User, user_id), PASSWORD, "000000", "192.0.2.1", now)
            )
    assert [r.outcome for r in outcomes] == ["failed"] * users.THROTTLE_LIMIT
    assert outcomes[-1].newly_locked == ("user:lu-xin",)
    with store.session() as session:
        right = users.disable_totp(
            session, vault, session.get(User, user_id), PASSWORD, pyotp.TOTP(secret).at(now), "192.0.2.1", now
        )
    assert right.outcome == "locked" and vault.exists(f"user.{user_id}.totp")
    after = now + users.THROTTLE_LOCK + dt.timedelta(seconds=1)
    with store.session() as session:
        ok = users.disable_totp(
            session, vault, session.get(User, user_id), PASSWORD, pyotp.TOTP(secret).at(after), "192.0.2.1", after
        )
        assert ok.outcome == "ok" and not session.get(User, user_id).totp_enabled
    assert not vault.exists(f"user.{user_id}.totp")
    admin_id, _ = _enrolled(store, vault, "admin-zhu", role="admin")
    with store.session() as session, pytest.raises(BadInputError):
        users.disable_totp(session, vault, session.get(User, admin_id), PASSWORD, "000000", "192.0.2.1")


def test_the_totp_secret_is_encrypted_at_rest(store, vault) -> None:
    from controlplane.store.models import Secret

    with store.session() as session:
        user = users.create_user(session, name="qian-yu", role="oncall", password=PASSWORD)
    secret, _uri = users.start_totp_enrolment(vault, user)
    with store.session() as session:
        row = session.get(Secret, f"user.{user.id}.totp_pending")
        assert secret.encode() not in row.ciphertext


# --------------------------------------------------------------------------- egov users
def run_cli(config_path: Path, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    from controlplane.cli import egov

    return CliRunner().invoke(egov, ["--config", str(config_path), "users", *args], input=stdin)


def test_egov_users_add_list_passwd_disable_totp_reset(config_path, config, store) -> None:
    added = run_cli(
        config_path, "add", "zhou-jie", "--role", "operator", "--site", "province-gd", stdin=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    listed = json.loads(run_cli(config_path, "list", "--json").output)
    assert listed[0]["name"] == "zhou-jie" and listed[0]["sites"] == ["province-gd"]
    assert "password" not in json.dumps(listed) and "scrypt" not in json.dumps(listed)
    with store.session() as session:
        users.create_token(session, users.get_user(session, "zhou-jie"), "laptop")
    changed = run_cli(config_path, "passwd", "zhou-jie", stdin="a different long one\n")
    assert changed.exit_code == 0 and "1 API token(s) revoked" in changed.output
    with store.session() as session:
        assert users.verify_password("a different long one", users.get_user(session, "zhou-jie").password_hash)
    assert run_cli(config_path, "disable", "zhou-jie").exit_code == 0
    assert run_cli(config_path, "totp-reset", "zhou-jie").exit_code == 0
    assert run_cli(config_path, "list").exit_code == 0
    from controlplane import audit

    records = [(r.action, r.target) for r in audit.list_records(store)]
    for action in ("user.create", "user.password", "user.disable", "user.totp_reset"):
        assert (action, "zhou-jie") in records
    assert all(PASSWORD not in r.details for r in audit.list_records(store))


def test_egov_users_refuses_bad_input(config_path, config, store) -> None:
    assert run_cli(config_path, "add", "x; reboot", "--role", "oncall", stdin=PASSWORD).exit_code != 0
    assert run_cli(config_path, "add", "valid-one", "--role", "god", stdin=PASSWORD).exit_code != 0
    assert run_cli(config_path, "add", "valid-one", "--role", "oncall", "--site", "atlantis", stdin=PASSWORD).exit_code
    assert run_cli(config_path, "add", "valid-one", "--role", "oncall", stdin="short").exit_code != 0
    assert run_cli(config_path, "passwd", "nobody", stdin=PASSWORD).exit_code != 0
