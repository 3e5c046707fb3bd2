"""The console's own certificate from the CA: its names, its encrypted key, reuse and renewal, the serving mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controlplane import tls_check
from controlplane.config import Config, load_config
from controlplane.store import Store
from controlplane.web import console_tls
from controlplane.web.console_tls import PASSWORD_SECRET, ensure_console_certificate, serving_files, wanted_names
from tests.conftest import write_config


@pytest.fixture
def ca(config: Config, store: Store) -> Config:
    from controlplane.pki.authority import init_authority

    init_authority(config, store, "test")
    return config


def _with(config: Config, **listen: object) -> Config:
    """The same site with other listen settings (written to egov.yml and loaded again)."""
    write_config(config.root, listen=listen)
    return load_config(config.source)


def test_the_certificate_names_the_listen_host_localhost_the_hostname_and_the_public_url_host(
    ca: Config, store: Store
) -> None:
    site = _with(ca, public_url="https://egov.example.edu.cn:8443/")
    files, issued = ensure_console_certificate(site, store, "10.20.30.40")
    assert issued
    dns, ips = tls_check.names_in(files.cert.read_bytes())
    assert {"localhost", socket.gethostname().lower(), "egov.example.edu.cn"} <= dns
    assert {"10.20.30.40", "127.0.0.1", "::1"} <= ips


def test_a_wildcard_bind_address_is_not_put_in_the_certificate(ca: Config) -> None:
    _dns, ips = wanted_names(ca, "0.0.0.0")  # noqa: S104 - a name test, nothing binds
    assert "0.0.0.0" not in ips and "127.0.0.1" in ips  # noqa: S104


def test_the_key_file_is_encrypted_0600_and_opens_with_the_vault_password_only(ca: Config, store: Store) -> None:
    from controlplane.vault import open_vault

    files, _ = ensure_console_certificate(ca, store, "127.0.0.1")
    text = files.key.read_bytes()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in text and b"BEGIN PRIVATE KEY" not in text
    assert files.key.stat().st_mode & 0o777 == 0o600
    with pytest.raises(TypeError):  # no password: cryptography refuses an encrypted key
        serialization.load_pem_private_key(text, password=None)
    password = open_vault(ca, store).get(PASSWORD_SECRET).encode()
    key = serialization.load_pem_private_key(text, password=password)
    certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert key.public_key() == certificate.public_key()
    files.load()  # the server context opens it with the password


def test_the_certificate_chains_to_the_root_for_a_verifying_client(ca: Config, store: Store) -> None:
    files, _ = ensure_console_certificate(ca, store, "127.0.0.1")
    server_context = files.context()
    client = ssl.create_default_context(cafile=str(ca.state_dir / "pki" / "root.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    raw = socket.create_connection(("127.0.0.1", port))
    with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls.sendall(b"x")
    thread.join(5)
    listener.close()


def test_a_certificate_is_reused_until_renew_at_of_its_life_has_passed(ca: Config, store: Store) -> None:
    first, issued = ensure_console_certificate(ca, store, "127.0.0.1")
    serial = x509.load_pem_x509_certificate(first.cert.read_bytes()).serial_number
    again, issued_again = ensure_console_certificate(ca, store, "127.0.0.1")
    assert issued and not issued_again
    assert x509.load_pem_x509_certificate(again.cert.read_bytes()).serial_number == serial
    ends = x509.load_pem_x509_certificate(first.cert.read_bytes()).not_valid_after_utc
    late = ends - ca.pki.tls_validity * 0.2  # 80 % of its life passed, past renew_at (2/3)
    _renewed, issued_late = ensure_console_certificate(ca, store, "127.0.0.1", now=late)
    assert issued_late
    assert x509.load_pem_x509_certificate(first.cert.read_bytes()).serial_number != serial


def test_a_new_listen_address_gets_a_new_certificate(ca: Config, store: Store) -> None:
    ensure_console_certificate(ca, store, "127.0.0.1")
    files, issued = ensure_console_certificate(ca, store, "192.0.2.7")
    assert issued and "192.0.2.7" in tls_check.names_in(files.cert.read_bytes())[1]


def test_serve_picks_https_from_the_ca_by_default(ca: Config) -> None:
    files, how = serving_files(ca, "127.0.0.1")
    assert files is not None and files.cert == ca.state_dir / "pki" / "console.pem"
    assert "HTTPS" in how and "egov ca export" in how


def test_the_plain_http_flag_and_listen_tls_off_serve_http(ca: Config) -> None:
    assert serving_files(ca, "127.0.0.1", plain_http=True) == (None, "plain HTTP (--plain-http)")
    off, how = serving_files(_with(ca, tls="off"), "127.0.0.1")
    assert off is None and "listen.tls: off" in how
    assert not (ca.state_dir / "pki" / "console.pem").exists()


def test_without_a_ca_serve_says_how_to_get_https(config: Config) -> None:
    files, how = serving_files(config, "127.0.0.1")
    assert files is None and "egov ca init" in how


def test_listen_tls_accepts_auto_and_off_only(config: Config) -> None:
    from controlplane.errors import ConfigError

    assert config.listen_tls == "auto"
    with pytest.raises(ConfigError):
        _with(config, tls="on")


def test_a_renewed_pair_is_picked_up_by_a_running_context(
    ca: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_tls, "RELOAD_CHECK_SECONDS", 0.0)
    files, _ = ensure_console_certificate(ca, store, "127.0.0.1")
    before = files.context()
    assert files.context() is before  # unchanged files: the same context
    later = dt.datetime.now(dt.UTC) + ca.pki.tls_validity
    _renewed, issued = ensure_console_certificate(ca, store, "127.0.0.1", now=later)
    assert issued
    assert files.context() is not before


def test_the_operator_s_files_are_served_as_given(tmp_path: Path, config: Config) -> None:
    site = dataclasses.replace(config, tls_cert=tmp_path / "missing.crt", tls_key=tmp_path / "missing.key")
    with pytest.raises(OSError):  # refused before anything forks
        serving_files(site, "127.0.0.1")
