"""`egov serve --workers N`: N processes share the socket; sessions and runs work across them; SIGTERM stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.integration.web.test_serve_console import (  # noqa: F401 - site is a fixture
    egov,
    login,
    site,
    start_ping,
    stream_lines,
)


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _start(site_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "EGOV_CONFIG": str(site_path / "egov.yml"), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=site_path,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("console: "):
        process.kill()
        raise AssertionError(f"no console: {line!r} {process.stderr.read() if process.stderr else ''}")
    return process, line.split(" ", 1)[1].strip()


def test_three_workers_serve_one_session_and_stop_together(site: Path) -> None:  # noqa: F811
    process, url = _start(site, "--workers", "3", "--plain-http")
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 20
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = _children(process.pid)
            time.sleep(0.1)
        assert len(workers) == 2, workers
        session = requests.Session()
        assert login(session, url, timeout=10).status_code == 302
        # A new connection each time, so the kernel hands them to different processes.
        answers = [session.get(f"{url}/api/v1/me", headers={"Connection": "close"}, timeout=10) for _ in range(30)]
        assert {a.status_code for a in answers} == {200} and answers[-1].json()["name"] == "ops1"
        lines = stream_lines(session, url, start_ping(session, url))
        assert '"status": "succeeded"' in lines[-1]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stderr = process.stderr.read() if process.stderr else ""
    assert code == 0, stderr
    assert "console workers: 3 processes" in stderr and "Traceback" not in stderr
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived the console"


def test_workers_serve_the_operator_s_tls_certificate(site: Path) -> None:  # noqa: F811
    """Issue 15 made workers and TLS compatible (each worker serves TLS on the shared socket)."""
    from tests.conftest import write_config

    assert egov(site, "ca", "init").returncode == 0
    made = egov(site, "ca", "export", "--out", str(site / "root.pem"))
    assert made.returncode == 0, made.stderr
    # The operator's files: here the console certificate the CA gave a first (plain) start, copied.
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.web.console_tls import ensure_console_certificate

    config = load_config(site / "egov.yml")
    store = open_store(config)
    try:
        files, _ = ensure_console_certificate(config, store, "127.0.0.1")
    finally:
        store.close()
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(files.key.read_bytes(), password=files.password)
    clear = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())  # fmt: skip
    (site / "var" / "operator.key").write_bytes(clear)
    (site / "var" / "operator.key").chmod(0o600)
    (site / "var" / "operator.crt").write_bytes(files.cert.read_bytes())
    write_config(site, listen={"tls_cert": "var/operator.crt", "tls_key": "var/operator.key"})
    process, url = _start(site, "--workers", "2")
    try:
        assert url.startswith("https://127.0.0.1:")
        answers = [requests.get(f"{url}/login", headers={"Connection": "close"}, timeout=10,
                                verify=str(site / "root.pem")) for _ in range(10)]  # fmt: skip
        assert {a.status_code for a in answers} == {200}
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stderr = process.stderr.read() if process.stderr else ""
    assert code == 0, stderr
    assert "console workers: 2 processes" in stderr and "HTTPS with" in stderr
