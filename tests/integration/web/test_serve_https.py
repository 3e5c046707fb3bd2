"""`egov serve` on HTTPS by default with the CA's certificate, also with `--workers 2`; `--plain-http` serves HTTP.

Nothing leaves the machine: the console binds 127.0.0.1; clients verify against state/pki/root.pem.
"""

from __future__ import annotations

import http.client
import os
import signal
import ssl
import time
from pathlib import Path

import requests

from tests.integration.web.test_serve_console import (  # noqa: F401 - site is a fixture
    egov,
    login,
    site,
    stop_console,
)
from tests.integration.web.test_serve_workers import _children, _start


def _socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def _server_sides(port: int, client_ports: set[int]) -> set[int]:
    """Inodes of the server ends of established loopback connections to ``port`` from ``client_ports``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local_port == port and remote_port in client_ports and fields[3] == "01":
            inodes.add(int(fields[9]))
    return inodes


def test_two_workers_serve_https_with_the_ca_certificate_to_a_verifying_client(site: Path) -> None:  # noqa: F811
    assert egov(site, "ca", "init").returncode == 0
    root = site / "var" / "pki" / "root.pem"
    process, url = _start(site, "--workers", "2")
    connections: list[http.client.HTTPSConnection] = []
    try:
        assert url.startswith("https://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 20
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            workers = _children(process.pid)
            time.sleep(0.1)
        assert len(workers) == 1, workers
        context = ssl.create_default_context(cafile=str(root))  # the CA only: no system root could vouch for it
        client_ports: set[int] = set()
        serving: set[int] = set()
        # Which process wins a connection is the kernel's choice, and on a busy machine one may win many in a
        # row: open connections (kept open, so each server end stays with its process) until both have some.
        deadline = time.monotonic() + 30
        while serving != {process.pid, *workers} and len(connections) < 200 and time.monotonic() < deadline:
            for _ in range(8):
                connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
                connection.connect()  # the TLS handshake, verified against the root
                client_ports.add(connection.sock.getsockname()[1])
                connections.append(connection)
            time.sleep(0.3)
            ends = _server_sides(port, client_ports)
            serving = {pid for pid in (process.pid, *workers) if _socket_inodes(pid) & ends}
        assert serving == {process.pid, *workers}, f"both processes should accept connections ({len(connections)} made)"
        for connection in connections:
            connection.request("GET", "/login")
            answer = connection.getresponse()
            assert answer.status == 200 and b"csrf_token" in answer.read()
        session = requests.Session()
        assert login(session, url, timeout=10, verify=str(root)).status_code == 302
        assert session.get(f"{url}/api/v1/me", timeout=10, verify=str(root)).json()["name"] == "ops1"
    finally:
        for connection in connections:
            connection.close()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stderr = process.stderr.read() if process.stderr else ""
    assert code == 0, stderr
    assert "HTTPS with a new certificate from the control plane's CA" in stderr and "Traceback" not in stderr
    assert b"ENCRYPTED PRIVATE KEY" in (site / "var" / "pki" / "console.key").read_bytes()


def test_plain_http_flag_serves_http_even_with_a_ca(site: Path) -> None:  # noqa: F811
    assert egov(site, "ca", "init").returncode == 0
    process, url = _start(site, "--plain-http")
    try:
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/login", timeout=10).status_code == 200
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
    assert "plain HTTP (--plain-http)" in stderr
