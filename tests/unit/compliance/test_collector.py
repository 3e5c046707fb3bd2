"""The collection plan (one request, one argv per host) and the collector script run for real, locally."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controlplane.compliance.catalog import Catalog, Control
from controlplane.compliance.checks import CheckContext, run_check
from controlplane.compliance.collector import (
    build_request,
    collect,
    collector_argv,
    collector_script,
    failed_evidence,
    parse_evidence,
)
from controlplane.errors import EgovError, UnreachableError
from controlplane.ssh import RemoteResult, Target, remote_command


def control(check: dict[str, Any], control_id: str = "t.one") -> Control:
    return Control(control_id, "t", "测试", "low", "because", check, {"role": "r", "tag": "t"}, {})


def run_collector(request: dict[str, Any]) -> dict[str, Any]:
    """Run the collector script as a real local process, the way a host runs it."""
    argv = [sys.executable, "-c", collector_script()]
    proc = subprocess.run(argv, input=json.dumps(request), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return parse_evidence(proc.stdout)


def test_one_request_gathers_every_item_the_controls_need_sorted_and_deduplicated() -> None:
    controls = [
        control(
            {"type": "sysctl", "keys": ["net.ipv4.ip_forward", "kernel.randomize_va_space"], "expect": {"equals": 0}}
        ),
        control({"type": "sysctl", "keys": ["net.ipv4.ip_forward"], "expect": {"equals": 0}}),
        control({"type": "sshd_effective", "key": "maxauthtries", "expect": {"max": 4}}),
        control(
            {
                "type": "any_of",
                "checks": [
                    {"type": "package", "name": "chrony", "state": "installed"},
                    {"type": "file_mode", "path": "/usr/bin/restic"},
                ],
            }
        ),
        control(
            {
                "type": "pam",
                "file": "/etc/pam.d/common-auth",
                "module": "pam_faillock.so",
                "option": "deny",
                "config_file": "/etc/security/faillock.conf",
                "expect": {"max": 5},
            }
        ),
        control({"type": "command", "argv": ["/usr/bin/id", "-u"]}),
        control({"type": "store", "fact": "backup.last_success", "max_age_seconds": 60}),
    ]
    assert build_request(controls) == {
        "sshd": True,
        "sysctl": ["kernel.randomize_va_space", "net.ipv4.ip_forward"],
        "files": ["/usr/bin/restic"],
        "texts": ["/etc/pam.d/common-auth", "/etc/security/faillock.conf"],
        "packages": ["chrony"],
        "commands": [["/usr/bin/id", "-u"]],
    }


def test_the_full_catalog_needs_exactly_one_remote_command(catalog: Catalog) -> None:
    argv = collector_argv()
    assert argv[:2] == ["/usr/bin/python3", "-c"] and argv[2] == collector_script()
    assert len(argv) == 3
    # the request travels on stdin: nothing from the catalog or a host is in the command line
    assert "net.ipv4.ip_forward" not in remote_command(argv)


def test_the_collector_script_uses_only_the_standard_library_and_never_a_shell() -> None:
    source = collector_script()
    imports = {line.split()[1] for line in source.splitlines() if line.strip().startswith("import ")}
    assert imports <= {
        "fnmatch",
        "glob",
        "json",
        "os",
        "platform",
        "re",
        "shutil",
        "socket",
        "subprocess",
        "sys",
        "time",
        "grp",
        "pwd",
        "stat",
        "base64",  # issue 15: the TLS section fetches a served certificate (stdlib ssl) and sends its DER
        "ssl",
    }
    assert "shell=True" not in source and "os.system" not in source and "os.popen" not in source


def test_the_collector_reads_sysctls_from_proc_sys_and_reports_missing_ones_as_none() -> None:
    evidence = run_collector({"sysctl": ["net.ipv4.ip_forward", "no.such.parameter"]})
    expected = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    assert evidence["sysctl"] == {"net.ipv4.ip_forward": expected, "no.such.parameter": None}
    assert evidence["host"]["python"] and isinstance(evidence["host"]["systemd"], bool)


def test_the_collector_stats_files_and_globs_and_reports_missing_files_as_no_match(tmp_path: Path) -> None:
    for name, mode in (("key_a", 0o600), ("key_b", 0o640)):
        (tmp_path / name).write_text("x")
        os.chmod(tmp_path / name, mode)
    evidence = run_collector({"files": [str(tmp_path / "key_*"), str(tmp_path / "missing")]})
    matches = evidence["files"][str(tmp_path / "key_*")]["matches"]
    assert [(Path(m["path"]).name, m["mode"], m["type"]) for m in matches] == [
        ("key_a", "0600", "file"),
        ("key_b", "0640", "file"),
    ]
    assert matches[0]["uid"] == os.getuid()
    assert evidence["files"][str(tmp_path / "missing")] == {"matches": [], "error": None}


def test_the_collector_returns_file_texts_for_regex_and_config_checks(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("deny = 4\n")
    (tmp_path / "b.conf").write_text("unlock_time = 900\n")
    evidence = run_collector({"texts": [str(tmp_path / "*.conf"), str(tmp_path / "none.conf")]})
    files = evidence["texts"][str(tmp_path / "*.conf")]["files"]
    assert [(Path(f["path"]).name, f["text"]) for f in files] == [
        ("a.conf", "deny = 4\n"),
        ("b.conf", "unlock_time = 900\n"),
    ]
    assert evidence["texts"][str(tmp_path / "none.conf")]["files"] == []


def test_the_collector_sees_a_listening_socket_in_this_network_namespace() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        evidence = run_collector({"listening": True})
    assert {"proto": "tcp", "address": "127.0.0.1", "port": port} in evidence["listening"]["tcp"]


def test_the_collector_reports_account_kinds_and_never_a_password_hash() -> None:
    evidence = run_collector({"accounts": True})
    names = {account["name"]: account for account in evidence["accounts"]["passwd"]}
    assert names["root"]["uid"] == 0
    if evidence["accounts"]["shadow_error"] is None:
        assert set(evidence["accounts"]["shadow"].values()) <= {"empty", "locked", "no_login", "hashed"}
    assert "$6$" not in json.dumps(evidence) and "$y$" not in json.dumps(evidence)


def test_the_collector_refuses_to_send_the_content_of_secret_files() -> None:
    evidence = run_collector({"texts": ["/etc/shadow", "/etc/ssh/ssh_host_*_key"]})
    for pattern in ("/etc/shadow", "/etc/ssh/ssh_host_*_key"):
        entry = evidence["texts"][pattern]
        assert entry["files"] == []
        if Path(pattern.replace("*", "ed25519")).exists():
            assert "refused, secret file" in entry["error"]


def test_password_hashes_in_texts_and_command_output_are_masked(tmp_path: Path) -> None:
    leaked = "admin:$6$abcdefgh$0123456789abcdefghijABCDEFGHIJ./:19000:0:99999:7:::\n"
    (tmp_path / "copy-of-shadow").write_text(leaked)
    evidence = run_collector(
        {"texts": [str(tmp_path / "copy-of-shadow")], "commands": [["/bin/cat", str(tmp_path / "copy-of-shadow")]]}
    )
    text = evidence["texts"][str(tmp_path / "copy-of-shadow")]["files"][0]["text"]
    output = evidence["commands"][json.dumps(["/bin/cat", str(tmp_path / "copy-of-shadow")])]["stdout"]
    for sent in (text, output):
        assert sent.startswith("admin:[password hash redacted]:19000") and "$6$" not in sent


def test_the_collector_reads_package_states_from_the_dpkg_database() -> None:
    if not Path("/var/lib/dpkg/status").exists():
        pytest.skip("not a Debian machine")
    evidence = run_collector({"packages": ["dpkg", "no-such-package-egov"]})
    assert evidence["packages"]["dpkg"]["installed"] is True
    assert evidence["packages"]["no-such-package-egov"] == {
        "installed": False,
        "status": "not-installed",
        "version": None,
    }


def test_the_collector_lists_mounts_and_module_and_service_states() -> None:
    evidence = run_collector({"mounts": True, "modules": ["cramfs"], "services": ["cron"]})
    assert any(m["mountpoint"] == "/proc" and m["fstype"] == "proc" for m in evidence["mounts"]["mounts"])
    assert set(evidence["modules"]["cramfs"]) == {"loaded", "blacklisted", "install_rule", "modprobe"}
    assert evidence["services"]["manager"] in ("systemd", "none") and evidence["services"]["processes"]


def test_the_collector_gives_sshd_t_output_or_says_why_not() -> None:
    evidence = run_collector({"sshd": True})
    sshd = evidence["sshd"]
    assert (sshd["ok"] and "permitrootlogin" in sshd["config"]) or (not sshd["ok"] and sshd["error"])


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists(), reason="sshd -T needs root and sshd")
def test_a_setting_in_an_sshd_drop_in_file_wins_because_sshd_t_merges_drop_ins(tmp_path: Path) -> None:
    # sshd keeps the first value it reads: an Include at the top of sshd_config
    # lets a drop-in override the main file, and sshd -T prints the result.
    (tmp_path / "sshd_config.d").mkdir()
    (tmp_path / "sshd_config.d" / "50-egov.conf").write_text("PasswordAuthentication no\nMaxAuthTries 3\n")
    (tmp_path / "sshd_config").write_text(
        f"Include {tmp_path}/sshd_config.d/*.conf\nPasswordAuthentication yes\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
    )
    evidence = run_collector({"sshd": {"config": str(tmp_path / "sshd_config")}})
    assert evidence["sshd"]["ok"], evidence["sshd"]
    check = {"type": "sshd_effective", "key": "passwordauthentication", "expect": {"equals": "no"}}
    assert run_check(check, CheckContext(evidence=evidence)).status == "pass"
    assert evidence["sshd"]["config"]["maxauthtries"] == ["3"]


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists(), reason="sshd -T needs root and sshd")
def test_sshd_evidence_is_collected_on_a_machine_where_sshd_never_started(tmp_path: Path) -> None:
    # /run/sshd exists only once an sshd has started since boot; an empty tmpfs
    # over /run in a private mount namespace is exactly such a machine.
    (tmp_path / "sshd_config").write_text("PasswordAuthentication no\nHostKey /etc/ssh/ssh_host_ed25519_key\n")
    (tmp_path / "request.json").write_text(json.dumps({"sshd": {"config": str(tmp_path / "sshd_config")}}))
    (tmp_path / "collector.py").write_text(collector_script())
    inner = (
        f"mount -t tmpfs tmpfs /run && test ! -e /run/sshd && "
        f"{sys.executable} {tmp_path}/collector.py < {tmp_path}/request.json && stat -c %a /run/sshd >&2"
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    evidence = parse_evidence(proc.stdout)
    assert evidence["sshd"]["ok"], evidence["sshd"]
    assert evidence["sshd"]["config"]["passwordauthentication"] == ["no"]
    assert proc.stderr.strip() == "755"


def test_a_broken_sshd_config_is_reported_with_sshd_message(tmp_path: Path) -> None:
    (tmp_path / "sshd_config").write_text("NoSuchOption yes\n")
    evidence = run_collector({"sshd": {"config": str(tmp_path / "sshd_config")}})
    assert evidence["sshd"]["ok"] is False and evidence["sshd"]["error"]


def test_the_collector_runs_command_checks_as_argv_and_refuses_relative_programs() -> None:
    evidence = run_collector({"commands": [["/bin/echo", "a; rm -rf /", "$(id)"], ["echo", "x"]]})
    ran = evidence["commands"][json.dumps(["/bin/echo", "a; rm -rf /", "$(id)"])]
    assert (ran["exit_code"], ran["stdout"]) == (0, "a; rm -rf / $(id)\n")
    assert evidence["commands"][json.dumps(["echo", "x"])]["stderr"].startswith("refused")


def test_the_collector_refuses_a_request_that_is_not_a_json_object() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", collector_script()], input="[1]", capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    with pytest.raises(EgovError, match="refused the request"):
        parse_evidence(proc.stdout)


def test_the_collector_gathers_the_whole_catalog_in_one_quick_pass(catalog: Catalog) -> None:
    evidence = run_collector(build_request(catalog))
    assert evidence["errors"] == {}
    assert evidence["duration"] < 5


class LocalPool:
    """An SSHPool stand-in that runs the argv locally (or fails like an unreachable host)."""

    def __init__(self, unreachable: bool = False) -> None:
        self.unreachable = unreachable
        self.calls: list[list[str]] = []

    def run(self, target: Target, argv: list[str], *, timeout: float, input_text: str) -> RemoteResult:
        self.calls.append(list(argv))
        if self.unreachable:
            raise UnreachableError(f"{target.name} ({target.address}:22): connection timed out after 5 s")
        local = [sys.executable, *argv[1:]]
        proc = subprocess.run(local, input=input_text, capture_output=True, text=True, timeout=timeout, check=False)
        return RemoteResult(target.name, list(argv), proc.returncode, proc.stdout, proc.stderr, 0.0)


def test_collect_makes_one_call_per_host_and_returns_the_evidence() -> None:
    pool = LocalPool()
    evidence = collect(pool, Target("mn-db-1", "10.198.0.14"), {"sysctl": ["net.ipv4.ip_forward"], "accounts": True})
    assert len(pool.calls) == 1
    assert evidence["collector_version"] == 1 and "accounts" in evidence


def test_collect_turns_an_unreachable_host_into_failed_evidence_instead_of_raising() -> None:
    evidence = collect(LocalPool(unreachable=True), Target("mn-db-1", "10.198.0.14"), {"sshd": True})
    assert evidence == failed_evidence("mn-db-1 (10.198.0.14:22): connection timed out after 5 s")


def test_collect_reports_garbage_output_as_failed_evidence() -> None:
    class Garbage(LocalPool):
        def run(self, target, argv, *, timeout, input_text):  # type: ignore[no-untyped-def]
            return RemoteResult(target.name, list(argv), 0, "Welcome to EduGov!\n", "", 0.0)

    evidence = collect(Garbage(), Target("x", "10.198.0.9"), {})
    assert evidence["unreachable"].startswith("collector printed no JSON")
