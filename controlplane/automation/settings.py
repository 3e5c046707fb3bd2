"""Pure builders for how ansible runs: environment, runner arguments, argv.

Everything here is a function of its inputs (no process is started), so the
exact environment and argv are unit-tested. Two profiles exist:

* ``tuned`` (the default): pipelining (one SSH exec per module instead of
  put + chmod + exec + rm), a persistent SSH master per host, forks equal to
  the number of hosts (no host waits for a free worker), the ``free``
  strategy for playbooks whose hosts are independent (no host waits for the
  slowest at every task), no compression of module payloads on the LAN, and
  the ``min`` fact subset;
* ``defaults``: ansible's own settings (forks 5, no pipelining, full facts),
  kept for the benchmark that measures what the tuning buys.

Both pin host keys: only ``known_hosts`` from the site configuration is read
(and, once the site has a CA, the ``@cert-authority`` file scoped to the
inventory's hosts and the KRL of revoked keys) and an unknown or changed key
stops the connection (``StrictHostKeyChecking yes``). The private key is passed by path, never its content.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Environment variables a run may inherit from the control plane's process:
# everything else (tokens, passwords someone exported) stays out of the
# ansible process and out of ansible-runner's ``command`` artifact.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "TERM")
# Variables ansible-runner itself sets and its callback plugin needs.
RUNNER_ENV_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "JOB_", "ORIGINAL_STDOUT_CALLBACK", "AD_HOC_COMMAND_ID")
PROFILES = ("tuned", "defaults")
DEFAULT_FORKS = 5  # ansible's own default
MAX_FORKS = 50
DEFAULT_TIMEOUT = 3600


@dataclass(frozen=True)
class RunSettings:
    """What one playbook run needs to know to build its environment.

    ``private_key`` and ``known_hosts`` come from the site configuration;
    ``control_path_dir`` is inside the run's private temporary folder so the
    SSH masters of a run can be found and closed when it ends.
    """

    private_key: Path
    known_hosts: Path
    control_path_dir: Path
    host_count: int
    profile: str = "tuned"
    connect_timeout: float = 10.0
    user: str = "root"
    # True when no host of the playbook reads another host's variables (harden.yml): then
    # the tuned profile lets each host run at its own pace (strategy ``free``). provision.yml
    # reads the backup centers' facts on the clients, so it keeps the lock-step ``linear``.
    independent_hosts: bool = False
    # Issue 15: the @cert-authority file (hosts certified by the control plane's CA are accepted without a
    # pin) and the KRL of revoked host keys and certificates; None when the site has no CA (yet).
    cert_authorities: Path | None = None
    revoked_host_keys: Path | None = None


def ansible_bin(name: str) -> str:
    """Return the path of an ansible program: next to this Python first, then PATH.

    Raises FileNotFoundError when it is nowhere (ansible-core is a dependency).
    """
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (is ansible-core installed in this environment?)")
    return found


def forks_for(settings: RunSettings) -> int:
    """Return the number of forks: one per host when tuned, ansible's 5 otherwise."""
    if settings.profile != "tuned":
        return DEFAULT_FORKS
    return max(1, min(settings.host_count, MAX_FORKS))


def known_hosts_option(settings: RunSettings) -> str:
    """``UserKnownHostsFile=`` with the pins, then the @cert-authority file when the site has a CA.

    ssh splits the value on whitespace, so with two files a path holding a
    space is double-quoted (ssh's own quoting); one file is given as is.
    """
    if settings.cert_authorities is None:
        return f"UserKnownHostsFile={settings.known_hosts}"
    files = [str(settings.known_hosts), str(settings.cert_authorities)]
    return "UserKnownHostsFile=" + " ".join(f'"{path}"' if any(c.isspace() for c in path) else path for path in files)


def ssh_common_args(settings: RunSettings) -> str:
    """Return the SSH options that pin host keys or trust the CA, and refuse revoked ones (every profile)."""
    # -F /dev/null: a user's ~/.ssh/config must not change where trust comes from.
    words = [
        "-F", "/dev/null",
        "-o", known_hosts_option(settings),
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
    ]  # fmt: skip
    if settings.revoked_host_keys is not None:
        words += ["-o", f"RevokedHostKeys={settings.revoked_host_keys}"]
    return shlex.join(words)


def ssh_args(settings: RunSettings) -> str | None:
    """Return ``ssh_args`` for the tuned profile (None keeps ansible's default).

    A persistent master per host (so each task reuses one TCP and key
    exchange), no compression (a LAN is faster than zlib), public key only.
    """
    if settings.profile != "tuned":
        return None
    return shlex.join(
        [
            "-o", "ControlMaster=auto",
            "-o", "ControlPersist=120s",
            "-o", "PreferredAuthentications=publickey",
            "-o", "ServerAliveInterval=15",
        ]
    )  # fmt: skip


