"""Every check type on recorded evidence, and the edge cases of each."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from controlplane.compliance.checks import CheckContext, run_check
from tests.unit.compliance.conftest import SCAN_TIME, recorded


def ctx(evidence: dict[str, Any], roles: tuple[str, ...] = (), store: dict[str, Any] | None = None) -> CheckContext:
    return CheckContext(evidence=evidence, roles=roles, store=store, now=SCAN_TIME)


def text(path: str, body: str) -> dict[str, Any]:
    return {"files": [{"path": path, "text": body, "truncated": False}], "error": None}


# --- sshd_effective ---------------------------------------------------------------


def test_sshd_option_from_effective_config_passes_and_shows_the_found_value() -> None:
    outcome = run_check(
        {"type": "sshd_effective", "key": "maxauthtries", "expect": {"max": 4}}, ctx(recorded("hardened_host"))
    )
    assert (outcome.status, outcome.found, outcome.expected) == ("pass", "maxauthtries 3", "<= 4")


def test_sshd_default_value_fails_on_a_fresh_host() -> None:
    outcome = run_check(
        {"type": "sshd_effective", "key": "maxauthtries", "expect": {"max": 4}}, ctx(recorded("fresh_host"))
    )
    assert (outcome.status, outcome.found) == ("fail", "maxauthtries 6")


def test_sshd_value_set_in_a_drop_in_file_counts_because_sshd_t_merges_drop_ins() -> None:
    # sshd -T prints the merged result: a drop-in in sshd_config.d setting
    # PasswordAuthentication no is simply what the evidence shows.
    evidence = recorded("fresh_host")
    evidence["sshd"]["config"]["passwordauthentication"] = ["no"]
    outcome = run_check(
        {"type": "sshd_effective", "key": "passwordauthentication", "expect": {"equals": "no"}}, ctx(evidence)
    )
    assert outcome.status == "pass"


def test_sshd_list_option_fails_when_one_weak_algorithm_is_offered() -> None:
    check = {
        "type": "sshd_effective",
        "key": "macs",
        "expect": {"all_in": ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256"]},
    }
    evidence = recorded("hardened_host")
    evidence["sshd"]["config"]["macs"] = ["hmac-sha2-256,hmac-sha1"]
    assert run_check(check, ctx(evidence)).status == "fail"


def test_sshd_any_of_several_keys_passes_when_allowgroups_alone_is_set() -> None:
    evidence = recorded("fresh_host")
    evidence["sshd"]["config"]["allowgroups"] = ["egov-admins"]
    check = {"type": "sshd_effective", "key": ["allowusers", "allowgroups"], "expect": {"non_empty": True}}
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "pass" and "allowgroups egov-admins" in outcome.found


def test_sshd_unset_option_fails_as_not_set() -> None:
    check = {"type": "sshd_effective", "key": ["allowusers", "allowgroups"], "expect": {"non_empty": True}}
    outcome = run_check(check, ctx(recorded("fresh_host")))
    assert outcome.status == "fail" and "(not set)" in outcome.found


def test_a_missing_sshd_binary_is_an_error_never_a_pass() -> None:
    evidence = recorded("hardened_host")
    evidence["sshd"] = {"ok": False, "error": "sshd not found in /usr/sbin:/usr/bin:/sbin:/bin"}
    outcome = run_check({"type": "sshd_effective", "key": "permitrootlogin", "expect": {"equals": "no"}}, ctx(evidence))
    assert outcome.status == "error" and "sshd not found" in outcome.message


def test_sshd_t_failing_on_a_broken_config_is_an_error_with_sshd_message() -> None:
    evidence = recorded("hardened_host")
    evidence["sshd"] = {
        "ok": False,
        "error": "sshd -T failed (exit 255): /etc/ssh/sshd_config line 3: Bad configuration option",
    }
    outcome = run_check({"type": "sshd_effective", "key": "permitrootlogin", "expect": {"equals": "no"}}, ctx(evidence))
    assert outcome.status == "error" and "Bad configuration option" in outcome.message


# --- sysctl -----------------------------------------------------------------------


def test_sysctl_needs_every_key_to_match() -> None:
    check = {
        "type": "sysctl",
        "keys": ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"],
        "expect": {"equals": 1},
    }
    assert run_check(check, ctx(recorded("hardened_host"))).status == "pass"
    evidence = recorded("hardened_host")
    evidence["sysctl"]["net.ipv4.conf.default.rp_filter"] = "2"
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "fail" and "net.ipv4.conf.default.rp_filter=2" in outcome.found


def test_a_sysctl_missing_from_the_kernel_is_an_error_by_default() -> None:
    outcome = run_check(
        {"type": "sysctl", "keys": ["kernel.yama.ptrace_scope"], "expect": {"min": 1}}, ctx(recorded("lab_host"))
    )
    assert outcome.status == "error" and "not present in this kernel" in outcome.message


def test_a_missing_ipv6_sysctl_can_be_declared_not_applicable() -> None:
    evidence = recorded("hardened_host")
    evidence["sysctl"]["net.ipv6.conf.all.accept_ra"] = None
    check = {
        "type": "sysctl",
        "keys": ["net.ipv6.conf.all.accept_ra"],
        "expect": {"equals": 0},
        "if_missing": "not_applicable",
    }
    assert run_check(check, ctx(evidence)).status == "not_applicable"


def test_a_check_whose_evidence_section_was_not_collected_is_an_error() -> None:
    evidence = recorded("hardened_host")
    del evidence["sysctl"]
    outcome = run_check({"type": "sysctl", "keys": ["net.ipv4.ip_forward"], "expect": {"equals": 0}}, ctx(evidence))
    assert outcome.status == "error" and "'sysctl'" in outcome.message


def test_a_section_the_collector_failed_on_is_an_error_with_its_reason() -> None:
    evidence = recorded("hardened_host")
    evidence["errors"] = {"packages": "FileNotFoundError: /var/lib/dpkg/status"}
    outcome = run_check({"type": "package", "name": "auditd", "state": "installed"}, ctx(evidence))
    assert outcome.status == "error" and "dpkg/status" in outcome.message


# --- file_mode --------------------------------------------------------------------


def test_file_mode_passes_a_stricter_mode_and_an_allowed_group() -> None:
    check = {
        "type": "file_mode",
        "path": "/etc/shadow",
        "max_mode": "0640",
        "owner": "root",
        "group": ["root", "shadow"],
    }
    outcome = run_check(check, ctx(recorded("fresh_host")))
    assert outcome.status == "pass" and outcome.found == "/etc/shadow 0640 root:shadow"


def test_file_mode_fails_a_wider_mode_and_shows_it() -> None:
    check = {"type": "file_mode", "path": "/etc/ssh/sshd_config", "max_mode": "0600", "owner": "root", "group": "root"}
    outcome = run_check(check, ctx(recorded("fresh_host")))
    assert (outcome.status, outcome.found) == ("fail", "/etc/ssh/sshd_config 0644 root:root")


def test_file_mode_on_a_glob_fails_when_one_host_key_is_too_open() -> None:
    evidence = recorded("hardened_host")
    evidence["files"]["/etc/ssh/ssh_host_*_key"]["matches"][0]["mode"] = "0640"
    check = {"type": "file_mode", "path": "/etc/ssh/ssh_host_*_key", "max_mode": "0600"}
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "fail" and outcome.found.count("ssh_host_") == 1


def test_a_missing_file_fails_unless_the_check_says_otherwise() -> None:
    evidence = recorded("fresh_host")
    assert run_check({"type": "file_mode", "path": "/usr/bin/restic"}, ctx(evidence)).status == "fail"
    check = {"type": "file_mode", "path": "/etc/crontab", "max_mode": "0600", "if_missing": "not_applicable"}
    assert run_check(check, ctx(evidence)).status == "not_applicable"


def test_a_file_the_collector_could_not_stat_is_an_error() -> None:
    evidence = recorded("fresh_host")
    evidence["files"]["/etc/shadow"] = {"matches": [], "error": "/etc/shadow: Permission denied"}
    assert run_check({"type": "file_mode", "path": "/etc/shadow", "max_mode": "0640"}, ctx(evidence)).status == "error"


# --- package and service -------------------------------------------------------------


def test_package_installed_and_absent_states() -> None:
    evidence = recorded("fresh_host")
    assert run_check({"type": "package", "name": "nftables", "state": "installed"}, ctx(evidence)).status == "pass"
    assert run_check({"type": "package", "name": "auditd", "state": "installed"}, ctx(evidence)).status == "fail"
    assert run_check({"type": "package", "name": "telnet", "state": "absent"}, ctx(evidence)).status == "pass"


def test_a_removed_package_with_config_files_left_counts_as_absent() -> None:
    evidence = recorded("fresh_host")
    evidence["packages"]["telnet"] = {"installed": False, "status": "deinstall ok config-files", "version": "0.17"}
    assert run_check({"type": "package", "name": "telnet", "state": "absent"}, ctx(evidence)).status == "pass"


def test_service_state_comes_from_systemd_when_the_host_has_it() -> None:
    evidence = recorded("hardened_host")
    check = {"type": "service", "name": "auditd", "state": "active", "enabled": True}
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "pass" and outcome.found.startswith("auditd: active, enabled")
    evidence["services"]["units"]["auditd"]["enabled"] = "disabled"
    assert run_check(check, ctx(evidence)).status == "fail"


def test_an_inactive_unit_that_is_not_even_installed_passes_the_inactive_state() -> None:
    check = {"type": "service", "name": "systemd-timesyncd", "state": "inactive"}
    assert run_check(check, ctx(recorded("hardened_host"))).status == "pass"


def test_without_systemd_a_service_is_judged_by_its_running_process() -> None:
    evidence = recorded("lab_host")
    assert (
        run_check(
            {"type": "service", "name": "rsyslog", "state": "active", "process": "rsyslogd"}, ctx(evidence)
        ).status
        == "pass"
    )
    outcome = run_check({"type": "service", "name": "auditd", "state": "active", "enabled": True}, ctx(evidence))
    assert outcome.status == "fail" and "no systemd" in outcome.found and "unknown without systemd" in outcome.message
    assert run_check({"type": "service", "name": "avahi-daemon", "state": "inactive"}, ctx(evidence)).status == "pass"


# --- listening, nft_policy --------------------------------------------------------


ALLOWED = {"default": [22], "portal": [80, 443], "database": [5432]}


def test_listening_ports_are_allowed_per_role_and_loopback_is_ignored() -> None:
    check = {"type": "listening", "allowed": ALLOWED}
    outcome = run_check(check, ctx(recorded("hardened_host"), roles=("portal",)))
    assert (outcome.status, outcome.found) == ("pass", "TCP 22, 80, 443")


def test_a_port_of_another_role_is_an_unexpected_listener() -> None:
    outcome = run_check({"type": "listening", "allowed": ALLOWED}, ctx(recorded("hardened_host"), roles=("database",)))
    assert outcome.status == "fail" and "0.0.0.0:80" in outcome.found and "0.0.0.0:443" in outcome.found


def test_rpcbind_on_a_fresh_host_is_an_unexpected_listener() -> None:
    outcome = run_check({"type": "listening", "allowed": ALLOWED}, ctx(recorded("fresh_host"), roles=("school",)))
    assert outcome.status == "fail" and outcome.found == "unexpected listeners: 0.0.0.0:111"


def test_loopback_listeners_count_when_the_check_says_so() -> None:
    check = {"type": "listening", "allowed": ALLOWED, "ignore_loopback": False}
    outcome = run_check(check, ctx(recorded("hardened_host"), roles=("portal",)))
    assert outcome.status == "fail" and "127.0.0.1:25" in outcome.found


def test_an_inet_input_chain_with_policy_drop_covers_ipv4_and_ipv6() -> None:
    outcome = run_check({"type": "nft_policy", "hook": "input", "policy": "drop"}, ctx(recorded("hardened_host")))
    assert outcome.status == "pass" and "inet egov/input policy drop" in outcome.found


def test_an_empty_ruleset_accepts_everything_and_fails() -> None:
    outcome = run_check({"type": "nft_policy", "hook": "input", "policy": "drop"}, ctx(recorded("fresh_host")))
    assert outcome.status == "fail" and "no input base chain" in outcome.found


def test_an_ipv4_only_drop_chain_leaves_ipv6_open_and_fails() -> None:
    evidence = recorded("hardened_host")
    chain = {"family": "ip", "table": "filter", "name": "INPUT", "hook": "input", "policy": "drop"}
    evidence["nft"]["ruleset"] = {"nftables": [{"chain": chain}]}
    assert run_check({"type": "nft_policy", "hook": "input", "policy": "drop"}, ctx(evidence)).status == "fail"
    evidence["nft"]["ruleset"]["nftables"].append({"chain": {**chain, "family": "ip6"}})
    assert run_check({"type": "nft_policy", "hook": "input", "policy": "drop"}, ctx(evidence)).status == "pass"


def test_without_nftables_installed_the_policy_check_fails_and_says_why() -> None:
    evidence = recorded("fresh_host")
    evidence["nft"] = {"ok": False, "installed": False, "error": "nft not found (nftables is not installed)"}
    outcome = run_check({"type": "nft_policy", "hook": "input", "policy": "drop"}, ctx(evidence))
    assert outcome.status == "fail" and "not installed" in outcome.found


def test_nft_refusing_to_list_the_ruleset_is_an_error() -> None:
    evidence = recorded("fresh_host")
    evidence["nft"] = {"ok": False, "installed": True, "error": "Operation not permitted"}
    assert run_check({"type": "nft_policy", "hook": "input", "policy": "drop"}, ctx(evidence)).status == "error"


# --- login_defs, pam, pwquality ------------------------------------------------------


def test_login_defs_ignores_the_commented_default_and_reads_the_set_value() -> None:
    outcome = run_check(
        {"type": "login_defs", "key": "PASS_MAX_DAYS", "expect": {"max": 90}}, ctx(recorded("hardened_host"))
    )
    assert (outcome.status, outcome.found) == ("pass", "PASS_MAX_DAYS 90")


def test_login_defs_key_that_is_only_commented_out_uses_the_declared_default() -> None:
    evidence = recorded("fresh_host")
    evidence["texts"]["/etc/login.defs"] = text("/etc/login.defs", "#PASS_MIN_DAYS 7\nUMASK 022\n")
    check = {"type": "login_defs", "key": "PASS_MIN_DAYS", "expect": {"min": 1}, "default": 0}
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "fail" and outcome.found == "PASS_MIN_DAYS 0 (not set: built-in default)"
    del check["default"]
    assert run_check(check, ctx(evidence)).found == "PASS_MIN_DAYS not set"


def test_faillock_deny_comes_from_faillock_conf_when_the_pam_line_has_no_option() -> None:
    check = {
        "type": "pam",
        "file": "/etc/pam.d/common-auth",
        "module": "pam_faillock.so",
        "option": "deny",
        "config_file": "/etc/security/faillock.conf",
        "expect": {"max": 5},
    }
    outcome = run_check(check, ctx(recorded("hardened_host")))
    assert (outcome.status, outcome.found) == ("pass", "deny=5 (/etc/security/faillock.conf)")


def test_a_pam_argument_overrides_faillock_conf() -> None:
    evidence = recorded("hardened_host")
    evidence["texts"]["/etc/pam.d/common-auth"] = text(
        "/etc/pam.d/common-auth", "auth  [default=die]  pam_faillock.so authfail  deny=10 unlock_time=60\n"
    )
    check = {
        "type": "pam",
        "file": "/etc/pam.d/common-auth",
        "module": "pam_faillock.so",
        "option": "deny",
        "config_file": "/etc/security/faillock.conf",
        "expect": {"max": 5},
    }
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "fail" and outcome.found == "deny=10 (/etc/pam.d/common-auth line 1)"


def test_a_pam_module_missing_from_the_stack_fails() -> None:
    check = {
        "type": "pam",
        "file": "/etc/pam.d/common-auth",
        "module": "pam_faillock.so",
        "option": "deny",
        "expect": {"max": 5},
    }
    outcome = run_check(check, ctx(recorded("fresh_host")))
    assert outcome.status == "fail" and outcome.found == "pam_faillock.so not used in /etc/pam.d/common-auth"


def test_a_pam_option_unset_everywhere_uses_the_module_default() -> None:
    evidence = recorded("hardened_host")
    evidence["texts"]["/etc/security/faillock.conf"] = {"files": [], "error": None}
    check = {
        "type": "pam",
        "file": "/etc/pam.d/common-auth",
        "module": "pam_faillock.so",
        "option": "unlock_time",
        "config_file": "/etc/security/faillock.conf",
        "expect": {"min": 900},
        "default": 600,
    }
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "fail" and outcome.found == "unlock_time=600 (module default)"


def test_pwquality_drop_in_overrides_the_main_file() -> None:
    outcome = run_check({"type": "pwquality", "key": "minlen", "expect": {"min": 14}}, ctx(recorded("hardened_host")))
    assert (outcome.status, outcome.found) == ("pass", "minlen=14 (/etc/security/pwquality.conf.d/50-egov.conf)")


def test_pwquality_pam_arguments_override_the_files() -> None:
    evidence = recorded("hardened_host")
    evidence["texts"]["/etc/pam.d/common-password"] = text(
        "/etc/pam.d/common-password", "password requisite pam_pwquality.so retry=3 minlen=8\n"
    )
    outcome = run_check({"type": "pwquality", "key": "minlen", "expect": {"min": 14}}, ctx(evidence))
    assert outcome.status == "fail" and outcome.found == "minlen=8 (/etc/pam.d/common-password line 1)"


def test_pwquality_without_the_pam_module_fails_whatever_the_files_say() -> None:
    outcome = run_check({"type": "pwquality", "key": "minlen", "expect": {"min": 14}}, ctx(recorded("fresh_host")))
    assert outcome.status == "fail" and "pam_pwquality.so not used" in outcome.found


# --- accounts ---------------------------------------------------------------------


def test_account_rules_pass_on_the_recorded_fresh_host() -> None:
    evidence = recorded("fresh_host")
    for rule in (
        "uid0_only_root",
        "no_empty_passwords",
        "no_legacy_plus",
        "shadowed_passwords",
        "no_duplicate_uids",
        "no_duplicate_names",
    ):
        assert run_check({"type": "accounts", "rule": rule}, ctx(evidence)).status == "pass", rule


def test_a_second_uid_0_account_fails_and_is_named() -> None:
    evidence = recorded("fresh_host")
    evidence["accounts"]["passwd"].append(
        {"name": "toor", "uid": 0, "gid": 0, "home": "/root", "shell": "/bin/sh", "password": "x"}
    )
    outcome = run_check({"type": "accounts", "rule": "uid0_only_root"}, ctx(evidence))
    assert outcome.status == "fail" and outcome.found.endswith("toor")
    assert run_check({"type": "accounts", "rule": "no_duplicate_uids"}, ctx(evidence)).status == "fail"


def test_an_empty_shadow_password_fails_and_the_evidence_holds_no_hash() -> None:
    evidence = recorded("fresh_host")
    evidence["accounts"]["shadow"]["games"] = "empty"
    outcome = run_check({"type": "accounts", "rule": "no_empty_passwords"}, ctx(evidence))
    assert outcome.status == "fail" and "games" in outcome.found
    assert set(recorded("fresh_host")["accounts"]["shadow"].values()) <= {"empty", "locked", "no_login", "hashed"}


def test_unreadable_shadow_is_an_error_for_the_empty_password_rule() -> None:
    evidence = recorded("fresh_host")
    evidence["accounts"]["shadow_error"] = "/etc/shadow: Permission denied"
    assert run_check({"type": "accounts", "rule": "no_empty_passwords"}, ctx(evidence)).status == "error"


def test_legacy_plus_entries_fail() -> None:
    evidence = recorded("fresh_host")
    evidence["accounts"]["legacy_plus"] = ["/etc/passwd"]
    assert run_check({"type": "accounts", "rule": "no_legacy_plus"}, ctx(evidence)).status == "fail"


# --- kernel_module, mount_option --------------------------------------------------


def test_a_module_with_an_install_false_rule_is_disabled() -> None:
    outcome = run_check({"type": "kernel_module", "name": "usb-storage"}, ctx(recorded("hardened_host")))
    assert outcome.status == "pass" and "/bin/false" in outcome.found


def test_a_loaded_module_fails() -> None:
    evidence = recorded("hardened_host")
    evidence["modules"]["udf"]["loaded"] = True
    assert run_check({"type": "kernel_module", "name": "udf"}, ctx(evidence)).found == "udf is loaded"


def test_a_module_modprobe_would_insert_is_loadable_and_fails() -> None:
    evidence = recorded("fresh_host")
    evidence["modules"]["cramfs"] = {
        "loaded": False,
        "blacklisted": False,
        "install_rule": None,
        "modprobe": {"exit_code": 0, "stdout": "insmod /lib/modules/6.1.0/cramfs.ko", "stderr": ""},
    }
    outcome = run_check({"type": "kernel_module", "name": "cramfs"}, ctx(evidence))
    assert outcome.status == "fail" and "insmod" in outcome.found


def test_a_module_the_kernel_does_not_have_passes() -> None:
    evidence = recorded("fresh_host")
    evidence["modules"]["hfs"] = {
        "loaded": False,
        "blacklisted": False,
        "install_rule": None,
        "modprobe": {"exit_code": 1, "stdout": "", "stderr": "modprobe: FATAL: Module hfs not found"},
    }
    assert run_check({"type": "kernel_module", "name": "hfs"}, ctx(evidence)).status == "pass"


def test_tmp_mount_options_pass_when_all_are_set_and_fail_naming_the_missing_one() -> None:
    check = {"type": "mount_option", "mountpoint": "/tmp", "options": ["nodev", "nosuid", "noexec"]}
    assert run_check(check, ctx(recorded("hardened_host"))).status == "pass"
    evidence = recorded("hardened_host")
    evidence["mounts"]["mounts"][-2]["options"] = ["rw", "nodev", "nosuid"]
    outcome = run_check(check, ctx(evidence))
    assert outcome.status == "fail" and outcome.message == "missing noexec"


def test_tmp_that_is_not_a_separate_mount_fails() -> None:
    check = {"type": "mount_option", "mountpoint": "/tmp", "options": ["nodev"]}
    assert run_check(check, ctx(recorded("fresh_host"))).found == "/tmp is not a separate mount"


# --- file_contains, command, store, combinators -----------------------------------


def test_file_contains_finds_an_audit_rule_in_a_rules_d_glob() -> None:
    check = {"type": "file_contains", "path": "/etc/audit/rules.d/*.rules", "pattern": r"^\s*-w\s+/etc/sudoers\s"}
    outcome = run_check(check, ctx(recorded("hardened_host")))
    assert outcome.status == "pass" and outcome.found.startswith("/etc/audit/rules.d/50-egov.rules: -w /etc/sudoers")


def test_file_contains_can_require_absence_and_handles_a_missing_file() -> None:
    evidence = recorded("hardened_host")
    absent = {
        "type": "file_contains",
        "path": "/etc/audit/auditd.conf",
        "pattern": "^max_log_file_action = rotate",
        "present": False,
    }
    assert run_check(absent, ctx(evidence)).status == "pass"
    assert (
        run_check(
            {"type": "file_contains", "path": "/etc/audit/rules.d/*.rules", "pattern": "x"}, ctx(recorded("fresh_host"))
        ).status
        == "fail"
    )


def test_command_check_uses_exit_code_and_output() -> None:
    evidence = recorded("fresh_host")
    argv = ["/usr/bin/id", "-u"]
    evidence["commands"] = {json.dumps(argv): {"exit_code": 0, "stdout": "0\n", "stderr": ""}}
    assert run_check({"type": "command", "argv": argv, "stdout": {"equals": 0}}, ctx(evidence)).status == "pass"
    assert run_check({"type": "command", "argv": argv, "exit_code": 1}, ctx(evidence)).status == "fail"
    assert run_check({"type": "command", "argv": ["/bin/false"]}, ctx(evidence)).status == "error"


def test_store_check_reads_the_last_backup_time_from_control_plane_data() -> None:
    check = {"type": "store", "fact": "backup.last_success", "max_age_seconds": 93600}
    recent = (SCAN_TIME - timedelta(hours=3)).isoformat()
    outcome = run_check(check, ctx(recorded("fresh_host"), store={"backup.last_success": recent}))
    assert (outcome.status, outcome.found) == ("pass", "backup.last_success 3.0 h ago")
    old = (SCAN_TIME - timedelta(days=3)).timestamp()
    assert run_check(check, ctx(recorded("fresh_host"), store={"backup.last_success": old})).status == "fail"


def test_store_check_without_any_recorded_backup_fails_and_without_data_is_an_error() -> None:
    check = {"type": "store", "fact": "backup.last_success", "max_age_seconds": 93600}
    assert run_check(check, ctx(recorded("fresh_host"), store={})).found == "backup.last_success: none recorded"
    assert run_check(check, ctx(recorded("fresh_host"), store=None)).status == "error"


def test_any_of_passes_when_one_alternative_passes() -> None:
    check = {
        "type": "any_of",
        "checks": [
            {"type": "service", "name": "chrony", "state": "active"},
            {"type": "service", "name": "systemd-timesyncd", "state": "active"},
        ],
    }
    assert run_check(check, ctx(recorded("hardened_host"))).status == "pass"
    assert run_check(check, ctx(recorded("fresh_host"))).status == "fail"


def test_all_of_fails_when_one_part_fails_even_if_another_is_an_error() -> None:
    evidence = recorded("fresh_host")
    check = {
        "type": "all_of",
        "checks": [
            {"type": "package", "name": "auditd", "state": "installed"},
            {"type": "sysctl", "keys": ["no.such.key"], "expect": {"equals": 1}},
        ],
    }
    evidence["sysctl"]["no.such.key"] = None
    assert run_check(check, ctx(evidence)).status == "fail"
    evidence["packages"]["auditd"]["installed"] = True
    assert run_check(check, ctx(evidence)).status == "error"
