"""The evaluator over whole hosts: hardened, fresh, lab, unreachable."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.evaluate import HostContext, evaluate_host, shared_kernel
from tests.unit.compliance.conftest import PKI_FACTS, SCAN_TIME, recorded

# network.yml places the portal in the DMZ, and last night's verify of its paths was clean (issue 16).
NETWORK_FACTS = {
    "network.zoned": True,
    "network.flows": ["management-ssh", "public-web"],
    "network.verify": {"id": 3, "finished_at": (SCAN_TIME - timedelta(hours=8)).isoformat(), "paths": 30,
                       "violations": [], "breakages": []},
}  # fmt: skip
PORTAL = HostContext(
    "mn-portal-1",
    "ministry",
    ("portal",),
    {"backup.has_policy": True, "backup.last_success": SCAN_TIME.timestamp() - 3600, **PKI_FACTS, **NETWORK_FACTS},
)
SCHOOL = HostContext("gd-school-1", "school-gd-1", ("school",), {"backup.has_policy": False})


def statuses(results) -> dict[str, str]:
    return {result.control_id: result.status for result in results}


def for_portals(catalog: Catalog) -> set[str]:
    """The controls a portal is assessed against (the gateway controls of issue 16 are for gateways only)."""
    return {c.id for c in catalog if "portal" in c.applies.get("roles", ["portal"])}


def test_a_hardened_host_passes_every_shipped_control(catalog: Catalog) -> None:
    results = evaluate_host(catalog, recorded("hardened_host"), PORTAL, SCAN_TIME)
    assert len(results) == len(catalog)
    assert {r.control_id: r.found for r in results if r.status != "pass" and r.control_id in for_portals(catalog)} == {}
    assert {r.status for r in results if r.control_id not in for_portals(catalog)} == {"not_applicable"}


def test_a_fresh_host_fails_the_controls_harden_fixes(catalog: Catalog) -> None:
    result = statuses(evaluate_host(catalog, recorded("fresh_host"), PORTAL, SCAN_TIME))
    for control_id in (
        "ssh.password-authentication",
        "ssh.max-auth-tries",
        "ssh.macs",
        "net.send-redirects",
        "password.max-days",
        "lockout.deny",
        "firewall.input-policy-drop",
        "firewall.listening-ports",
        "audit.auditd-installed",
        "mount.tmp-noexec",
        "ssh.config-permissions",
        "backup.agent-present",
    ):
        assert result[control_id] == "fail", control_id
    for control_id in (
        "accounts.uid0-only-root",
        "files.shadow",
        "ssh.permit-empty-passwords",
        "services.telnet-server",
    ):
        assert result[control_id] == "pass", control_id


def test_every_result_carries_the_fix_and_the_found_and_expected_values(catalog: Catalog) -> None:
    for result in evaluate_host(catalog, recorded("fresh_host"), PORTAL, SCAN_TIME):
        assert result.remediation["role"] and result.remediation["tag"]
        if result.status in ("pass", "fail"):
            assert result.expected, result.control_id
            assert result.found, result.control_id


def test_a_lab_host_reports_kernel_wide_controls_as_not_applicable_with_the_reason(catalog: Catalog) -> None:
    results = evaluate_host(catalog, recorded("lab_host"), SCHOOL, SCAN_TIME)
    by_id = {r.control_id: r for r in results}
    for control_id in (
        "kernel.aslr",
        "kernel.kptr-restrict",
        "module.usb-storage",
        "mount.tmp-noexec",
        "audit.auditd-active",
    ):
        assert by_id[control_id].status == "not_applicable", control_id
        assert "shares the machine's kernel" in by_id[control_id].message
    # net.* sysctls belong to the host's own network namespace: they still count
    assert by_id["net.rp-filter"].status == "pass"
    assert by_id["firewall.input-policy-drop"].status == "pass"
    assert Counter(r.status for r in results)["fail"] == 0


def test_a_lab_host_never_passes_a_kernel_wide_control_it_cannot_set(catalog: Catalog) -> None:
    results = evaluate_host(catalog, recorded("lab_host"), SCHOOL, SCAN_TIME)
    kernel_wide = [c.id for c in catalog if "kernel_wide" in c.applies.get("requires", [])]
    assert kernel_wide
    assert {r.status for r in results if r.control_id in kernel_wide} == {"not_applicable"}


# The controls whose fix is a package harden installs with apt (harden_auth, harden_audit, harden_updates).
PACKAGE_CONTROLS = (
    "audit.auditd-installed",
    "logging.rsyslog-installed",
    "updates.unattended-upgrades-installed",
    "password.pwquality-enabled",
    "password.minlen",
    "password.minclass",
)


def test_a_lab_host_reports_the_packages_it_cannot_install_as_not_applicable_with_the_reason(catalog: Catalog) -> None:
    evidence = recorded("lab_host")
    # A lab host on a machine without auditd, rsyslog, unattended-upgrades and libpam-pwquality.
    fresh = recorded("fresh_host")
    for name in ("auditd", "rsyslog", "unattended-upgrades", "libpam-pwquality"):
        evidence["packages"][name] = {"installed": False, "status": "not-installed", "version": None}
    evidence["texts"]["/etc/pam.d/common-password"] = fresh["texts"]["/etc/pam.d/common-password"]
    by_id = {r.control_id: r for r in evaluate_host(catalog, evidence, SCHOOL, SCAN_TIME)}
    for control_id in PACKAGE_CONTROLS:
        assert by_id[control_id].status == "not_applicable", control_id
        assert "installs no package" in by_id[control_id].message, control_id
    # On a server the same controls are assessed: a fresh one fails them.
    server = statuses(evaluate_host(catalog, recorded("fresh_host"), PORTAL, SCAN_TIME))
    assert {server[control_id] for control_id in PACKAGE_CONTROLS} == {"fail"}


def test_a_read_only_proc_sys_kernel_marks_a_shared_kernel_even_without_the_lab_marker() -> None:
    assert shared_kernel({"lab": False, "euid": 0, "kernel_writable": False})
    assert not shared_kernel({"lab": False, "euid": 0, "kernel_writable": True})
    assert not shared_kernel({"lab": False, "euid": 1000, "kernel_writable": False})
    assert shared_kernel({"lab": True, "euid": 0, "kernel_writable": True})


def test_an_unreachable_host_is_error_for_every_applicable_control_never_pass(catalog: Catalog) -> None:
    evidence = {"collector_version": None, "unreachable": "mn-db-1 (10.198.0.14:22): connection timed out after 5 s"}
    results = [r for r in evaluate_host(catalog, evidence, PORTAL, SCAN_TIME) if r.control_id in for_portals(catalog)]
    assert {r.status for r in results} == {"error"}
    assert all("timed out" in r.message for r in results)


def test_no_evidence_at_all_is_error_too(catalog: Catalog) -> None:
    results = evaluate_host(catalog, None, PORTAL, SCAN_TIME)
    assert {r.status for r in results if r.control_id in for_portals(catalog)} == {"error"}


def test_role_limited_controls_are_not_applicable_to_other_roles(catalog: Catalog) -> None:
    from dataclasses import replace

    control = replace(catalog.get("services.cups"), applies={"roles": ["database"]})
    (result,) = evaluate_host([control], recorded("fresh_host"), PORTAL, SCAN_TIME)
    assert result.status == "not_applicable" and result.message == "applies to roles database only"
    (unreachable,) = evaluate_host([control], None, PORTAL, SCAN_TIME)
    assert unreachable.status == "not_applicable"


def test_no_ipv4_forwarding_is_not_asked_of_a_gateway_whose_job_is_forwarding(catalog: Catalog) -> None:
    gateway = HostContext("gd-gw-1", "province-gd", ("gateway",), {})
    (on_gateway,) = evaluate_host([catalog.get("net.ip-forward")], recorded("fresh_host"), gateway, SCAN_TIME)
    assert on_gateway.status == "not_applicable" and on_gateway.message == "not for role gateway"
    (on_portal,) = evaluate_host([catalog.get("net.ip-forward")], recorded("fresh_host"), PORTAL, SCAN_TIME)
    assert on_portal.status in ("pass", "fail")


def test_backup_controls_need_control_plane_data_and_apply_only_with_a_backup_policy(catalog: Catalog) -> None:
    controls = [catalog.get("backup.recent-success")]
    no_data = HostContext("mn-db-1", "ministry", ("database",), None)
    assert evaluate_host(controls, recorded("hardened_host"), no_data, SCAN_TIME)[0].status == "error"
    assert evaluate_host(controls, recorded("hardened_host"), SCHOOL, SCAN_TIME)[0].status == "not_applicable"
    stale = HostContext(
        "mn-db-1",
        "ministry",
        ("database",),
        {"backup.has_policy": True, "backup.last_success": SCAN_TIME.timestamp() - 5 * 86400},
    )
    (result,) = evaluate_host(controls, recorded("hardened_host"), stale, SCAN_TIME)
    assert result.status == "fail" and result.found == "backup.last_success 120.0 h ago"


def test_results_serialise_to_plain_json_data(catalog: Catalog) -> None:
    import json

    results = evaluate_host(catalog, recorded("fresh_host"), PORTAL, SCAN_TIME)
    data = json.loads(json.dumps([r.to_dict() for r in results]))
    assert data[0].keys() >= {"control_id", "host", "site", "severity", "status", "found", "expected", "remediation"}


def test_every_requirement_the_schema_allows_has_a_reason_in_the_evaluator() -> None:
    from controlplane.compliance.evaluate import REQUIREMENTS
    from controlplane.compliance.schema import REQUIREMENTS as ALLOWED

    assert set(ALLOWED) == set(REQUIREMENTS)
