"""SSH certificates for people: who gets one, for which key, naming which sites, for how long, after which code."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from controlplane.errors import BadInputError
from controlplane.users import ssh_certificates as certs
from tests.conftest import REPO


# --------------------------------------------------------------------------- keys
def public_line(key: Any, comment: str = "alice@laptop") -> str:
    """The OpenSSH public key line of a private key object, with a comment."""
    text = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{text.decode()} {comment}"


@pytest.fixture(scope="module")
def ed25519_line() -> str:
    return public_line(ed25519.Ed25519PrivateKey.generate())


def test_ed25519_ecdsa_and_rsa_3072_keys_are_accepted_without_their_comment(ed25519_line: str) -> None:
    for key in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP384R1())):
        line = public_line(key, comment="bob@home; rm -rf /")
        assert certs.check_public_key(line) == " ".join(line.split()[:2])
    rsa_line = public_line(rsa.generate_private_key(public_exponent=65537, key_size=3072))
    assert certs.check_public_key(rsa_line).startswith("ssh-rsa ")
    assert certs.check_public_key(f"# my key\n{ed25519_line}\n\n") == " ".join(ed25519_line.split()[:2])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no public key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "DSA keys are refused"),
        ("ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ=", "that is a certificate"),
        ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t", "security-key"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
            "private key",
        ),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x", "does not parse"),
        ("ssh-ed25519 not-base64!", "not valid"),
        ("\x1b]0;pwned\x07 AAAA", "key type (unreadable) is refused"),
        ("ssh-ed25519 AAAA\nssh-ed25519 BBBB", "exactly one"),
    ],
)
def test_anything_but_one_strong_public_key_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(BadInputError) as refused:
        certs.check_public_key(text)
    assert says in refused.value.message


def test_short_rsa_and_mismatched_type_keys_are_refused(ed25519_line: str) -> None:
    short = public_line(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(BadInputError, match="at least 3072 bits"):
        certs.check_public_key(short)
    with pytest.raises(BadInputError, match="does not parse"):
        certs.check_public_key("ssh-rsa " + ed25519_line.split()[1])  # the blob says ed25519
    with pytest.raises(BadInputError, match="too long"):
        certs.check_public_key("ssh-ed25519 " + "A" * 9000)


def test_fingerprint_is_the_one_ssh_keygen_prints(tmp_path: Path, ed25519_line: str) -> None:
    import subprocess

    path = tmp_path / "k.pub"
    path.write_text(ed25519_line + "\n")
    printed = subprocess.run(["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True)
    assert printed.stdout.split()[1] == certs.fingerprint(certs.check_public_key(ed25519_line))


# --------------------------------------------------------------------------- validity
def test_validity_is_a_duration_of_at_most_24_hours() -> None:
    assert certs.parse_validity("8h") == dt.timedelta(hours=8)
    assert certs.parse_validity("1h30m") == dt.timedelta(minutes=90)
    assert certs.parse_validity("24h") == dt.timedelta(hours=24)
    for text, says in (("25h", "at most 24h"), ("2d", "at most 24h"), ("0m", "at least"), ("8 hours", "duration")):
        with pytest.raises(BadInputError, match=says):
            certs.parse_validity(text)


# --------------------------------------------------------------------------- principals
@pytest.fixture(scope="module")
def inventory() -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(REPO / "inventory" / "lab.yml")


def test_a_user_of_every_site_gets_the_root_site_read_from_the_inventory(inventory: Any) -> None:
    assert certs.root_sites(inventory) == ["ministry"]
    assert certs.principal_sites([], inventory) == ("ministry",)
    opened = certs.hosts_per_site(("ministry",), inventory)
    assert sum(opened.values()) == len(inventory.hosts)


def test_a_provincial_user_gets_the_province_which_opens_its_schools_and_not_the_ministry(inventory: Any) -> None:
    assert certs.principal_sites(["province-gd"], inventory) == ("province-gd",)
    assert certs.hosts_per_site(("province-gd",), inventory) == {"province-gd": 2, "school-gd-1": 1}


def test_sites_covered_by_another_or_unknown_are_left_out_and_none_left_is_refused(inventory: Any) -> None:
    assert certs.principal_sites(["school-gd-1", "province-gd", "gone"], inventory) == ("province-gd",)
    assert certs.principal_sites(["dr-center", "school-gd-1"], inventory) == ("dr-center", "school-gd-1")
    with pytest.raises(BadInputError, match="would open nothing"):
        certs.principal_sites(["gone"], inventory)


# --------------------------------------------------------------------------- issuing
@pytest.fixture
def site(config: Any, store: Any) -> Iterator[dict[str, Any]]:
    """A site with its CA and three people: a ministry admin, a provincial operator, an operator without TOTP."""
    from controlplane.pki.authority import init_authority
    from controlplane.users import hash_password
    from controlplane.vault import open_vault
    from tests.unit.web.conftest import add_person

    vault = open_vault(config, store)
    init_authority(config, store, requester="test")
    hashed = hash_password("a long enough password")
    people = {
        "root": add_person(store, vault, hashed, "root", "admin", [], totp=True),
        "op-gd": add_person(store, vault, hashed, "op-gd", "operator", ["province-gd"], totp=True),
        "no-totp": add_person(store, vault, hashed, "no-totp", "operator", ["province-gd"]),
        "auditor": add_person(store, vault, hashed, "auditor", "auditor", [], totp=True),
    }
    yield {"config": config, "store": store, "vault": vault, "people": people}


def issue(
    site: dict[str, Any], inventory: Any, name: str, key: str, code: str, **options: Any
) -> certs.UserCertificate:
    return certs.issue_user_certificate(
        site["config"], site["store"], site["vault"], inventory, user_name=name, public_key=key, code=code, **options
    )


def ends_in(issued: certs.UserCertificate, validity: dt.timedelta) -> bool:
    """The certificate ends ``validity`` from now (its start is backdated a little for slow clocks)."""
    left = issued.issued.not_after - dt.datetime.now(dt.UTC)
    return validity - dt.timedelta(minutes=1) < left <= validity


def records(store: Any, action: str) -> list[Any]:
    from controlplane import audit

    return [r for r in audit.list_records(store, limit=1000) if r.action == action]


def test_a_provincial_operator_gets_a_user_certificate_for_the_province_after_a_code(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    person = site["people"]["op-gd"]
    issued = issue(site, inventory, "op-gd", ed25519_line, person.code(), caller="ops@cli")
    assert issued.issued.principals == ("site:province-gd",)
    assert issued.hosts_per_site == {"province-gd": 2, "school-gd-1": 1}
    assert site["config"].pki.user_validity == dt.timedelta(hours=8)
    assert ends_in(issued, dt.timedelta(hours=8))
    parsed = serialization.load_ssh_public_identity(issued.issued.certificate_line.encode())
    assert isinstance(parsed, serialization.SSHCertificate)
    assert parsed.type == serialization.SSHCertificateType.USER
    assert parsed.valid_principals == [b"site:province-gd"]
    assert parsed.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode() == " ".join(ed25519_line.split()[:2])
    issued_records = [r for r in records(site["store"], "pki.issue") if r.outcome == "ok"]
    assert issued_records and "op-gd (asked by ops@cli)" in str(issued_records[0].details)


def test_a_ministry_admin_gets_the_root_site_and_every_host(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    issued = issue(site, inventory, "root", ed25519_line, site["people"]["root"].code(), validity=dt.timedelta(hours=1))
    assert issued.issued.principals == ("site:ministry",)
    assert issued.host_count == len(inventory.hosts)
    assert ends_in(issued, dt.timedelta(hours=1))


def test_a_wrong_code_is_refused_audited_without_the_code_and_counted_by_the_throttle(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    from controlplane.store.models import LoginThrottle

    person = site["people"]["op-gd"]
    wrong = "000000" if person.code() != "000000" else "111111"
    with pytest.raises(certs.AuthError, match="wrong or was already used"):
        issue(site, inventory, "op-gd", ed25519_line, wrong, client="192.0.2.7")
    refused = records(site["store"], "pki.issue")
    assert [(r.target, r.outcome) for r in refused] == [("ssh-user:op-gd", "failed")]
    assert wrong not in str(refused[0].details) and refused[0].client == "192.0.2.7"
    assert refused[0].site == "province-gd"
    with site["store"].session() as session:
        assert session.get(LoginThrottle, "user:op-gd").failures == 1


def test_a_code_is_used_once(site: dict[str, Any], inventory: Any, ed25519_line: str) -> None:
    code = site["people"]["op-gd"].code()
    issue(site, inventory, "op-gd", ed25519_line, code)
    with pytest.raises(certs.AuthError):
        issue(site, inventory, "op-gd", ed25519_line, code)


def test_a_mistake_in_the_request_does_not_spend_the_code(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    code = site["people"]["op-gd"].code()
    with pytest.raises(BadInputError, match="DSA"):
        issue(site, inventory, "op-gd", "ssh-dss AAAA", code)
    with pytest.raises(BadInputError, match="at most 24h"):
        issue(site, inventory, "op-gd", ed25519_line, code, validity=dt.timedelta(hours=25))
    assert issue(site, inventory, "op-gd", ed25519_line, code).issued.principals == ("site:province-gd",)


def test_too_many_wrong_codes_lock_the_name_even_for_the_right_code(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    from controlplane.users import THROTTLE_LIMIT

    person = site["people"]["op-gd"]
    for _ in range(THROTTLE_LIMIT):
        with pytest.raises(certs.AuthError):
            issue(site, inventory, "op-gd", ed25519_line, "99999x")
    with pytest.raises(certs.CodeLockedError, match="too many"):
        issue(site, inventory, "op-gd", ed25519_line, person.code())
    outcomes = [r.outcome for r in records(site["store"], "pki.issue")]
    assert outcomes[0] == "locked" and any(r.outcome == "locked" for r in records(site["store"], "auth.lockout"))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("no-totp", "enrol TOTP first"),
        ("auditor", "role auditor gets no SSH certificate"),
        ("nobody", "no user named 'nobody'"),
        ("bad name\x1b[2J", "not a user name"),
    ],
)
def test_users_who_may_not_have_one_are_refused_before_any_code(
    site: dict[str, Any], inventory: Any, ed25519_line: str, name: str, says: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        issue(site, inventory, name, ed25519_line, "123456")
    assert says in refused.value.message
    assert not [r for r in records(site["store"], "pki.issue") if r.outcome == "ok"]


def test_a_disabled_account_is_refused_and_the_refusal_audited(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    from controlplane.store.models import User

    person = site["people"]["op-gd"]
    with site["store"].session() as session:
        session.get(User, person.id).disabled = True
    with pytest.raises(BadInputError, match="disabled"):
        issue(site, inventory, "op-gd", ed25519_line, person.code())
    assert [(r.target, r.outcome) for r in records(site["store"], "pki.issue")] == [("ssh-user:op-gd", "refused")]


def test_codes_of_the_enrolled_secret_only(site: dict[str, Any], inventory: Any, ed25519_line: str) -> None:
    other = pyotp.TOTP(pyotp.random_base32()).at(time.time())
    with pytest.raises(certs.AuthError):
        issue(site, inventory, "op-gd", ed25519_line, other)


def test_a_revoked_key_gets_no_certificate_and_keeps_the_code(
    site: dict[str, Any], inventory: Any, ed25519_line: str
) -> None:
    from controlplane.pki.revocation import revoke

    fingerprint = certs.fingerprint(certs.check_public_key(ed25519_line))
    revoke(site["config"], site["store"], fingerprint=fingerprint, reason="laptop stolen", requester="test")
    code = site["people"]["op-gd"].code()
    with pytest.raises(BadInputError, match="revoked"):
        issue(site, inventory, "op-gd", ed25519_line, code)
    assert [r.outcome for r in records(site["store"], "pki.issue")] == ["refused"]
    fresh = public_line(ed25519.Ed25519PrivateKey.generate())
    assert issue(site, inventory, "op-gd", fresh, code).issued.principals == ("site:province-gd",)
