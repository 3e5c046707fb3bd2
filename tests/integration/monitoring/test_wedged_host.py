"""A wedged host never stops the monitor: a real `egov serve` probing the lab while one host's sshd is frozen.

`egov lab fault HOST wedge` stops every sshd process of the host with
SIGSTOP: the kernel still completes TCP handshakes, nothing answers (a hung
host, or one black-holed after connect). The monitor's pooled connection to
it is already open when that happens, as in production. Over a window, the
store must show every other host probed at its interval (and healthy), the
wedged host's probes failing within their timeouts, and its HostDown alert
firing. The host is healed (SIGCONT) in a ``finally``.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from sqlalchemy import select

from tests.conftest import REPO, egov

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

WEDGED = "gd-edu-1"
HEALTH_HOSTS = [WEDGED, "mn-oa-1", "mn-db-1", "gd-school-1"]
ALL_HOSTS = ["mn-portal-1", "mn-portal-2", "mn-oa-1", "mn-db-1", "bc-backup-1", "dr-app-1", "dr-backup-1",
             "gd-edu-1", "gd-school-1"]  # fmt: skip
SSH_INTERVAL, SSH_TIMEOUT = 2.0, 1.5
HEALTH_INTERVAL, HEALTH_TIMEOUT = 3.0, 3.0
WINDOW = 18.0
SLACK = 0.5  # a result's duration may exceed its timeout by this much (thread start, result building)


def _monitoring(folder: Path) -> None:
    folder.mkdir()
    probes = {"probes": [
        {"name": "ssh", "type": "ssh", "interval": f"{SSH_INTERVAL:g}s", "timeout": f"{SSH_TIMEOUT:g}s"},
        {"name": "health", "type": "health", "interval": f"{HEALTH_INTERVAL:g}s", "timeout": f"{HEALTH_TIMEOUT:g}s",
         "select": {"hosts": HEALTH_HOSTS}},
    ]}  # fmt: skip
    rules = {"rules": [
        {"alert": "HostDown", "probe": "ssh", "severity": "critical", "annotations": {"summary": "{host}: {message}"}},
        {"alert": "HealthFailing", "probe": "health", "severity": "critical",
         "annotations": {"summary": "{host}: {message}"}},
    ]}  # fmt: skip
    alerting = {"route": {"receiver": "nobody", "group_by": ["alertname", "host"], "group_wait": "0s"}}
    for name, document in (("probes", probes), ("rules", rules), ("alerting", alerting)):
        (folder / f"{name}.yml").write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture
def served(lab: Lab, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`egov serve` (one process) for a site watching the lab with a small monitoring folder; stopped after."""
    _monitoring(tmp_path / "monitoring")
    data = {
        "folders": {"inventory": str(REPO / "inventory" / "lab.yml"), "monitoring": str(tmp_path / "monitoring"),
                    "runbooks": str(REPO / "runbooks"), "backup": str(REPO / "backup")},
        "state": {"dir": "var", "database": "sqlite:///var/egov.db"},
        "ssh": {"key_file": str(lab.config.ssh_key_file), "known_hosts": str(lab.config.ssh_known_hosts),
                "connect_timeout": 2, "keepalive_interval": 1, "keepalive_count_max": 2},
    }  # fmt: skip
    (tmp_path / "egov.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    initialised = egov(tmp_path, "init")
    assert initialised.returncode == 0, initialised.stderr
    env = {**os.environ, "EGOV_CONFIG": str(tmp_path / "egov.yml"), "PYTHONUNBUFFERED": "1"}
    env.pop("EGOV_MASTER_KEY_FILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "serve", "--port", "0", "--workers", "1", "--plain-http"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("console: "), line
        from controlplane.config import load_config
        from controlplane.store import open_store

        store = open_store(load_config(tmp_path / "egov.yml"))
        try:
            yield {"process": process, "store": store}
        finally:
            store.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _history(store: Any, since: dt.datetime, until: dt.datetime | None = None) -> list[Any]:
    from controlplane.monitoring.models import ProbeHistory

    with store.session() as session:
        query = select(ProbeHistory).where(ProbeHistory.at >= since)
        if until is not None:
            query = query.where(ProbeHistory.at <= until)
        rows = session.scalars(query.order_by(ProbeHistory.id)).all()
        session.expunge_all()
        return list(rows)


def _firing(store: Any) -> set[tuple[str, str]]:
    from controlplane.monitoring.models import AlertRecord

    with store.session() as session:
        rows = session.scalars(select(AlertRecord).where(AlertRecord.state == "firing")).all()
        return {(row.labels.get("alertname", ""), row.labels.get("host", "")) for row in rows}


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _banner(address: str, port: int = 22) -> bool:
    import socket

    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def test_a_wedged_host_fails_its_probes_within_their_timeouts_while_every_other_host_is_probed_on_time(
    lab: Lab, served: dict[str, Any]
) -> None:
    from controlplane.store.models import utcnow

    store, process = served["store"], served["process"]
    # Warm up: every health check has answered once, so the monitor holds a pooled connection to each host.
    started = utcnow()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        healthy = {row.host for row in _history(store, started) if row.check == "health" and row.success}
        if healthy >= set(HEALTH_HOSTS):
            break
        time.sleep(0.5)
    assert healthy >= set(HEALTH_HOSTS), f"health never succeeded on {set(HEALTH_HOSTS) - healthy}"
    wedged = lab.egov("lab", "fault", WEDGED, "wedge")
    assert wedged.returncode == 0, wedged.stderr
    try:
        window_start = utcnow()
        threads_at_start = _threads(process.pid)
        most_threads = threads_at_start
        end = time.monotonic() + WINDOW
        while time.monotonic() < end:
            most_threads = max(most_threads, _threads(process.pid))
            time.sleep(0.5)
        window_end = utcnow()
        firing = _firing(store)
    finally:
        healed = lab.egov("lab", "fault", WEDGED, "heal")
        deadline = time.monotonic() + 30
        while not _banner("10.198.0.41") and time.monotonic() < deadline:
            time.sleep(0.3)
    assert healed.returncode == 0, healed.stderr
    rows = _history(store, window_start, window_end)
    by_key: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        by_key.setdefault((row.check, row.host), []).append(row)
    # Every other host: probed at its interval over the whole window, and healthy.
    for host in ALL_HOSTS:
        checks = [("ssh", SSH_INTERVAL)] + ([("health", HEALTH_INTERVAL)] if host in HEALTH_HOSTS else [])
        for check, interval in checks:
            found = by_key.get((check, host), [])
            assert len(found) >= WINDOW / interval - 2, f"{check} on {host}: {len(found)} results in {WINDOW:g} s"
            if host != WEDGED:
                assert all(row.success for row in found), [(row.check, row.host, row.message) for row in found]
    # The wedged host: every probe failed, each within its timeout, naming the host and the step.
    ssh_rows, health_rows = by_key[("ssh", WEDGED)], by_key[("health", WEDGED)]
    assert not any(row.success for row in ssh_rows + health_rows)
    assert max(row.duration for row in ssh_rows) <= SSH_TIMEOUT + SLACK
    assert max(row.duration for row in health_rows) <= HEALTH_TIMEOUT + SLACK, [r.duration for r in health_rows]
    assert all(WEDGED in row.message for row in health_rows), [row.message for row in health_rows]
    print(f"wedged {WEDGED}: health probes failed in {min(r.duration for r in health_rows):.2f}-"
          f"{max(r.duration for r in health_rows):.2f} s (timeout {HEALTH_TIMEOUT:g} s), ssh banner probes in "
          f"{max(r.duration for r in ssh_rows):.2f} s at most; first: {health_rows[0].message}")  # fmt: skip
    # Alerted on time, and only for the wedged host.
    assert ("HostDown", WEDGED) in firing and ("HealthFailing", WEDGED) in firing, firing
    assert {host for _, host in firing} == {WEDGED}, firing
    # Its probe threads did not pile up over the cycles.
    assert most_threads <= threads_at_start + 6, (threads_at_start, most_threads)