def ansible_env(settings: RunSettings) -> dict[str, str]:
    """Return the ANSIBLE_* environment of a run for its profile.

    A new dict on every call, holding only these variables (nothing of this
    process's environment), so callers may change it freely.
    """
    env = {
        "ANSIBLE_PRIVATE_KEY_FILE": str(settings.private_key),
        "ANSIBLE_REMOTE_USER": settings.user,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_COMMON_ARGS": ssh_common_args(settings),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(settings.control_path_dir),
        "ANSIBLE_TIMEOUT": str(int(settings.connect_timeout)),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        # A run never asks a question: no become password prompt, no vault prompt.
        "ANSIBLE_BECOME_ASK_PASS": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_SYSTEM_WARNINGS": "False",
        "ANSIBLE_COMMAND_WARNINGS": "False",
    }
    if settings.profile == "tuned":
        tuned_ssh_args = ssh_args(settings)
        assert tuned_ssh_args is not None  # noqa: S101 - tuned profile always has them
        env.update(
            {
                "ANSIBLE_PIPELINING": "True",
                "ANSIBLE_SSH_ARGS": tuned_ssh_args,
                # Module payloads are not zlib-compressed (and decompressed on the host) on a LAN.
                "ANSIBLE_MODULE_COMPRESSION": "ZIP_STORED",
            }
        )
        if settings.independent_hosts:
            # Each host goes through its tasks at its own pace: no host waits at every
            # task for the slowest one, so the workers keep the CPUs busy.
            env["ANSIBLE_STRATEGY"] = "free"
    return env


def filter_env(env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Keep only the inherited and runner-owned variables of ``env``, then add ``extra``.

    ansible-runner copies the whole process environment into the run and into
    its ``command`` artifact; this drops anything not on the allow list (a
    token someone exported must not reach a playbook or a file).
    """
    kept = {
        key: value
        for key, value in env.items()
        if key in INHERITED_ENV or key.startswith(RUNNER_ENV_PREFIXES) or key.startswith("PYTHON")
    }
    # PYTHONPATH/PYTHONHOME of the control plane would confuse the remote side
    # only through ansible's own interpreter; PYTHONSTARTUP etc. are harmless
    # but not needed: keep only the ones ansible's own Python may rely on.
    kept = {k: v for k, v in kept.items() if not k.startswith("PYTHON") or k in ("PYTHONPATH", "PYTHONHOME")}
    kept.update(extra)
    bin_dir = str(Path(sys.executable).parent)
    path = kept.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if bin_dir not in path.split(os.pathsep):
        kept["PATH"] = bin_dir + os.pathsep + path
    return kept


def runner_kwargs(
    *,
    private_data_dir: Path,
    project_dir: Path,
    playbook: str,
    inventory: Path,
    limit: list[str],
    settings: RunSettings,
    check: bool = False,
    diff: bool = False,
    extravars: Mapping[str, Any] | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    tags: str | None = None,
) -> dict[str, Any]:
    """Return the keyword arguments for ``ansible_runner`` (run_async/init_runner).

    ``limit`` is the host names already resolved and checked by the control
    plane. ``extravars`` must never hold secrets: they end in the
    ``env/extravars`` file without ``suppress_env_files``. ``timeout`` is the
    job's, in seconds.
    """
    cmdline: list[str] = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    kwargs: dict[str, Any] = {
        "private_data_dir": str(private_data_dir),
        "project_dir": str(project_dir),
        "playbook": playbook,
        "inventory": str(inventory),
        "limit": ",".join(limit),
        "forks": forks_for(settings),
        "envvars": ansible_env(settings),
        "extravars": dict(extravars or {}),
        "cmdline": shlex.join(cmdline) if cmdline else None,
        "timeout": timeout,
        "suppress_env_files": True,
        "quiet": True,
        "omit_event_data": False,
        "only_failed_event_data": False,
        "rotate_artifacts": 1,
    }
    if tags:
        kwargs["tags"] = tags
    return {k: v for k, v in kwargs.items() if v is not None}


def syntax_check_argv(playbook: Path, inventory: Path) -> list[str]:
    """Return the argv of ``ansible-playbook --syntax-check`` for a playbook."""
    return [ansible_bin("ansible-playbook"), "--syntax-check", "-i", str(inventory), str(playbook)]


def syntax_check_env(settings: RunSettings) -> dict[str, str]:
    """Return the environment for the syntax check (no colours, no warnings)."""
    return {
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_PRIVATE_KEY_FILE": str(settings.private_key),
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
