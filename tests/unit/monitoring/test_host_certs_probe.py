"""The host_certificates probe: days left per certified host, the alert rule that reads it."""

from __future__ import annotations

import datetime as dt

from controlplane.inventory import load_inventory
from controlplane.monitoring.probes.host_certs import METRIC, host_certificates_probe
from controlplane.monitoring.spec import Check, Probe
from controlplane.monitoring.spec_loader import load_monitoring
from tests.conftest import REPO
from tests.unit.automation.test_certify import FakePool


def test_each_certified_host_gets_its_days_left_and_an_expired_one_goes_negative(config, store) -> None:
    from controlplane.automation.certify import certify_hosts
    from controlplane.pki.authority import init_authority
    from controlplane.pki.revocation import revoke

    init_authority(config, store, requester="t")
    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    hosts = [inventory.host("gd-school-1"), inventory.host("mn-portal-1"), inventory.host("mn-db-1")]
    outcomes = certify_hosts(config, store, hosts, requester="t", pool=FakePool(), inventory=inventory,  # type: ignore[arg-type]
                             validity=dt.timedelta(days=10))  # fmt: skip
    revoke(config, store, serial=outcomes[2].serial, reason="test", requester="t")
    check = Check(
        Probe("host-certificates", "host_certificates", 300, 10), "controlplane", "controlplane", "controlplane"
    )
    now = dt.datetime.now(dt.UTC)
    result = host_certificates_probe(check, store, now=now + dt.timedelta(days=11))
    assert result.success
    left = {sample.labels["cert_host"]: sample.value for sample in result.samples if sample.name == METRIC}
    assert set(left) == {"gd-school-1", "mn-portal-1"}  # a revoked certificate is not counted
    assert all(-1.1 < days < -0.9 for days in left.values())


def test_the_shipped_rules_alert_per_host_below_two_days() -> None:
    spec = load_monitoring(REPO / "monitoring", ("oncall", "oncall-lead"))
    [rule] = [rule for rule in spec.rules if rule.alert == "HostCertificateExpiring"]
    assert (rule.metric, rule.op, rule.value) == (METRIC, "<", 2)
    assert "{cert_host}" in rule.annotations["summary"]
