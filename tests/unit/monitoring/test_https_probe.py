"""The HTTPS probe against a server with a certificate of the control plane's CA: verified, days left, alert."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from controlplane.config import Config
from controlplane.monitoring.probes.network import http_probe
from controlplane.monitoring.probes.runner import ProbeRunner
from controlplane.store import Store
from tests.unit.monitoring.test_probes import Page, check, tls_web  # noqa: F401 - tls_web is a fixture


def _serve(cert: Path, key: Path) -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def ca_web(config: Config, store: Store, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on loopback with a 30-day certificate of the site's CA; yields (port, root.pem)."""
    from controlplane.pki.authority import init_authority
    from controlplane.pki.issue import issue_tls

    authority = init_authority(config, store, "test")
    issued = issue_tls(authority, common_name="portal", dns_names=["portal"], ip_addresses=["127.0.0.1"],
                       validity=dt.timedelta(days=30), requester="test")  # fmt: skip
    (tmp_path / "chain.pem").write_bytes(issued.certificate_pem + issued.chain_pem)
    (tmp_path / "key.pem").write_bytes(issued.key_pem)
    server, port = _serve(tmp_path / "chain.pem", tmp_path / "key.pem")
    yield port, config.state_dir / "pki" / "root.pem"
    server.shutdown()
    server.server_close()


def test_https_verifies_against_the_control_plane_ca_and_reports_days_left(ca_web: tuple[int, Path]) -> None:
    port, root = ca_web
    result = http_probe(check("http", url=f"https://127.0.0.1:{port}/"), str(root))
    assert result.success, result.message
    days = {s.name: s.value for s in result.samples}["tls_cert_days_left"]
    assert 29 < days <= 30
    assert "valid 30 more days" in result.message or "valid 29 more days" in result.message


def test_https_without_the_ca_fails_on_the_unknown_issuer(ca_web: tuple[int, Path]) -> None:
    port, _root = ca_web
    result = http_probe(check("http", url=f"https://127.0.0.1:{port}/"))
    assert not result.success and "certificate" in result.message.lower()


def test_a_certificate_of_another_ca_fails_even_with_the_control_plane_ca(
    ca_web: tuple[int, Path], tls_web: int  # noqa: F811
) -> None:
    _port, root = ca_web
    result = http_probe(check("http", url=f"https://127.0.0.1:{tls_web}/"), str(root))  # self-signed
    assert not result.success and "certificate verify failed" in result.message


def test_a_probe_s_own_ca_file_replaces_the_control_plane_ca(
    ca_web: tuple[int, Path], tls_web: int, tmp_path: Path  # noqa: F811
) -> None:
    port, root = ca_web
    other = tmp_path / "c.pem"  # tls_web's self-signed certificate: another CA
    result = http_probe(check("http", url=f"https://127.0.0.1:{port}/", ca_file=str(other)), str(root))
    assert not result.success and "certificate verify failed" in result.message


def test_the_runner_hands_its_ca_file_to_https_probes(ca_web: tuple[int, Path]) -> None:
    port, root = ca_web
    probe = check("http", url=f"https://127.0.0.1:{port}/")
    runner = ProbeRunner([probe], ca_file=str(root))
    try:
        assert runner.probe(probe).success
    finally:
        runner.executor.shutdown(wait=False)


def test_the_shipped_rules_warn_below_14_days_left() -> None:
    from controlplane.monitoring.spec_loader import load_monitoring
    from tests.conftest import REPO

    spec = load_monitoring(REPO / "monitoring")
    https = {p.name: p for p in spec.probes if p.options.get("url", "").startswith("https://")}
    assert {"portal-https", "office-https"} <= set(https)
    expiring = [r for r in spec.rules if r.metric == "tls_cert_days_left"]
    assert {r.probe for r in expiring} == {"portal-https", "office-https"}
    assert all(r.op == "<" and r.value == 14 for r in expiring)
