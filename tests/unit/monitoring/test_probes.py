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
    guard = lab_guard(SimpleNamespace(variables={"lab_subnet": "10.198.0.0/24"}), probe.bridge_is_up)
    assert "lab bridge is down" in (guard("10.198.0.11") or "")
    assert guard("127.0.0.1") is None


def test_the_lab_guard_probes_lab_addresses_once_the_handed_in_check_says_the_bridge_is_up() -> None:
    from types import SimpleNamespace

    from controlplane.monitoring.probes.runner import lab_guard

    guard = lab_guard(SimpleNamespace(variables={"lab_subnet": "10.198.0.0/24"}), lambda: True)
    assert guard("10.198.0.11") is None


def test_without_a_bridge_check_the_lab_guard_never_probes_lab_addresses() -> None:
    from types import SimpleNamespace

    from controlplane.monitoring.probes.runner import lab_guard

    guard = lab_guard(SimpleNamespace(variables={"lab_subnet": "10.198.0.0/24"}))
    assert "not probing 10.198.0.11" in (guard("10.198.0.11") or "")
    assert guard("127.0.0.1") is None


# -- the monitor's cycle never waits on one host ----------------------------------------------------


class Trickle:
    """A real HTTP server that answers one byte every 0.3 s, forever: each read is quick, the response endless."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if self.stop.wait(0.3):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def _tick_for(runner: ProbeRunner, seconds: float) -> list:  # type: ignore[type-arg]
    import time

    results, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        results += runner.tick()
        time.sleep(0.05)
    return results


def test_a_probe_that_outlives_its_timeout_is_reported_failed_on_time_and_never_piles_up(web: int) -> None:
    slow = Trickle()
    stuck = Check(Probe(name="slow-http", type="http", interval=0.5, timeout=1, options={
        "url": f"http://127.0.0.1:{slow.port}/"}), "slow-host", "ministry", "portal", "127.0.0.1", 22)  # fmt: skip
    fine = Check(Probe(name="tcp", type="tcp", interval=0.5, timeout=1, options={"port": web}),
                 "fine-host", "ministry", "portal", "127.0.0.1", 22)  # fmt: skip
    runner = ProbeRunner([stuck, fine], workers=8)
    try:
        results = _tick_for(runner, 5.0)
        threads = [t for t in threading.enumerate() if t.name.startswith("egov-probe")]
    finally:
        slow.close()
        runner.close()
    mine = [r for r in results if r.host == "slow-host"]
    others = [r for r in results if r.host == "fine-host"]
    # The stuck check has a (failed) result every interval once its first run overran: never silence.
    assert len(mine) >= 5 and not any(r.success for r in mine)
    assert "did not finish within 2 s" in mine[0].message and "slow-host" in mine[0].message
    assert all(r.duration <= 2.5 for r in mine)
    assert "still running" in mine[-1].message
    # The other host is probed at its interval all along, and one thread at most serves the stuck check.
    assert len(others) >= 8 and all(r.success for r in others)
    assert len(threads) <= 3


def test_a_health_probe_of_a_host_that_accepts_and_never_speaks_fails_within_its_timeout(tmp_path: Path) -> None:
    from controlplane.ssh import SSHPool

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # never accepted: TCP completes, sshd "wedged"
        silent = Check(Probe(name="health", type="health", interval=0.5, timeout=1, options={}),
                       "wedged-host", "ministry", "portal", "127.0.0.1", int(listener.getsockname()[1]))  # fmt: skip
        (tmp_path / "known_hosts").write_text("")
        with SSHPool(tmp_path / "no-key", tmp_path / "known_hosts", connect_timeout=5) as pool:
            runner = ProbeRunner([silent], pool=pool, workers=4)
            try:
                results = _tick_for(runner, 3.5)
            finally:
                runner.close()
    assert len(results) >= 2
    assert all(not r.success and r.duration < 1.5 for r in results), [(r.duration, r.message) for r in results]
    assert "wedged-host" in results[0].message and "no SSH banner within" in results[0].message
