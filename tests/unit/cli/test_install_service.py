"""``egov install-service``: the unit text, exactly; the real ``systemd-analyze verify`` on it; the one writer."""

from __future__ import annotations

import dataclasses
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from controlplane.cli import install_service as service
from controlplane.cli.install_service import ServicePlan, plan_service, serve_unit, unit_arg
from tests.conftest import REPO

EGOV = Path(sys.prefix, "bin", "egov")
PLAN = ServicePlan(
    user="egov",
    egov=Path("/opt/egov/venv/bin/egov"),
    config=Path("/etc/egov/egov.yml"),
    state_dir=Path("/var/lib/egov"),
    writable=(Path("/var/lib/egov"),),
    listen_port=8443,
)
EXPECTED = """\
# Written by `egov install-service`; rerun it rather than editing (or use `systemctl edit`).
[Unit]
Description=EduGov control plane console, API and scheduler (egov serve)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=egov
Group=egov
WorkingDirectory=/var/lib/egov
Environment=HOME=/var/lib/egov
Environment=PYTHONDONTWRITEBYTECODE=1
ExecStart=/opt/egov/venv/bin/egov --config /etc/egov/egov.yml serve
Restart=on-failure
RestartSec=5s
TimeoutStopSec=30s
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/lib/egov
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""


def verify_problems(unit_dir: Path, name: str) -> list[str]:
    """What the real ``systemd-analyze verify`` says about one unit: its failure, or each line naming the unit."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (scripts/setup.sh installs the systemd package)")
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(unit_dir / name)], capture_output=True, text=True, check=False, timeout=60
    )
    lines = [line for line in (done.stderr + done.stdout).splitlines() if name in line]
    return ([f"exit {done.returncode}"] if done.returncode else []) + lines


def test_the_serve_unit_runs_egov_serve_hardened_as_the_service_user() -> None:
    assert serve_unit(PLAN) == EXPECTED


def test_a_port_below_1024_gets_only_the_capability_to_bind_it() -> None:
    text = serve_unit(dataclasses.replace(PLAN, listen_port=443))
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n" in text


def test_an_installation_under_a_home_folder_gets_a_read_only_home_and_one_under_tmp_a_shared_tmp() -> None:
    home = dataclasses.replace(PLAN, egov=Path("/home/ops/egov/.venv/bin/egov"))
    assert "ProtectHome=read-only\n" in serve_unit(home)
    trial = dataclasses.replace(PLAN, state_dir=Path("/tmp/site/var"), writable=(Path("/tmp/site/var"),))
    assert "PrivateTmp=no\n" in serve_unit(trial)


def test_words_with_blanks_or_percent_signs_are_quoted_for_systemd() -> None:
    assert unit_arg("/srv/egov site/egov.yml") == '"/srv/egov site/egov.yml"'
    assert unit_arg("/srv/100%/egov") == "/srv/100%%/egov"


def test_the_plan_makes_the_controls_and_an_outside_database_folder_writable(config) -> None:
    moved = dataclasses.replace(config, database_url="sqlite:////srv/egov-db/egov.db")
    plan = plan_service(moved, user="egov", egov=EGOV)
    assert plan.writable == (config.state_dir, config.controls, Path("/srv/egov-db"))
    assert plan.config == config.source and plan.egov == EGOV


def test_a_bad_user_name_or_a_relative_egov_is_refused(config) -> None:
    with pytest.raises(click.BadParameter, match="user"):
        plan_service(config, user="egov; rm -rf /", egov=EGOV)
    with pytest.raises(click.BadParameter, match="absolute"):
        plan_service(config, user="egov", egov=Path("bin/egov"))


def test_systemd_analyze_verify_accepts_the_generated_unit(config, tmp_path: Path) -> None:
    plan = plan_service(config, user="egov", egov=EGOV)
    for name, text in service.units(plan).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert verify_problems(tmp_path, name) == []


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (("ExecStart=/", "ExecStart=relative/"), "a non-absolute ExecStart"),
        (("ProtectSystem=", "ProtectSytem="), "a misspelt hardening key"),
        (("UMask=0077", "UMask=banana"), "a value systemd cannot parse"),
    ],
)
def test_systemd_analyze_verify_rejects_a_broken_unit(tmp_path: Path, broken: tuple[str, str], why: str) -> None:
    plan = dataclasses.replace(PLAN, egov=EGOV)
    (tmp_path / "egov-serve.service").write_text(serve_unit(plan).replace(*broken, 1), encoding="utf-8")
    assert verify_problems(tmp_path, "egov-serve.service"), why


def test_dry_run_prints_the_units_and_writes_nothing(config_path: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from controlplane.cli import main

    unit_dir = tmp_path / "units"
    with pytest.raises(SystemExit) as stopped:
        main(["--config", str(config_path), "install-service", "--dry-run", "--unit-dir", str(unit_dir)])
    assert stopped.value.code in (0, None)
    out = capsys.readouterr().out
    assert f"# {unit_dir / 'egov-serve.service'}\n" in out
    assert f"ExecStart={EGOV} --config {config_path} serve\n" in out
    assert not unit_dir.exists()


def test_install_owns_the_state_writes_the_unit_and_says_when_systemd_is_not_pid_1(
    config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = pwd.getpwuid(config.state_dir.parent.stat().st_uid).pw_name  # an existing user: no useradd in a test
    plan = plan_service(config, user=user, egov=EGOV)
    monkeypatch.setattr(service, "systemd_is_init", lambda: False)
    said: list[str] = []
    service.install(plan, tmp_path / "units", create_user=False, enable=True, start=False, say=said.append)
    written = tmp_path / "units" / "egov-serve.service"
    assert written.read_text(encoding="utf-8") == serve_unit(plan) and written.stat().st_mode & 0o777 == 0o644
    assert config.state_dir.stat().st_mode & 0o777 == 0o700
    assert any("not PID 1" in line and "systemctl enable --now egov-serve.service" in line for line in said)


def test_a_missing_user_is_not_created_with_no_create_user(config, tmp_path: Path) -> None:
    plan = plan_service(config, user="egov-nobody-here", egov=EGOV)
    with pytest.raises(click.ClickException, match="--no-create-user"):
        service.install(plan, tmp_path, create_user=False, enable=False, start=False, say=print)
    assert not (tmp_path / "egov-serve.service").exists()


def test_the_command_is_registered_under_its_name() -> None:
    from controlplane.cli import COMMANDS

    assert COMMANDS["install-service"][:2] == ("controlplane.cli.install_service", "install_service")
    assert (REPO / "controlplane" / "cli" / "install_service.py").exists()
