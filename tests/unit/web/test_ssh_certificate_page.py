"""The console's SSH certificate page: behind a fresh TOTP code, for the sites of one's scope, in two languages."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.unit.web.conftest import audit_actions, login_as


@pytest.fixture
def ca(config: Any, store: Any) -> None:
    from controlplane.pki.authority import init_authority

    init_authority(config, store, requester="test")


@pytest.fixture(scope="module")
def key_line() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " me@pc"


def post(client: Any, csrf: str, **form: str) -> Any:
    return client.post("/ssh-certificate", data={"csrf_token": csrf, **form})


def test_a_provincial_admin_gets_a_certificate_for_the_province_and_a_download(
    client: Any, people: Any, ca: None, key_line: str, store: Any
) -> None:
    person = people["admin-gd"]
    csrf = login_as(client, person)
    form = client.get("/ssh-certificate").get_data(as_text=True)
    assert 'name="public_key"' in form and 'name="code"' in form and 'value="8"' in form
    response = post(client, csrf, public_key=key_line, code=person.code(), validity_hours="2")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "ssh-ed25519-cert-v01@openssh.com " in page and "site:province-gd" in page
    line = page.split('<code class="secret wrap">')[1].split("</code>")[0]
    parsed = serialization.load_ssh_public_identity(line.encode())
    assert isinstance(parsed, serialization.SSHCertificate) and parsed.valid_principals == [b"site:province-gd"]
    assert 'download="id_ed25519-cert.pub"' in page
    href = page.split('href="data:text/plain;charset=utf-8,')[1].split('"')[0]
    assert urllib.parse.unquote(href) == line + "\n"
    assert "It opens 3 hosts" in page and "school-gd-1" in page
    assert ("pki.issue", "ssh-user:admin-gd", "ok") in audit_actions(store)


def test_a_wrong_code_is_refused_keeps_the_key_and_is_audited(
    client: Any, people: Any, ca: None, key_line: str, store: Any
) -> None:
    person = people["admin-gd"]
    csrf = login_as(client, person)
    wrong = "000000" if person.code() != "000000" else "111111"
    response = post(client, csrf, public_key=key_line, code=wrong)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Wrong or already used code" in page and key_line.split()[1] in page
    assert "-cert-v01@openssh.com" not in page
    assert ("pki.issue", "ssh-user:admin-gd", "failed") in audit_actions(store)


def test_a_user_without_totp_is_told_to_enrol_first(client: Any, people: Any, ca: None, key_line: str) -> None:
    csrf = login_as(client, people["operator-gd"])
    page = client.get("/ssh-certificate").get_data(as_text=True)
    assert "Set up your second factor first" in page or "Set up an authenticator app" in page
    assert 'name="public_key"' not in page and "/profile/totp" in page
    response = post(client, csrf, public_key=key_line, code="123456")
    assert response.status_code == 400 and "Set up your second factor first" in response.get_data(as_text=True)


def test_a_bad_key_says_why_and_spends_no_code(client: Any, people: Any, ca: None, key_line: str) -> None:
    person = people["root"]
    csrf = login_as(client, person)
    code = person.code()
    response = post(client, csrf, public_key="ssh-dss AAAAB3NzaC1kc3M=", code=code)
    assert response.status_code == 400 and "DSA keys are refused" in response.get_data(as_text=True)
    response = post(client, csrf, public_key=key_line, code=code, validity_hours="25")
    assert response.status_code == 400 and "at most 24" in response.get_data(as_text=True)
    issued = post(client, csrf, public_key=key_line, code=code)
    assert issued.status_code == 200 and "site:ministry" in issued.get_data(as_text=True)


@pytest.mark.parametrize("name", ["auditor-gd", "security-officer-gd", "oncall-gd"])
def test_roles_without_a_root_shell_get_no_page(client: Any, people: Any, name: str) -> None:
    login_as(client, people[name])
    assert client.get("/ssh-certificate").status_code == 403
    assert "/ssh-certificate" not in client.get("/profile").get_data(as_text=True)


def test_the_page_and_its_refusals_in_chinese(client: Any, people: Any, ca: None, key_line: str, store: Any) -> None:
    from controlplane.store.models import User

    with store.session() as session:
        session.get(User, people["admin-gd"].id).language = "zh_CN"
    csrf = login_as(client, people["admin-gd"])
    assert "/ssh-certificate" in client.get("/profile").get_data(as_text=True)
    page = client.get("/ssh-certificate").get_data(as_text=True)
    assert "SSH 证书" in page and "签发证书" in page
    refused = post(client, csrf, public_key=key_line, code="12345x").get_data(as_text=True)
    assert "动态码错误或已使用过" in refused
