"""Lab web services on HTTPS with a certificate of the control plane's CA, verified from the control plane.

A throwaway site of its own (own state folder, store and CA) reaches the
session's lab with the lab's management key and pinned host keys. On an
office host it delivers the certificate (controlplane.automation.tls_deploy,
what provision and the renewal job call), and the portal role's web server
(playbooks/roles/portal/files/egov_httpd.py) answers HTTPS with it: the one
of a provisioned host on 443, else a copy of it started by the test on 443.
Python's ssl verifies the chain against the site's root, and the HTTPS probe
reports the days left. The fixture puts back whatever /etc/egov/tls held and
stops what it started, so the host is left as it was found.
"""

from __future__ import annotations

import ssl
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from controlplane.automation import tls_deploy
from controlplane.ssh import SSHPool, Target

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.store import Store
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

REPO = Path(__file__).resolve().parents[3]
HOST = "mn-oa-1"  # an office host: a web role the firewall opens 443 for
PROGRAM = "/tmp/egov_httpd_tls_test.py"  # on the lab host, removed again
SCRATCH = "/tmp/egov-tls-root /tmp/egov_httpd_tls_test.log"
SECONDS = 30


@dataclass
class Site:
    config: Config
    store: Store
    pool: SSHPool
    host: Host

    @property
    def root(self) -> Path:
        return self.config.state_dir / "pki" / "root.pem"

    def run(self, *argv: str, stdin: str | None = None) -> str:
        done = self.pool.run(Target.from_host(self.host, self.config.ssh_user), list(argv), input_text=stdin)
        assert done.ok, (argv, done.stderr)
        return done.stdout


def _listening(site: Site, port: int) -> bool:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).close()"
    done = site.pool.run(Target.from_host(site.host, site.config.ssh_user), ["python3", "-c", probe])
    return done.ok


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from controlplane.inventory import load_inventory
    from tests.integration.automation.ca_site import make_ca_site

    folder = tmp_path_factory.mktemp("tls-site")
    config, store = make_ca_site(lab, folder)
    pool = SSHPool.from_config(config)
    found = Site(config, store, pool, load_inventory(config.inventory).host(HOST))
    # What the host holds now, to put back (a provisioned lab has the lab's own CA certificate there).
    saved = {path: found.pool.run(Target.from_host(found.host), ["cat", path]) for path in
             (tls_deploy.CERT_PATH, tls_deploy.KEY_PATH)}  # fmt: skip
    started = None
    if not _listening(found, 443):  # no provisioned HTTPS service: run the role's program as it would
        program = (REPO / "playbooks" / "roles" / "portal" / "files" / "egov_httpd.py").read_text()
        found.run("sh", "-c", f"cat > {PROGRAM}", stdin=program)
        started = found.run("sh", "-c", f"mkdir -p /tmp/egov-tls-root && setsid python3 {PROGRAM} --port 18080 "
                            "--root /tmp/egov-tls-root --name office --tls-port 443 >/tmp/egov_httpd_tls_test.log "
                            "2>&1 </dev/null & echo $!").strip()  # fmt: skip
    try:
        yield found
    finally:
        try:
            if started:
                found.run("sh", "-c", f"kill {int(started)}; rm -rf {PROGRAM} {SCRATCH}")
            for path, before in saved.items():
                if before.ok:
                    kind = "key" if path == tls_deploy.KEY_PATH else "cert"
                    tls_deploy._write(found.pool, found.host, config.ssh_user, path, kind, before.stdout.encode())
                else:
                    found.run("rm", "-f", path)
        finally:
            pool.close()
            store.close()


def _fetch(site: Site, url: str) -> bytes:
    """GET over HTTPS verified against the site's root only, retried while the server picks up the new pair."""
    context = ssl.create_default_context(cafile=str(site.root))
    deadline = time.monotonic() + SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as answer:  # noqa: S310 - https, lab address
                return answer.read()
        except (OSError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_the_office_host_answers_https_with_the_ca_certificate_and_the_probe_reports_days_left(site: Site) -> None:
    from controlplane.monitoring.probes.network import http_probe
    from controlplane.monitoring.spec import Check, Probe

    [result] = tls_deploy.deploy_service_certificates(site.config, site.store, site.pool, [site.host], requester="test")
    assert result.ok and result.action == "issued", result.message
    assert site.run("stat", "-c", "%a", tls_deploy.KEY_PATH).strip() == "600"
    body = _fetch(site, f"https://{site.host.address}/health")
    assert b'"status": "ok"' in body
    probe = Probe("office-https", "http", 10, 5, options={"url": "https://{address}/health"})
    check = Check(probe, site.host.name, site.host.site, site.host.role, site.host.address)
    verified = http_probe(check, str(site.root))
    assert verified.success, verified.message
    days = {s.name: s.value for s in verified.samples}["tls_cert_days_left"]
    assert site.config.pki.tls_validity.days - 1 < days <= site.config.pki.tls_validity.days
    untrusted = http_probe(check)  # the system's roots alone do not vouch for the control plane's CA
    assert not untrusted.success and "certificate verify failed" in untrusted.message
    [again] = tls_deploy.deploy_service_certificates(site.config, site.store, site.pool, [site.host], requester="test")
    assert again.action == "kept"  # a young certificate stays: renewal happens past pki.renew_at
