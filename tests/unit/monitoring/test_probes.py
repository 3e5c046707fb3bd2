"""Probes against real local servers on loopback, and the health script run for real."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controlplane.monitoring.probes.health import health_argv, parse_health, script_text
from controlplane.monitoring.probes.network import http_probe, ssh_probe, tcp_probe
from controlplane.monitoring.probes.runner import ProbeRunner
from controlplane.monitoring.spec import Check, Probe


def check(kind: str, ssh_port: int = 22, **options: object) -> Check:
    probe = Probe(name=f"{kind}-test", type=kind, interval=10, timeout=2, options=dict(options))
    return Check(probe, "local", "ministry", "portal", "127.0.0.1", ssh_port)


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 500 if self.path == "/broken" else 200
        body = "欢迎 EduGov portal".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def web() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def tls_web(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server with a self-signed certificate valid for 10 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=10))
            .sign(key, hashes.SHA256()))  # fmt: skip
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_succeeds_on_a_listening_port_and_fails_on_a_closed_one(web: int) -> None:
    assert tcp_probe(check("tcp", port=web)).success
    failed = tcp_probe(check("tcp", port=closed_port()))
    assert not failed.success and "refused" in failed.message.lower()


def test_tcp_probe_uses_the_option_port_not_the_ssh_port(web: int) -> None:
    result = tcp_probe(check("tcp", ssh_port=1, port=web))
    assert result.success


def test_http_checks_status_body_and_reports_latency(web: int) -> None:
    ok = http_probe(check("http", url=f"http://{{address}}:{web}/", body_match="EduGov"))
    assert ok.success, ok.message
    samples = {s.name: s.value for s in ok.samples}
    assert samples["http_status_code"] == 200 and samples["http_latency_seconds"] < 2
    broken = http_probe(check("http", url=f"http://127.0.0.1:{web}/broken"))
    assert not broken.success and "status 500" in broken.message
    wrong_body = http_probe(check("http", url=f"http://127.0.0.1:{web}/", body_match="^nothing$"))
    assert not wrong_body.success and "body does not match" in wrong_body.message
    refused = http_probe(check("http", url=f"http://127.0.0.1:{closed_port()}/"))
    assert not refused.success


def test_https_reports_the_seconds_left_on_the_certificate(tls_web: int) -> None:
    result = http_probe(check("http", url=f"https://127.0.0.1:{tls_web}/", tls_verify=False))
    assert result.success, result.message
    left = {s.name: s.value for s in result.samples}["tls_cert_expiry_seconds"]
    assert 9 * 86400 < left <= 10 * 86400
    verified = http_probe(check("http", url=f"https://127.0.0.1:{tls_web}/"))
    assert not verified.success and "certificate" in verified.message.lower()


def test_ssh_probe_reads_the_banner_and_refuses_a_non_ssh_server(web: int) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    ok = ssh_probe(check("ssh", ssh_port=listener.getsockname()[1]))
    listener.close()
    assert ok.success and "OpenSSH_9.2p1" in ok.message
    assert not ssh_probe(check("ssh", ssh_port=closed_port())).success


def test_the_health_script_runs_under_python3_and_reports_every_section() -> None:
    argv = health_argv(check("health", services=["egov-surely-absent"], service_manager="lab"))
    assert argv[:3] == ["python3", "-I", "-c"] and argv[3] == script_text()
    assert json.loads(argv[4]) == {"services": ["egov-surely-absent"], "manager": "lab"}
    before = dt.datetime.now(dt.UTC).timestamp()
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, check=True, timeout=30)
    after = dt.datetime.now(dt.UTC).timestamp()
    data = json.loads(done.stdout)
    samples, problems = parse_health(check("health"), data, before, after)
    names = {s.name for s in samples}
    assert {"host_load1", "host_memory_used_ratio", "host_disk_used_ratio", "service_active",
            "host_clock_offset_seconds"} <= names  # fmt: skip
    assert any(s.labels.get("mount") == "/" for s in samples if s.name == "host_disk_used_ratio")
    offset = next(s.value for s in samples if s.name == "host_clock_offset_seconds")
    assert abs(offset) < 5
    assert problems == ["service egov-surely-absent is not running"]


def test_a_service_name_with_shell_syntax_is_an_argv_word_not_a_command() -> None:
    from controlplane.ssh import remote_command

    argv = health_argv(check("health", services=["x; touch /tmp/pwned"]))
    line = remote_command(argv)
    assert '\'{"services":["x; touch /tmp/pwned"]' in line


def test_the_runner_never_raises_and_spreads_first_runs_over_the_interval() -> None:
    bad = check("health")  # no SSH pool given: the probe reports the problem as a result
    runner = ProbeRunner([bad], clock=lambda: 100.0)
    try:
        [result] = runner.run()
        assert not result.success and "no SSH pool" in result.message
        assert 100.0 <= runner.next_due[bad.key] < 110.0
    finally:
        runner.close()


def test_the_lab_guard_refuses_lab_addresses_while_the_bridge_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from controlplane.lab import probe
    from controlplane.monitoring.probes.runner import lab_guard

    monkeypatch.setattr(probe, "link_state", lambda *_a, **_k: None)
    guard = lab_guard(SimpleNamespace(variables={"lab_subnet": "10.198.0.0/24"}))
    assert "lab bridge is down" in (guard("10.198.0.11") or "")
    assert guard("127.0.0.1") is None
