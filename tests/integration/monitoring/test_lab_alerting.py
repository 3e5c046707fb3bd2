"""Alerting end to end on the lab: `egov monitor run` probing real hosts, a real webhook receiver.

One lab host (gd-edu-1) gets a small web service; the monitor runs as a
child process, as in production. Faults are injected with `egov lab fault`
and every host is restored in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.monitoring.servers import Received, Sink

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

HOST, ADDRESS, SERVICE, PORT = "gd-edu-1", "10.198.0.41", "egov-mon-web", 8090
# The egov CLI with the monitoring groups registered (see cli.py).
CLI = [sys.executable, "-m", "tests.integration.monitoring.cli"]
V4_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
           "commonAnnotations", "externalURL", "alerts"}  # fmt: skip


@dataclass
class Site:
    """A site configuration watching the lab, with its webhook sink."""

    config_path: Path
    sink: Sink
    lab: Any

    def egov(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "--config", str(self.config_path), *args], capture_output=True, text=True,
                              check=False, timeout=timeout, cwd=REPO)  # fmt: skip

    def start_monitor(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*CLI, "--config", str(self.config_path), "monitor", "run", "--tick", "0.2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)  # fmt: skip

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        args = ["alerts", "list", "--json", *(["--state", state] if state else [])]
        done = self.egov(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def fault(self, action: str, service: str | None = None) -> None:
        args = ["lab", "fault", HOST, action, *(["--service", service] if service else [])]
        done = self.lab.egov(*args)
        assert done.returncode == 0, done.stderr


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the monitor we started and wait for it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def monitoring_files(folder: Path) -> None:
    folder.mkdir()
    probes = {"probes": [
        {"name": "ssh", "type": "ssh", "interval": "1s", "timeout": "1s", "select": {"hosts": [HOST]}},
        {"name": "health", "type": "health", "interval": "2s", "timeout": "2s", "select": {"hosts": [HOST]},
         "services": [SERVICE]},
        {"name": "web", "type": "http", "interval": "1s", "timeout": "1s", "select": {"hosts": [HOST]},
         "url": f"http://{{address}}:{PORT}/"},
    ]}  # fmt: skip
    rules = {"rules": [
        {"alert": "HostDown", "probe": "ssh", "severity": "critical", "annotations": {"summary": "{host} down"}},
        {"alert": "ServiceDown", "probe": "health", "metric": "service_active", "op": "==", "value": 0,
         "severity": "critical", "annotations": {"summary": "{service} stopped on {host}",
                                                 "runbook_url": "https://runbooks.example/service-down"}},
        {"alert": "WebDown", "probe": "web", "for": "4s", "severity": "critical",
         "annotations": {"summary": "web on {host}: {message}"}},
    ]}  # fmt: skip
    alerting = {
        "route": {"receiver": "hook", "group_by": ["alertname", "host"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "inhibit_rules": [{"source_matchers": ["alertname=HostDown"], "target_matchers": ["alertname!=HostDown"],
                           "equal": ["host"]}],
        "flapping": {"window": "10m", "threshold": 50},
    }  # fmt: skip
    for name, document in (("probes", probes), ("rules", rules), ("alerting", alerting)):
        (folder / f"{name}.yml").write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture(scope="module")
def monitored_lab(request: pytest.FixtureRequest) -> Any:
    """The session's lab (or the running one EGOV_LAB_CONFIG names); only gd-edu-1 is touched, and restored."""
    return request.getfixturevalue("lab")


