"""`egov serve` for real: a process on a free loopback port, a login over HTTP(S), SIGTERM.

Nothing here leaves the machine: the server binds 127.0.0.1 and the harmless
run sends no packet.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import egov, write_config

PASSWORD = "operator password 1"


def start_console(site: Path, plain_http: bool = True) -> tuple[subprocess.Popen[str], str]:
    """Start `egov serve --port 0` and return the process and the URL it printed.

    ``plain_http``: with --plain-http (HTTP even where the site's CA would give HTTPS by default).
    """
    env = {**os.environ, "EGOV_CONFIG": str(site / "egov.yml"), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "serve", "--port", "0", *(["--plain-http"] if plain_http else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=site,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("console: "):
            return process, line.split(" ", 1)[1].strip()
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the console did not start: {process.stderr.read() if process.stderr else ''}")


def stop_console(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return code, process.stderr.read() if process.stderr else ""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    added = egov(tmp_path, "users", "add", "ops1", "--role", "operator", "--site", "province-gd", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    yield tmp_path


def login(session: requests.Session, url: str, **kwargs: object) -> requests.Response:
    page = session.get(f"{url}/login", **kwargs).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return session.post(
        f"{url}/login",
        data={"name": "ops1", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        **kwargs,
    )


def start_ping(session: requests.Session, url: str, host: str = "gd-school-1") -> str:
    """Start a harmless run on ``host`` through the host page's form; return the run page's path."""
    page = session.get(f"{url}/hosts/{host}", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    started = session.post(
        f"{url}/runs/new",
        data={"kind": "ping", "host": host, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    return started.headers["Location"]


def stream_lines(session: requests.Session, url: str, run_path: str) -> list[str]:
    """Follow a run's event stream to its end; return its data lines."""
    with session.get(f"{url}{run_path}/stream", stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        return [raw for raw in stream.iter_lines(decode_unicode=True) if raw.startswith("data: ")]


def test_serve_logs_in_streams_a_run_and_stops_on_sigterm(site: Path) -> None:
    process, url = start_console(site)
    try:
        assert url.startswith("http://127.0.0.1:")
        session = requests.Session()
        response = login(session, url, timeout=10)
        assert response.status_code == 302 and "HttpOnly" in response.headers["Set-Cookie"]
        lines = stream_lines(session, url, start_ping(session, url))
        assert len(lines) == 11 and '"status": "succeeded"' in lines[-1]
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 200  # loopback: open
        # A second run is still going when SIGTERM arrives: it ends interrupted.
        start_ping(session, url, "gd-edu-1")
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
    assert "console stopped" in stderr and "Traceback" not in stderr
    runs = egov(site, "runs", "list", "--json")
    statuses = sorted(run["status"] for run in __import__("json").loads(runs.stdout))
    assert statuses == ["interrupted", "succeeded"]


def test_serve_over_tls_with_secure_cookies(site: Path) -> None:
    key, cert = site / "var" / "tls.key", site / "var" / "tls.crt"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate here")
    write_config(site, listen={"tls_cert": str(cert), "tls_key": str(key)})
    process, url = start_console(site, plain_http=False)
    try:
        assert url.startswith("https://127.0.0.1:")
        # A client that connects and says nothing must not block the others.
        import socket

        host, port = url.removeprefix("https://").split(":")
        staller = socket.create_connection((host, int(port)))
        session = requests.Session()
        response = login(session, url, timeout=10, verify=str(cert))
        assert response.status_code == 302
        assert "Secure" in response.headers["Set-Cookie"]
        assert session.get(f"{url}/api/v1/me", timeout=10, verify=str(cert)).json()["name"] == "ops1"
        staller.close()
    finally:
        code, stderr = stop_console(process)
    assert code == 0, stderr
