"""Ansible environment and runner arguments: exact values for each profile."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from controlplane.automation.settings import (
    RunSettings,
    ansible_env,
    filter_env,
    forks_for,
    runner_kwargs,
    ssh_common_args,
    syntax_check_argv,
)


def settings(profile: str = "tuned", hosts: int = 9) -> RunSettings:
    return RunSettings(
        private_key=Path("/state/ssh/id_ed25519"),
        known_hosts=Path("/state/ssh/known_hosts"),
        control_path_dir=Path("/tmp/egov-run-x/cp"),
        host_count=hosts,
        profile=profile,
    )


def test_host_keys_are_pinned_in_every_profile() -> None:
    for profile in ("tuned", "defaults"):
        env = ansible_env(settings(profile))
        words = shlex.split(env["ANSIBLE_SSH_COMMON_ARGS"])
        assert "UserKnownHostsFile=/state/ssh/known_hosts" in words
        assert "StrictHostKeyChecking=yes" in words
        assert "GlobalKnownHostsFile=/dev/null" in words
        assert words[:2] == ["-F", "/dev/null"]
        assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
        assert env["ANSIBLE_PRIVATE_KEY_FILE"] == "/state/ssh/id_ed25519"


def test_the_tuned_profile_pipelines_and_keeps_ssh_masters() -> None:
    env = ansible_env(settings("tuned"))
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert env["ANSIBLE_MODULE_COMPRESSION"] == "ZIP_STORED"
    # Lock-step unless the playbook's hosts are independent (provision reads other hosts' facts).
    assert "ANSIBLE_STRATEGY" not in env
    independent = dataclasses.replace(settings("tuned"), independent_hosts=True)
    assert ansible_env(independent)["ANSIBLE_STRATEGY"] == "free"
    assert "ANSIBLE_STRATEGY" not in ansible_env(dataclasses.replace(settings("defaults"), independent_hosts=True))
    words = shlex.split(env["ANSIBLE_SSH_ARGS"])
    assert "ControlMaster=auto" in words and "ControlPersist=120s" in words
    assert "-C" not in words  # no compression on a LAN
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == "/tmp/egov-run-x/cp"


def test_the_defaults_profile_leaves_ansible_settings_alone() -> None:
    env = ansible_env(settings("defaults"))
    assert "ANSIBLE_PIPELINING" not in env
    assert "ANSIBLE_STRATEGY" not in env and "ANSIBLE_MODULE_COMPRESSION" not in env
    assert "ANSIBLE_SSH_ARGS" not in env


def test_forks_match_the_hosts_when_tuned_and_stay_at_five_otherwise() -> None:
    assert forks_for(settings("tuned", 9)) == 9
    assert forks_for(settings("tuned", 1)) == 1
    assert forks_for(settings("tuned", 500)) == 50
    assert forks_for(settings("defaults", 9)) == 5


def test_the_private_key_content_is_never_in_the_environment(tmp_path: Path) -> None:
    env = ansible_env(settings())
    assert all("PRIVATE KEY" not in value for value in env.values())


def test_filter_env_drops_secrets_someone_exported() -> None:
    kept = filter_env(
        {"PATH": "/usr/bin", "HOME": "/root", "PGPASSWORD": "s3cret", "AWS_SECRET_ACCESS_KEY": "x",
         "ANSIBLE_PIPELINING": "True", "AWX_ISOLATED_DATA_DIR": "/a", "RUNNER_OMIT_EVENTS": "False"},
        {"EXTRA": "1"},
    )  # fmt: skip
    assert "PGPASSWORD" not in kept and "AWS_SECRET_ACCESS_KEY" not in kept
    assert kept["ANSIBLE_PIPELINING"] == "True" and kept["AWX_ISOLATED_DATA_DIR"] == "/a"
    assert kept["EXTRA"] == "1" and kept["HOME"] == "/root"
    assert kept["PATH"].endswith("/usr/bin")


def test_runner_kwargs_limit_to_resolved_hosts_and_suppress_env_files(tmp_path: Path) -> None:
    kwargs = runner_kwargs(
        private_data_dir=tmp_path,
        project_dir=Path("/site/playbooks"),
        playbook="harden.yml",
        inventory=Path("/site/inventory/lab.yml"),
        limit=["mn-portal-1", "gd-school-1"],
        settings=settings("tuned", 2),
        check=True,
        diff=True,
        extravars={"egov_run_id": 7},
        timeout=600,
    )
    assert kwargs["limit"] == "mn-portal-1,gd-school-1"
    assert kwargs["suppress_env_files"] is True
    assert kwargs["cmdline"] == "--check --diff"
    assert kwargs["forks"] == 2
    assert kwargs["timeout"] == 600
    assert kwargs["playbook"] == "harden.yml" and kwargs["project_dir"] == "/site/playbooks"
    assert kwargs["inventory"] == "/site/inventory/lab.yml"
    assert kwargs["extravars"] == {"egov_run_id": 7}
    assert "tags" not in kwargs


def test_a_run_without_check_or_diff_has_no_cmdline(tmp_path: Path) -> None:
    kwargs = runner_kwargs(
        private_data_dir=tmp_path, project_dir=tmp_path, playbook="provision.yml", inventory=tmp_path / "i.yml",
        limit=["a"], settings=settings(), tags="ssh",
    )  # fmt: skip
    assert "cmdline" not in kwargs
    assert kwargs["tags"] == "ssh"


def test_syntax_check_argv_names_the_inventory_and_playbook() -> None:
    argv = syntax_check_argv(Path("/p/harden.yml"), Path("/i/lab.yml"))
    assert argv[0].endswith("ansible-playbook")
    assert argv[1:] == ["--syntax-check", "-i", "/i/lab.yml", "/p/harden.yml"]


def test_ssh_common_args_quote_a_known_hosts_path_with_spaces() -> None:
    odd = RunSettings(Path("/k"), Path("/my state/known hosts"), Path("/c"), 1)
    assert "UserKnownHostsFile=/my state/known hosts" in shlex.split(ssh_common_args(odd))


def test_a_site_with_a_ca_adds_its_cert_authority_file_and_the_krl_of_revoked_host_keys() -> None:
    with_ca = dataclasses.replace(
        settings(), cert_authorities=Path("/state/pki/known_hosts"), revoked_host_keys=Path("/state/pki/revoked.krl")
    )
    words = shlex.split(ssh_common_args(with_ca))
    assert "UserKnownHostsFile=/state/ssh/known_hosts /state/pki/known_hosts" in words
    assert words[words.index("RevokedHostKeys=/state/pki/revoked.krl") - 1] == "-o"
    assert not any(word.startswith("RevokedHostKeys") for word in shlex.split(ssh_common_args(settings())))


def test_openssh_accepts_both_known_hosts_files_and_the_krl_and_a_path_with_a_space_is_quoted() -> None:
    import shutil
    import subprocess

    odd = RunSettings(
        Path("/k"),
        Path("/my state/known hosts"),
        Path("/c"),
        1,
        cert_authorities=Path("/s/pki/known_hosts"),
        revoked_host_keys=Path("/s/revoked.krl"),
    )
    words = shlex.split(ssh_common_args(odd))
    assert 'UserKnownHostsFile="/my state/known hosts" /s/pki/known_hosts' in words
    if shutil.which("ssh") is None:
        return
    # `ssh -G` parses the options as ssh would (an unknown or malformed one fails) and connects nowhere.
    shown = subprocess.run(["ssh", "-G", *words, "somehost"], capture_output=True, text=True,
                           check=True).stdout.splitlines()  # fmt: skip
    assert "userknownhostsfile /my state/known hosts /s/pki/known_hosts" in shown
    assert "revokedhostkeys /s/revoked.krl" in shown
