"""`egov serve` behind a reverse proxy, for real: waitress (one process and --workers 2) and the TLS server.

The test plays both the proxy and its clients. A client "behind the proxy"
is a request from loopback (where the proxy runs) carrying the proxy's
``X-Forwarded-For``; a client that reaches the console directly is a
request from another loopback address (127.0.0.2: not the proxy, and not
"local" for the policy, which opens /metrics to 127.0.0.1 and ::1 only).
Nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from controlplane.users import ADDRESS_THROTTLE_LIMIT
from tests.conftest import egov, write_config
from tests.integration.web.test_serve_console import PASSWORD, start_console, stop_console

REMOTE = "198.51.100.7"
# Each server kind gets client addresses of its own: the site (and its address throttle) is shared by the module.
SERVERS = [
    ("waitress", "198.51.100.11", "203.0.113.11"),
    ("waitress-2", "198.51.100.12", "203.0.113.12"),
    ("tls", "2001:db8::13", "203.0.113.13"),
]
DIRECT_CLIENT = "127.0.0.2"
ADDRESS_LIMIT = ADDRESS_THROTTLE_LIMIT


class _FromAddress(HTTPAdapter):
    """Connections from a chosen local source address (a client that is not the proxy)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def _client(source: str | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy or CA bundle from the environment: loopback only, our own certificate
    session.verify = False  # the TLS case's certificate is self-signed
    if source is not None:
        session.mount("http://", _FromAddress(source))
        session.mount("https://", _FromAddress(source))
    return session


def _certificate(site: Path) -> tuple[Path, Path]:
    key, cert = site / "var" / "tls.key", site / "var" / "tls.crt"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.fail(f"openssl cannot make a test certificate: {made.stderr!r}")
    return key, cert


@pytest.fixture(scope="module")
def proxied_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One site for the module (each test uses addresses of its own, and reads only its own audit records)."""
    folder = tmp_path_factory.mktemp("proxied")
    write_config(folder)
    assert egov(folder, "init").returncode == 0
    added = egov(folder, "users", "add", "ops1", "--role", "operator", "--site", "province-gd", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    yield folder


def _serve(site: Path, server: str, trusted_proxies: int) -> tuple[subprocess.Popen[str], str]:
    listen: dict[str, object] = {"trusted_proxies": trusted_proxies, "workers": 2 if server == "waitress-2" else 1}
    if server == "tls":
        key, cert = _certificate(site)
        listen.update(tls_cert=str(cert), tls_key=str(key))
    write_config(site, listen=listen)
    return start_console(site, plain_http=server != "tls")  # HTTP except with the operator's certificate


def _login(session: requests.Session, url: str, name: str, password: str, forwarded: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    page = session.get(f"{url}/login", headers=headers, timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = session.post(
        f"{url}/login",
        data={"name": name, "password": password, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    return answer.status_code


def _login_records(site: Path, after: int = 0) -> list[dict[str, object]]:
    """The login audit records after sequence number ``after``, oldest first."""
    listed = egov(site, "audit", "list", "--json", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    records = [r for r in json.loads(listed.stdout) if r["action"] == "auth.login" and int(r["seq"]) > after]
    return sorted(records, key=lambda r: int(r["seq"]))


def _last_seq(site: Path) -> int:
    listed = egov(site, "audit", "list", "--json", "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    return max((int(r["seq"]) for r in json.loads(listed.stdout)), default=0)


def _metrics(session: requests.Session, url: str, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return session.get(f"{url}/metrics", headers=headers, timeout=10).status_code


@pytest.mark.parametrize(("server", "remote_a", "remote_b"), SERVERS)
def test_behind_one_proxy_a_forwarded_client_is_remote_audited_and_throttled_by_its_own_address(
    proxied_site: Path, server: str, remote_a: str, remote_b: str
) -> None:
    before = _last_seq(proxied_site)
    process, url = _serve(proxied_site, server, trusted_proxies=1)
    try:
        proxy = _client()
        assert _metrics(proxy, url, forwarded=remote_a) == 401  # a remote client: /metrics needs a login
        assert _login(proxy, url, "ops1", "wrong password", remote_a) == 200
        # Client A fails on as many names as the address limit allows: A is locked out, B is not.
        for attempt in range(ADDRESS_LIMIT - 1):
            assert _login(_client(), url, f"nobody{attempt}", "wrong", remote_a) in (200, 429)
        assert _login(_client(), url, "ops1", PASSWORD, remote_a) == 429
        assert _login(_client(), url, "ops1", PASSWORD, remote_b) == 302
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
    records = _login_records(proxied_site, after=before)
    failed = [r for r in records if r["target"] == "ops1" and r["outcome"] == "failed"]
    assert [r["client"] for r in failed] == [remote_a]
    assert {r["client"] for r in records if r["outcome"] == "ok"} == {remote_b}
    assert {r["client"] for r in records} == {remote_a, remote_b}  # never the proxy's loopback


def test_without_a_trusted_proxy_a_direct_client_cannot_pass_for_loopback_or_another_address(
    proxied_site: Path,
) -> None:
    before = _last_seq(proxied_site)
    process, url = _serve(proxied_site, "waitress", trusted_proxies=0)
    try:
        direct = _client(DIRECT_CLIENT)
        assert _metrics(direct, url) == 401
        assert _metrics(direct, url, forwarded="127.0.0.1") == 401
        assert _login(direct, url, "ops1", "wrong password", forwarded=REMOTE) == 200
        assert _metrics(_client(), url, forwarded=REMOTE) == 200  # loopback itself stays local
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
    assert [r["client"] for r in _login_records(proxied_site, after=before)] == [DIRECT_CLIENT]


def test_forwarded_headers_from_an_address_that_is_not_the_proxy_are_ignored(proxied_site: Path) -> None:
    """trusted_proxies believes the proxy's own addresses only (listen.trusted_proxy_addresses, loopback)."""
    before = _last_seq(proxied_site)
    process, url = _serve(proxied_site, "waitress", trusted_proxies=1)
    try:
        direct = _client(DIRECT_CLIENT)
        assert _metrics(direct, url, forwarded="127.0.0.1") == 401
        assert _login(direct, url, "ops1", "wrong password", forwarded=REMOTE) == 200
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
    assert [r["client"] for r in _login_records(proxied_site, after=before)] == [DIRECT_CLIENT]
