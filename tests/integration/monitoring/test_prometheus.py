"""A real Prometheus (Debian's package) scrapes our collectors and evaluates the exported rules.

The collectors are served on 127.0.0.1 by prometheus_client's own WSGI app
(what the console mounts at ``/metrics``); Prometheus runs with the exported
``prometheus.yml`` and ``egov-rules.yml`` on a 1 s interval, and must report
the target up and fire the HostDown alert our engine fires for the same data.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import yaml

from controlplane.monitoring.export import export_prometheus
from controlplane.monitoring.results import ProbeResult, save_results
from controlplane.monitoring.spec_loader import load_monitoring
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Quiet(WSGIRequestHandler):
    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def metrics_server(tmp_path: Path) -> Iterator[tuple[Any, Any, int]]:
    """Config, store and port of a /metrics endpoint serving the collectors on loopback."""
    from prometheus_client import CollectorRegistry, make_wsgi_app

    from controlplane.config import load_config
    from controlplane.monitoring.metrics import AlertCollector, ProbeCollector
    from controlplane.store import open_store
    from tests.conftest import write_config

    port = free_port()
    config = load_config(write_config(tmp_path, listen={"host": "127.0.0.1", "port": port}))
    store = open_store(config)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(store))
    registry.register(AlertCollector(store))
    server = make_server("127.0.0.1", port, make_wsgi_app(registry), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield config, store, port
    server.shutdown()
    server.server_close()
    store.close()


def api(port: int, path: str) -> Any:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5
    ) as response:
        return json.loads(response.read())["data"]


def test_prometheus_scrapes_the_collectors_and_fires_the_exported_host_down_rule(metrics_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, store, _port = metrics_server
    with store.session() as session:
        save_results(session, [ProbeResult("ssh", "ssh", "mn-db-1", "ministry", "database", False, 3.0, "refused")])
    spec = load_monitoring(REPO / "monitoring")
    prometheus_yml, _rules = export_prometheus(config, spec, tmp_path / "prom", interval="1s")
    assert yaml.safe_load(prometheus_yml.read_text())["scrape_configs"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{config.listen_port}"
    ]
    web_port = free_port()
    process = subprocess.Popen(
        ["prometheus", f"--config.file={prometheus_yml}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path / "prom",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        firing: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                targets = api(web_port, "targets")["activeTargets"]
                firing = [a for a in api(web_port, "alerts")["alerts"] if a["state"] == "firing"]
            except OSError:
                pass
            if firing:
                break
            time.sleep(0.5)
        assert targets and targets[0]["health"] == "up", targets
        groups = api(web_port, "rules")["groups"]
        assert sum(len(g["rules"]) for g in groups) == len(spec.rules)
        [alert] = [a for a in firing if a["labels"]["alertname"] == "HostDown"]
        assert alert["labels"]["host"] == "mn-db-1" and alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"].startswith("mn-db-1 (ministry) does not accept SSH")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