@pytest.fixture(scope="module")
def site(monitored_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site watching gd-edu-1, which runs a small web service for the module's tests."""
    from controlplane.lab import manager

    lab = monitored_lab
    folder = tmp_path_factory.mktemp("monitoring-site")
    monitoring_files(folder / "monitoring")
    sink = Sink().start()
    data = {
        "folders": {"inventory": str(REPO / "inventory" / "lab.yml"), "monitoring": str(folder / "monitoring")},
        "state": {"dir": str(folder / "var"), "database": f"sqlite:///{folder}/var/egov.db"},
        "vault": {"key_file": str(folder / "master.key")},
        "ssh": {"key_file": str(lab.config.ssh_key_file), "known_hosts": str(lab.config.ssh_known_hosts),
                "connect_timeout": 2},
        "receivers": [{"name": "hook", "type": "webhook", "url": f"{sink.url}/alerts"}],
    }  # fmt: skip
    config_path = folder / "egov.yml"
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    service = {"argv": ["/usr/bin/python3", "-m", "http.server", str(PORT), "--bind", ADDRESS], "cwd": "/tmp"}
    written = manager.exec_in_host(lab.config, HOST, ["sh", "-c", f"mkdir -p /etc/egov-lab/services && cat > "
                                                      f"/etc/egov-lab/services/{SERVICE}.json"],
                                   input_text=json.dumps(service))  # fmt: skip
    assert written.ok, written.stderr
    result = Site(config_path, sink, lab)
    try:
        result.fault("up", SERVICE)
        yield result
    finally:
        try:
            result.fault("heal")
            result.fault("up")
            result.fault("down", SERVICE)
        finally:
            manager.exec_in_host(lab.config, HOST, ["rm", "-f", f"/etc/egov-lab/services/{SERVICE}.json"])
            sink.stop()


def named(received: list[Received], alertname: str, status: str) -> list[dict[str, Any]]:
    return [r.body for r in received if r.body["groupLabels"].get("alertname") == alertname
            and r.body["status"] == status]  # fmt: skip


def test_monitor_once_probes_the_host_and_prints_json(site: Site) -> None:
    done = site.egov("monitor", "once", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["check"]: r for r in json.loads(done.stdout)}
    assert set(results) == {"ssh", "health", "web"}
    samples = {(s["name"], s["labels"].get("service", "")): s["value"] for s in results["health"]["samples"]}
    assert samples[("service_active", SERVICE)] == 1.0


def test_a_stopped_service_fires_a_v4_webhook_then_resolves_and_a_restart_sends_no_duplicate(site: Site) -> None:
    site.sink.received.clear()
    monitor = site.start_monitor()
    try:
        time.sleep(3)  # healthy baseline
        site.fault("down", SERVICE)
        got = site.sink.wait_for(lambda r: bool(named(r, "ServiceDown", "firing")), timeout=30)
        payload = named(got, "ServiceDown", "firing")[0]
        assert set(payload) == V4_KEYS and payload["version"] == "4"
        [alert] = payload["alerts"]
        assert alert["labels"]["service"] == SERVICE and alert["labels"]["host"] == HOST
        assert alert["annotations"]["runbook_url"] == "https://runbooks.example/service-down"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z" and len(alert["fingerprint"]) == 16

        # Restart the control plane's monitor while the alert fires: no second message.
        stop(monitor)
        monitor = site.start_monitor()
        time.sleep(6)
        assert len(named(site.sink.received, "ServiceDown", "firing")) == 1

        # The receiver goes down; the resolution waits in the outbox until it is back.
        port = site.sink.server.server_address[1]  # type: ignore[union-attr]
        site.sink.stop()
        site.fault("up", SERVICE)
        time.sleep(4)
        site.sink.start(port)
        got = site.sink.wait_for(lambda r: bool(named(r, "ServiceDown", "resolved")), timeout=60)
        resolved = named(got, "ServiceDown", "resolved")[0]["alerts"][0]
        assert resolved["endsAt"] != "0001-01-01T00:00:00Z"
    finally:
        stop(monitor)
        site.fault("up", SERVICE)


def test_a_silence_keeps_a_firing_service_alert_quiet(site: Site) -> None:
    site.sink.received.clear()
    made = site.egov("alerts", "silence", f"host={HOST}", f"service={SERVICE}", "-d", "10m", "-m", "planned test",
                     "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    silence_id = json.loads(made.stdout)["id"]
    monitor = site.start_monitor()
    try:
        site.fault("down", SERVICE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not site.alerts("silenced"):
            time.sleep(0.5)
        [alert] = site.alerts("silenced")
        assert alert["name"] == "ServiceDown" and alert["silenced_by"] == [silence_id]
        time.sleep(3)
        assert named(site.sink.received, "ServiceDown", "firing") == []
    finally:
        stop(monitor)
        site.fault("up", SERVICE)
        assert site.egov("alerts", "unsilence", silence_id).returncode == 0


def _web_answers() -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((ADDRESS, PORT)) == 0


def test_a_host_down_inhibits_the_alerts_of_its_services(site: Site) -> None:
    # Start from a healthy host: the previous test stopped and restarted the
    # service, and a WebDown already pending would fire on its own account.
    site.fault("up", SERVICE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _web_answers():
        time.sleep(0.2)
    assert _web_answers(), f"the web service on {HOST} does not answer"
    site.sink.received.clear()
    monitor = site.start_monitor()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            a["name"] == "WebDown" for state in ("pending", "firing") for a in site.alerts(state)
        ):
            time.sleep(0.5)
        time.sleep(2)  # a few healthy probe rounds before the fault
        site.sink.received.clear()
        site.fault("isolate")
        site.sink.wait_for(lambda r: bool(named(r, "HostDown", "firing")), timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not site.alerts("inhibited"):
            time.sleep(0.5)
        inhibited = site.alerts("inhibited")
        assert [a["name"] for a in inhibited] == ["WebDown"]
        time.sleep(2)
        assert named(site.sink.received, "WebDown", "firing") == []
        site.fault("heal")
        site.sink.wait_for(lambda r: bool(named(r, "HostDown", "resolved")), timeout=30)
    finally:
        stop(monitor)
        site.fault("heal")
