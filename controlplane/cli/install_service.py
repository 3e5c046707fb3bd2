"""``egov install-service``: run ``egov serve`` as a hardened systemd service under its own system user.

The unit text is built by pure functions (:func:`plan_service`,
:func:`serve_unit`), tested by exact text and by the real
``systemd-analyze verify``; :func:`install` is the one place that creates
the user, owns the state folder, writes files and calls ``systemctl``.

The hardening follows what ``egov serve`` needs and nothing more: it writes
only the state folder, the controls folder (the console records waivers in
its ``waivers.yml``) and the database's or audit archive's folder when
egov.yml puts them outside the state folder; it talks TCP/UDP and Unix sockets (AF_NETLINK:
the address lookups of ansible and Python's own interface listing), runs no
set-uid program and needs no capability unless it listens below port 1024.
``ProtectProc=invisible`` is left out on purpose: the store decides whether
the process owning a run is still alive by its /proc entry, and a command an
operator runs as another user must not look dead to the service.
``MemoryDenyWriteExecute=yes`` is kept because CPython, ``cryptography``
(Rust) and Jinja need no writable-executable memory: checked by running
``egov serve`` under strace for mmap/mprotect asking for PROT_EXEC with
PROT_WRITE (none), see the project's README production section.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404: useradd, chown and systemctl by absolute path, fixed argv, no shell
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context

if TYPE_CHECKING:
    from collections.abc import Callable

    from controlplane.config import Config

SERVE_UNIT = "egov-serve.service"
HOME_TREES = (Path("/home"), Path("/root"), Path("/run/user"))
TMP_TREES = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108 - only compared with, never written
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")


@dataclass(frozen=True)
class ServicePlan:
    """What the units say: who runs what, with which files writable."""

    user: str
    egov: Path  # the egov executable of this installation (a venv's bin/egov), absolute
    config: Path  # egov.yml, absolute
    state_dir: Path
    writable: tuple[Path, ...]  # ReadWritePaths: the state folder first
    listen_port: int

    @property
    def protect_home(self) -> str:
        """``yes``, or ``read-only`` when the installation or its state lives under a home folder."""
        paths = (self.egov, self.config, *self.writable)
        return "read-only" if any(_under(path, HOME_TREES) for path in paths) else "yes"

    @property
    def private_tmp(self) -> str:
        """``yes``, unless the state lives under /tmp (a trial install), which a private /tmp would hide."""
        return "no" if any(_under(path, TMP_TREES) for path in (self.config, *self.writable)) else "yes"


def _under(path: Path, trees: tuple[Path, ...]) -> bool:
    return any(path == tree or tree in path.parents for tree in trees)


def plan_service(config: Config, *, user: str, egov: Path) -> ServicePlan:
    """The plan for this site's configuration; raises click.BadParameter for a bad user name or egov path."""
    if not USER_NAME.fullmatch(user):
        raise click.BadParameter(f"{user!r} is not a system user name", param_hint="--user")
    if not egov.is_absolute():
        raise click.BadParameter(f"{egov} is not an absolute path", param_hint="--egov")
    writable = [config.state_dir]
    extra = [Path(config.controls)]  # the console's waiver page writes controls/waivers.yml (and its lock file)
    if config.database_url.startswith("sqlite:////"):
        extra.append(Path(config.database_url.removeprefix("sqlite:///")).parent)
    if config.audit_archive_dir is not None:
        extra.append(config.audit_archive_dir)
    for path in extra:
        if not any(path == kept or kept in path.parents for kept in writable):
            writable.append(path)
    return ServicePlan(user, egov, config.source, config.state_dir, tuple(writable), config.listen_port)


