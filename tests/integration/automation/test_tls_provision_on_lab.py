"""`egov provision` of an office host ends with its web service on HTTPS, with a certificate of the CA.

A throwaway site (own store, vault and CA) provisions one lab host with the
lab's key and pins; its lab folder is the session lab's (a link), so the
playbook's lab services start on the real lab hosts. Provision's last step
(controlplane.automation.certify, then tls_deploy) delivers the TLS
certificate; the role's egov_httpd then answers HTTPS on 443 as its service
account, beside HTTP on 80. Verified from the control plane with Python's ssl
against the site's root, and by the HTTPS probe (days left). The module ends
with the lab purged and brought up again, as after the playbook tests, so
later tests see unprovisioned hosts.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from controlplane.automation import tls_deploy
from controlplane.ssh import SSHPool, Target

if TYPE_CHECKING:
    from controlplane.config import Config
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

REPO = Path(__file__).resolve().parents[3]
HOST, ADDRESS = "mn-oa-1", "10.198.0.13"
SECONDS = 30


@pytest.fixture(scope="module")
def provisioned(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, dict[str, object]]]:
    from controlplane.config import load_config
    from controlplane.lab import manager
    from controlplane.pki.authority import init_authority
    from controlplane.store import open_store
    from controlplane.vault import create_key_file
    from tests.integration.conftest import run_egov

    folder = tmp_path_factory.mktemp("tls-provision-site")
    (folder / "egov.yml").write_text(
        f"folders:\n  inventory: {lab.config.inventory}\n  playbooks: {REPO / 'playbooks'}\n"
        f"  backup: {REPO / 'backup'}\nstate:\n  dir: var\n"
        f"ssh:\n  key_file: {lab.config.ssh_key_file}\n  known_hosts: {lab.config.ssh_known_hosts}\n",
        encoding="utf-8",
    )
    config = load_config(folder / "egov.yml")
    config.state_dir.mkdir(parents=True)
    (config.state_dir / "lab").symlink_to(lab.config.lab_dir.resolve())  # the playbook starts the lab's services
    create_key_file(config.key_file)
    store = open_store(config)
    init_authority(config, store, requester="lab-test")
    store.close()
    try:
        done = run_egov(folder / "egov.yml", "provision", "--limit", HOST, "--json", timeout=900)
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
        yield config, json.loads(done.stdout)
    finally:
        # The host was provisioned (and certified): back to fresh hosts, as the playbook tests leave them.
        manager.down(lab.config, purge=True)
        assert lab.egov("lab", "up", timeout=600).returncode == 0


def test_after_provision_the_office_host_serves_https_with_the_ca_certificate(
    provisioned: tuple[Config, dict[str, object]],
) -> None:
    from controlplane.monitoring.probes.network import http_probe
    from controlplane.monitoring.spec import Check, Probe

    config, report = provisioned
    assert "TLS certificates: 1 of 1 in place" in json.dumps(report), report
    root = config.state_dir / "pki" / "root.pem"
    context = ssl.create_default_context(cafile=str(root))
    deadline = time.monotonic() + SECONDS
    while True:  # the service reads the delivered pair within seconds
        try:
            with urllib.request.urlopen(f"https://{ADDRESS}/health", timeout=5, context=context) as answer:
                assert json.loads(answer.read())["service"] == "office"
            break
        except (OSError, ssl.SSLError):
            if time.monotonic() > deadline:
                with SSHPool.from_config(config) as pool:
                    what = "ls -l /etc/egov/tls; tail -n 5 /var/log/egov-lab/*"
                    seen = pool.run(Target(HOST, ADDRESS), ["sh", "-c", what])
                raise AssertionError(seen.stdout + seen.stderr) from None
            time.sleep(1)
    with urllib.request.urlopen(f"http://{ADDRESS}/health", timeout=5) as answer:  # port 80 stays
        assert answer.status == 200
    with SSHPool.from_config(config) as pool:
        owner = pool.run(Target(HOST, ADDRESS), ["stat", "-c", "%U %a", tls_deploy.KEY_PATH])
    assert owner.ok and owner.stdout.split() == ["egov-web", "600"], owner
    probe = Probe("office-https", "http", 60, 5, options={"url": "https://{address}/"})
    result = http_probe(Check(probe, HOST, "ministry", "office", ADDRESS), str(root))
    assert result.success, result.message
    days = {s.name: s.value for s in result.samples}["tls_cert_days_left"]
    assert config.pki.tls_validity.days - 1 < days <= config.pki.tls_validity.days
