"""Scans of real lab hosts: fresh hosts fail the expected controls, a hand-made break shows up with its
evidence, expired waivers stop applying, OSCAL validates, an unreachable host is an error, never a pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.root, pytest.mark.lab]

HOST = "gd-school-1"
DROP_IN = "/etc/ssh/sshd_config.d/00-egov-compliance-test.conf"
CERTIFICATE_CONTROLS = ("ssh.host-certificate", "ssh.user-certificate-login")


def scan_json(site: Any, *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``egov scan --json ARGS``; return the exit code and the report."""
    done = site.egov("scan", "--json", *args)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def statuses(report: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    return {r["control_id"]: r for r in report["results"] if r["host"] == host}


def test_a_fresh_lab_host_fails_the_expected_controls_and_kernel_wide_ones_are_not_applicable(compliance_site) -> None:
    code, report = scan_json(compliance_site, "--limit", HOST)
    assert code == 0, report["scan"]
    results = statuses(report, HOST)
    # Debian's defaults: forwarding allowed, no default-drop firewall, no banner.
    for control in ("ssh.allow-tcp-forwarding", "firewall.input-policy-drop", "ssh.banner"):
        assert results[control]["status"] == "fail", results[control]
    for control in ("accounts.uid0-only-root", "accounts.no-empty-passwords", "ssh.permit-empty-passwords"):
        assert results[control]["status"] == "pass", results[control]
    kernel_wide = [r for r in results.values() if "shares the machine's kernel" in r["message"]]
    assert kernel_wide and {r["status"] for r in kernel_wide} == {"not_applicable"}
    assert report["catalog_version"] and report["scope"].startswith(f"hosts {HOST}")


def test_a_control_broken_by_hand_fails_at_the_next_scan_with_the_found_value(compliance_site) -> None:
    _code, before = scan_json(compliance_site, "--limit", HOST)
    assert statuses(before, HOST)["ssh.x11-forwarding"]["status"] == "pass"
    written = compliance_site.ssh(HOST, ["/usr/bin/tee", DROP_IN], input_text="X11Forwarding yes\n")
    assert written.exit_code == 0, written.tail
    try:
        _code, after = scan_json(compliance_site, "--limit", HOST)
        broken = statuses(after, HOST)["ssh.x11-forwarding"]
        assert broken["status"] == "fail" and "x11forwarding yes" in broken["found"]
        assert {"host": HOST, "control": "ssh.x11-forwarding"} in after["diff"]["new_failures"]
    finally:
        removed = compliance_site.ssh(HOST, ["/bin/rm", "-f", DROP_IN])
        assert removed.exit_code == 0, removed.tail
    _code, restored = scan_json(compliance_site, "--limit", HOST)
    assert statuses(restored, HOST)["ssh.x11-forwarding"]["status"] == "pass"


def test_an_expired_waiver_no_longer_applies_while_a_current_one_does(compliance_site) -> None:
    today = datetime.now(UTC).date()
    controls = Path(compliance_site.config.controls)
    controls.mkdir(parents=True, exist_ok=True)
    waivers = controls / "waivers.yml"
    waivers.write_text(
        "waivers:\n"
        f"  - {{control: ssh.allow-tcp-forwarding, hosts: [{HOST}], justification: Tunnel for the exam system,"
        f" approver: Officer Wang, expires: {today - timedelta(days=1)}}}\n"
        f"  - {{control: ssh.banner, sites: [school-gd-1], justification: Banner text awaits legal review,"
        f" approver: Officer Wang, expires: {today + timedelta(days=30)}}}\n",
        encoding="utf-8",
    )
    try:
        _code, report = scan_json(compliance_site, "--limit", HOST)
    finally:
        waivers.unlink()
    results = statuses(report, HOST)
    assert results["ssh.allow-tcp-forwarding"]["status"] == "fail"
    assert results["ssh.banner"]["status"] == "waived" and results["ssh.banner"]["original_status"] == "fail"
    assert [w["control"] for w in report["waivers"]["expired"]] == ["ssh.allow-tcp-forwarding"]
    overall = report["scores"]["overall"]
    assert overall["after_waivers"] > overall["before_waivers"]


def test_the_oscal_report_of_a_lab_scan_validates(compliance_site, tmp_path: Path) -> None:
    from tests.unit.compliance.test_oscal import oscal_validator

    assert compliance_site.egov("scan", "--site", "province-gd").returncode == 0
    out = tmp_path / "scan.oscal.json"
    done = compliance_site.egov("report", "compliance", "--format", "oscal", "-o", str(out))
    assert done.returncode == 0, done.stderr
    errors = list(oscal_validator().iter_errors(json.loads(out.read_text(encoding="utf-8"))))
    assert not errors, errors[:3]
    html = tmp_path / "scan.html"
    assert compliance_site.egov("report", "compliance", "--format", "html", "-o", str(html)).returncode == 0
    assert "<svg" in html.read_text(encoding="utf-8")


def test_an_unreachable_host_is_reported_as_error_never_pass(compliance_site) -> None:
    host = "gd-edu-1"
    cut = compliance_site.lab_egov("lab", "fault", host, "isolate")
    assert cut.returncode == 0, cut.stderr
    try:
        code, report = scan_json(compliance_site, "--limit", host)
    finally:
        healed = compliance_site.lab_egov("lab", "fault", host, "heal")
        assert healed.returncode == 0, healed.stderr
    assert code == 1 and report["scan"]["unreachable"] == [host]
    found = {r["status"] for r in statuses(report, host).values()}
    assert "pass" not in found and "error" in found


def test_after_harden_the_ssh_controls_pass(compliance_site) -> None:
    host = "dr-app-1"  # not the host the other tests expect fresh
    hardened = compliance_site.lab_egov("harden", "--limit", host, timeout=600)
    assert hardened.returncode == 0, f"harden failed: {hardened.stderr[-300:]}"
    _code, report = scan_json(compliance_site, "--limit", host)
    results = statuses(report, host)
    still = [
        c
        for c, r in results.items()
        if c.startswith("ssh.") and c not in CERTIFICATE_CONTROLS and r["status"] == "fail"
    ]
    assert not still, [(c, results[c]["found"]) for c in still]
    # Harden does not certify (provision does): on this site without a CA the certificate controls still fail.
    assert {results[c]["status"] for c in CERTIFICATE_CONTROLS} == {"fail"}


def test_after_certification_the_certificate_controls_pass_and_fail_again_without_it(compliance_site) -> None:
    from controlplane.automation import certify
    from controlplane.ssh import SSHPool

    host = "dr-app-1"
    made = compliance_site.egov("init")  # its master key, then the CA (this site had none)
    assert made.returncode == 0, made.stderr
    try:
        done = compliance_site.egov("provision", "--certify-only", "--limit", host, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        _code, report = scan_json(compliance_site, "--limit", host)
        results = statuses(report, host)
        assert {c: results[c]["status"] for c in CERTIFICATE_CONTROLS} == dict.fromkeys(CERTIFICATE_CONTROLS, "pass")
    finally:
        config = compliance_site.config
        target = [h for h in compliance_site.inventory().hosts if h.name == host]
        with SSHPool(config.ssh_key_file, config.ssh_known_hosts) as pool:
            outcomes = certify.uncertify_hosts(config, target, pool=pool)
        assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]
    _code, report = scan_json(compliance_site, "--limit", host)
    assert statuses(report, host)["ssh.host-certificate"]["status"] == "fail"