def unit_arg(text: str) -> str:
    """One word of a unit file line: ``%`` doubled, quoted when it holds blanks or quotes."""
    text = text.replace("%", "%%")
    if re.search(r"[\s\"'\\]", text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def serve_unit(plan: ServicePlan) -> str:
    """The text of ``egov-serve.service``."""
    capabilities = "CAP_NET_BIND_SERVICE" if plan.listen_port and plan.listen_port < 1024 else ""
    command = " ".join(unit_arg(str(part)) for part in (plan.egov, "--config", plan.config, "serve"))
    lines = [
        "# Written by `egov install-service`; rerun it rather than editing (or use `systemctl edit`).",
        "[Unit]",
        "Description=EduGov control plane console, API and scheduler (egov serve)",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={plan.user}",
        f"Group={plan.user}",
        f"WorkingDirectory={unit_arg(str(plan.state_dir))}",
        f"Environment={unit_arg('HOME=' + str(plan.state_dir))}",
        "Environment=PYTHONDONTWRITEBYTECODE=1",
        f"ExecStart={command}",
        "Restart=on-failure",
        "RestartSec=5s",
        "TimeoutStopSec=30s",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={' '.join(unit_arg(str(path)) for path in plan.writable)}",
        f"ProtectHome={plan.protect_home}",
        f"PrivateTmp={plan.private_tmp}",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RemoveIPC=yes",
        f"CapabilityBoundingSet={capabilities}",
        f"AmbientCapabilities={capabilities}",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def units(plan: ServicePlan) -> dict[str, str]:
    """Every unit file to write, by name (the scale-out issue's worker will join ``egov-serve.service``)."""
    return {SERVE_UNIT: serve_unit(plan)}


def this_egov() -> Path:
    """The egov executable next to the running Python (a venv's bin/egov), symlinks kept: resolving leaves the venv."""
    return Path(sys.prefix, "bin", "egov").absolute()


def systemd_is_init() -> bool:
    """Whether systemd runs as PID 1 here (as ``sd_booted()`` tells it), so systemctl can be asked."""
    return Path("/run/systemd/system").is_dir()


def not_traversable(path: Path) -> Path | None:
    """The first folder above ``path`` that other users cannot enter (the service user would be refused)."""
    for parent in reversed(path.parents):
        try:
            if not parent.stat().st_mode & 0o001:
                return parent
        except OSError:
            return parent
    return None


def _tool(name: str) -> str:
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise click.ClickException(f"{name} not found in /usr/sbin:/usr/bin:/sbin:/bin")
    return found


def install(
    plan: ServicePlan, unit_dir: Path, *, create_user: bool, enable: bool, start: bool, say: Callable[[str], None]
) -> None:
    """Create the user (when asked and missing), own the state folders, write the units, enable them.

    The only function here with effects. Raises click.ClickException when a
    command fails (its stderr in the message); ``systemctl`` is asked only
    when systemd is PID 1, otherwise it says so and what to run.
    """
    import pwd

    try:
        pwd.getpwnam(plan.user)
        say(f"user {plan.user}: exists")
    except KeyError:
        if not create_user:
            raise click.ClickException(f"no user {plan.user!r} and --no-create-user given") from None
        _run([_tool("useradd"), "--system", "--user-group", "--home-dir", str(plan.state_dir),
              "--no-create-home", "--shell", "/usr/sbin/nologin", plan.user])  # fmt: skip
        say(f"user {plan.user}: created (system user, no login shell, home {plan.state_dir})")
    for path in plan.writable:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _run([_tool("chown"), "-R", f"{plan.user}:{plan.user}", str(path)])
        if path == plan.state_dir:
            path.chmod(0o700)  # master key, database, CA keys' vault: nobody else enters
        say(f"{path}: owned by {plan.user}" + (", mode 0700" if path == plan.state_dir else ""))
    for path in (plan.egov, plan.config):
        blocked = not_traversable(path)
        if blocked is not None:
            say(f"warning: {blocked} is closed to other users: {plan.user} cannot reach {path}")
    unit_dir.mkdir(parents=True, exist_ok=True)
    for name, text in units(plan).items():
        target = unit_dir / name
        target.write_text(text, encoding="utf-8")
        target.chmod(0o644)
        say(f"wrote {target}")
    if not enable:
        return
    if not systemd_is_init():
        say(f"systemd is not PID 1 here: not enabled; on the server run: systemctl daemon-reload && "
            f"systemctl enable --now {' '.join(units(plan))}")  # fmt: skip
        return
    systemctl = _tool("systemctl")
    _run([systemctl, "daemon-reload"])
    _run([systemctl, "enable", *(["--now"] if start else []), *units(plan)])
    say(f"enabled {', '.join(units(plan))}" + (" and started" if start else f"; start: systemctl start {SERVE_UNIT}"))


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 - argv list, no shell
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")


@click.command("install-service")
@click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("/etc/systemd/system"),
              show_default=True, help="Where the unit files go.")  # fmt: skip
@click.option("--user", "user", default="egov", show_default=True, help="System user the service runs as.")
@click.option("--create-user/--no-create-user", default=True, show_default=True,
              help="Create the user with useradd --system when it is missing.")  # fmt: skip
@click.option("--egov", "egov", type=click.Path(dir_okay=False, path_type=Path),
              help="The egov executable the unit starts (default: this installation's).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the units; change nothing.")
@click.option("--enable/--no-enable", default=True, show_default=True,
              help="systemctl daemon-reload and enable (only where systemd is PID 1).")  # fmt: skip
@click.option("--start", is_flag=True, help="Also start the service now (with --enable).")
@pass_context
def install_service(
    context: CliContext,
    unit_dir: Path,
    user: str,
    create_user: bool,
    egov: Path | None,
    dry_run: bool,
    enable: bool,
    start: bool,
) -> None:
    """Install systemd units that run `egov serve` for this egov.yml as a dedicated system user.

    The state folder is given to that user (mode 0700); the unit confines the
    service (ProtectSystem=strict, only the state folder writable, no
    capabilities, @system-service system calls). Needs root unless --dry-run.
    """
    plan = plan_service(context.config, user=user, egov=(egov or this_egov()).absolute())
    if dry_run:
        for name, text in units(plan).items():
            click.echo(f"# {unit_dir / name}\n{text}")
        return
    if os.geteuid() != 0:
        raise click.ClickException("installing a service needs root (or use --dry-run to see the units)")
    install(plan, unit_dir, create_user=create_user, enable=enable, start=start, say=click.echo)
