"""Fixtures of the runbook lab tests: a site on the shared lab, a tiny portal on both portal hosts.

The portal listens on port 80 (the port the hardening firewall leaves open).
When a portal already answers there (the provision playbook's), it is used
as it is; otherwise Debian's ``python3 -m http.server`` is registered as the
lab service ``rb-portal``, serving an ``index.html`` naming its host and a
``health`` file. The portal VIP is put on the primary. Everything
is undone in ``finally``, and the VIP is put back where it was found: the lab
is shared with other test sessions.

``EGOV_LAB_CONFIG`` (see tests/integration/conftest.py) may name the egov.yml of a lab that is already up
(a developer's); otherwise the session's ``lab`` fixture brings one up.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SERVICE = "rb-portal"
PORT = 80
ROOT = "/srv/rb-portal"
PRIMARY, STANDBY = "mn-portal-1", "mn-portal-2"
PORTAL_HOSTS = (PRIMARY, STANDBY)
ADDRESS = {PRIMARY: "10.198.0.11", STANDBY: "10.198.0.12", "mn-db-1": "10.198.0.14", "mn-oa-1": "10.198.0.13"}
VIP = "10.198.0.100"
PORTAL_PARAMS: dict[str, str] = {}
# Writes files given as {path: text} on stdin: no shell inside the host either.
WRITER = (
    "import json, os, sys\n"
    "for path, text in json.load(sys.stdin).items():\n"
    "    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
    "    open(path, 'w').write(text)\n"
)


@dataclass
class RunbookSite:
    """A site for runbook tests: the lab's Config, our own config/store, and helpers on lab hosts."""

    lab_config: Any
    config_path: Path
    config: Any
    content: dict[str, str] = field(default_factory=dict)
    # The lab service serving the portal on each host (ours, or the provisioned one).
    services: dict[str, str] = field(default_factory=dict)

    def exec(self, host: str, argv: list[str], input_text: str | None = None, timeout: float = 20) -> Any:
        """Run argv inside a lab host (not through the control plane: the test's own view)."""
        from controlplane.lab import manager

        return manager.exec_in_host(self.lab_config, host, argv, input_text=input_text, timeout=timeout)

    def addresses(self, host: str) -> list[str]:
        """IPv4 addresses on the host's eth0."""
        shown = self.exec(host, ["ip", "-4", "-j", "addr", "show", "dev", "eth0"])
        assert shown.ok, shown.stderr
        return [a["local"] for entry in json.loads(shown.stdout) for a in entry.get("addr_info", [])]

    def vip_holders(self) -> list[str]:
        """Portal hosts carrying the VIP."""
        return [host for host in PORTAL_HOSTS if VIP in self.addresses(host)]

    def move_vip(self, to: str | None) -> None:
        """Test-side VIP placement: off every portal host, then onto ``to`` with a gratuitous ARP."""
        for host in PORTAL_HOSTS:
            if VIP in self.addresses(host):
                assert self.exec(host, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"]).ok
        if to:
            assert self.exec(to, ["ip", "addr", "add", f"{VIP}/24", "dev", "eth0"]).ok
            self.exec(to, ["arping", "-q", "-U", "-c", "1", "-w", "1", "-I", "eth0", VIP])


def http_body(address: str, path: str = "/", timeout: float = 1.0) -> str | None:
    """GET http://address:PORT/path and return the body, or None when it does not answer 200."""
    import http.client

    connection = http.client.HTTPConnection(address, PORT, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        answer = connection.getresponse()
        body = answer.read().decode()
        return body if answer.status == 200 else None
    except OSError:
        return None
    finally:
        connection.close()


def wait_for(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until truthy; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()


def content_of(host: str) -> str:
    """The index page the test portal serves on ``host``."""
    return f"<h1>EduGov portal served by {host}</h1>\n"


@pytest.fixture(scope="session")
def lab_config(request: pytest.FixtureRequest) -> Any:
    """The Config of the lab to test against (a running developer lab, or the session lab)."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    return request.getfixturevalue("lab").config


@pytest.fixture
def site(lab_config: Any, tmp_path: Path) -> RunbookSite:
    """A site of our own (store, vault, runbooks) that reaches the lab with its SSH key."""
    return make_site(lab_config, tmp_path)


def make_site(lab_config: Any, tmp_path: Path) -> RunbookSite:
    """Write an egov.yml in ``tmp_path`` with its own store and vault and the lab's SSH key; return the site."""
    from controlplane.config import load_config
    from controlplane.vault import create_key_file

    data = {
        "folders": {"inventory": str(REPO / "inventory" / "lab.yml"), "runbooks": str(REPO / "runbooks")},
        "state": {"dir": str(tmp_path / "var"), "database": f"sqlite:///{tmp_path}/var/egov.db"},
        "vault": {"key_file": str(tmp_path / "master.key")},
        "ssh": {"key_file": str(lab_config.ssh_key_file), "known_hosts": str(lab_config.ssh_known_hosts)},
    }
    path = tmp_path / "egov.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    create_key_file(config.key_file)
    return RunbookSite(lab_config, path, config)


@pytest.fixture
def portal(site: RunbookSite) -> Iterator[RunbookSite]:
    """Both portal hosts serve their own content on PORT; the VIP is on the primary. All undone after."""
    with portal_service(site) as ready:
        yield ready


@contextlib.contextmanager
def portal_service(site: RunbookSite) -> Iterator[RunbookSite]:
    """Set up the portal on both portal hosts (see the module docstring); undo it all on exit."""
    from controlplane.lab import manager

    found_on = site.vip_holders()
    # Every address of the host's own namespace, so the server answers on the VIP once it arrives.
    any_address = "0.0.0.0"  # noqa: S104 - inside the lab host's namespace: only lab addresses exist there
    argv = ["/usr/bin/python3", "-m", "http.server", str(PORT), "--bind", any_address, "--directory", ROOT]
    service = {"argv": argv, "cwd": "/", "autostart": False}
    started: list[str] = []
    try:
        for host in PORTAL_HOSTS:
            address = ADDRESS[host]
            if not tcp_open(address, PORT):
                files = {
                    f"{ROOT}/index.html": content_of(host),
                    f"{ROOT}/health": "ok\n",
                    f"/etc/egov-lab/services/{SERVICE}.json": json.dumps(service),
                }
                written = site.exec(host, ["python3", "-c", WRITER], input_text=json.dumps(files))
                assert written.ok, written.stderr
                started.append(host)
                manager.fault(site.lab_config, host, "up", service=SERVICE)
            site.services[host] = SERVICE if host in started else "portal"
            assert wait_for(lambda a=address: http_body(a, "/health")), f"{host}: no portal health page on {PORT}"
            site.content[host] = http_body(address) or ""
        if site.content[PRIMARY] == site.content[STANDBY]:
            raise pytest.skip.Exception("both portal hosts serve the same page: a failover would not be visible")
        site.move_vip(PRIMARY)
        assert wait_for(lambda: http_body(VIP) == site.content[PRIMARY]), "the VIP does not reach the primary"
        yield site
    finally:
        for host in started:
            try:
                manager.fault(site.lab_config, host, "down", service=SERVICE)
            finally:
                site.exec(host, ["rm", "-rf", ROOT, f"/etc/egov-lab/services/{SERVICE}.json"])
        site.move_vip(found_on[0] if found_on else None)


def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connection from the control plane completes."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False
