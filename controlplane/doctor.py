"""Checks of the external tools the control plane needs (``egov doctor``).

Each tool is described once in :data:`TOOLS` (how to ask its version, which
Debian package brings it, whether the control plane cannot work without it);
:func:`check_tool` finds it with :func:`controlplane.tools.find_tool`, asks its
version through :mod:`controlplane.execute` and says whether it is usable and,
when not, why. Nothing here reads ``egov.yml``: doctor must work before
``egov init``.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from controlplane import execute
from controlplane.tools import (
    RESTIC_MIN_VERSION,
    VERSION_TIMEOUT,
    find_tool,
    format_version,
    parse_version,
    version_at_least,
)

# Debian installs PostgreSQL's server programs outside PATH, one folder per
# major version; the newest is tried first.
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def postgres_bin_dirs() -> tuple[str, ...]:
    """Return Debian's PostgreSQL program folders, newest major version first."""

    def major(folder: str) -> int:
        number = folder.rstrip("/").split("/")[-2]
        return int(number) if number.isdigit() else -1

    return tuple(sorted(glob.glob(POSTGRES_BIN_GLOB), key=major, reverse=True))


@dataclass(frozen=True)
class ToolSpec:
    """How to find and judge one external tool.

    ``version_args`` is None for a program with no version option (ssh-keygen):
    then being executable is enough. ``pattern``'s first group is the version
    shown; without one, the first dotted number in the output is used.
    """

    name: str
    package: str
    purpose: str
    required: bool = False
    version_args: tuple[str, ...] | None = ("--version",)
    minimum: tuple[int, ...] | None = None
    pattern: re.Pattern[str] | None = None
    extra_dirs: Callable[[], Sequence[str]] | None = None


@dataclass
class ToolCheck:
    """What doctor found for one tool; ``reason`` says why it is not usable."""

    name: str
    path: str | None
    version: str
    usable: bool
    reason: str
    required: bool
    purpose: str
    package: str
    minimum: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the check as plain data for ``egov doctor --json``."""
        return asdict(self)


_OPENSSH = re.compile(r"OpenSSH_([^\s,]+)")

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="restic",
        package="make setup, as root",
        purpose="backups and restore drills",
        required=True,
        version_args=("version",),
        minimum=RESTIC_MIN_VERSION,
        pattern=re.compile(r"^restic\s+v?(\d+(?:\.\d+)+\S*)", re.MULTILINE),
    ),
    ToolSpec(
        name="ssh",
        package="openssh-client",
        purpose="lab and remote hosts",
        required=True,
        version_args=("-V",),
        pattern=_OPENSSH,
    ),
    ToolSpec(
        name="sshd",
        package="openssh-server",
        purpose="lab hosts (one sshd each)",
        required=True,
        version_args=("-V",),
        pattern=_OPENSSH,
    ),
    # ssh-keygen has no version option: being executable is the whole check.
    ToolSpec(
        name="ssh-keygen",
        package="openssh-client",
        purpose="host and client keys",
        required=True,
        version_args=None,
    ),
    ToolSpec(
        name="ip",
        package="iproute2",
        purpose="lab network (namespaces, veth, bridge)",
        required=True,
        version_args=("-V",),
        pattern=re.compile(r"iproute2-([^\s,]+)"),
    ),
    ToolSpec(name="nsenter", package="util-linux", purpose="entering lab hosts", required=True),
    ToolSpec(name="unshare", package="util-linux", purpose="lab host namespaces", required=True),
    ToolSpec(
        name="arping",
        package="iputils-arping",
        purpose="service address failover (gratuitous ARP)",
        version_args=("-V",),
        pattern=re.compile(r"iputils\D*(\d[\w.]*)"),
    ),
    ToolSpec(name="nft", package="nftables", purpose="host firewall hardening"),
    ToolSpec(
        name="ansible-playbook",
        package="pip install -e . (in .venv)",
        purpose="provision and harden runs",
        pattern=re.compile(r"core\s+v?(\d+(?:\.\d+)+[^\]\s]*)"),
    ),
    ToolSpec(name="chromium", package="chromium", purpose="browser tests"),
    ToolSpec(name="psql", package="postgresql-client", purpose="PostgreSQL state store"),
    ToolSpec(
        name="initdb",
        package="postgresql",
        purpose="PostgreSQL store tests",
        extra_dirs=postgres_bin_dirs,
    ),
    ToolSpec(name="promtool", package="prometheus", purpose="checking exported alert rules"),
    ToolSpec(name="lynis", package="lynis", purpose="hardening benchmark comparison"),
)


def extract_version(spec: ToolSpec, output: str) -> str:
    """Return the version string a tool printed, or "" when none is recognised.

    ``output`` is stdout and stderr together (some tools print their version
    on stderr). Uses the spec's pattern when it has one, else the first
    dotted number.
    """
    if spec.pattern is not None:
        match = spec.pattern.search(output)
        return match.group(1) if match else ""
    version = parse_version(output)
    return format_version(version)


def judge_version(spec: ToolSpec, version: str) -> str:
    """Return why ``version`` is not good enough for ``spec``, or "" when it is.

    A spec without a minimum accepts any version, even none found; with
    one, a version that cannot be read is refused rather than trusted.
    """
    if spec.minimum is None:
        return ""
    parsed = parse_version(version) if version else None
    wanted = format_version(spec.minimum)
    if parsed is None:
        return f"version not recognised (need >= {wanted})"
    if not version_at_least(parsed, spec.minimum):
        return f"version {version} is older than {wanted}"
    return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def check_tool(spec: ToolSpec) -> ToolCheck:
    """Find one tool, ask its version and judge whether it is usable.

    The check's ``reason`` names the fix when the tool is missing, fails to
    run, or is too old. Raises nothing: a broken
    tool is a finding, not an error.
    """
    check = ToolCheck(
        name=spec.name,
        path=None,
        version="",
        usable=False,
        reason="",
        required=spec.required,
        purpose=spec.purpose,
        package=spec.package,
        minimum=format_version(spec.minimum) if spec.minimum else "",
    )
    extra = tuple(spec.extra_dirs()) if spec.extra_dirs else ()
    check.path = find_tool(spec.name, extra)
    if check.path is None:
        check.reason = f"not found (install: {spec.package})"
        return check
    if spec.version_args is None:
        check.usable = True
        return check
    argv = [check.path, *spec.version_args]
    try:
        result = execute.run(argv, timeout=VERSION_TIMEOUT)
    except OSError as error:
        check.reason = f"cannot run: {error.strerror or error}"
        return check
    output = f"{result.stdout}\n{result.stderr}"
    check.version = extract_version(spec, output)
    if not result.ok:
        detail = _last_line(output)
        check.reason = f"`{spec.name} {' '.join(spec.version_args)}` {result.outcome}"
        check.reason += f" (exit {result.exit_code})" + (f": {detail}" if detail else "")
        return check
    check.reason = judge_version(spec, check.version)
    check.usable = not check.reason
    return check


def run_checks(specs: Sequence[ToolSpec] | None = None) -> list[ToolCheck]:
    """Check every tool, in parallel (version commands are slow one by one).

    ``specs`` defaults to :data:`TOOLS`; the checks come back in their order.
    """
    chosen = TOOLS if specs is None else specs
    if not chosen:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(chosen))) as pool:
        return list(pool.map(check_tool, chosen))


def all_required_usable(checks: Sequence[ToolCheck]) -> bool:
    """Return True when every required tool among ``checks`` is usable."""
    return all(check.usable for check in checks if check.required)


def report(checks: Sequence[ToolCheck]) -> dict[str, Any]:
    """Return the machine-readable doctor report: overall ``ok`` and each tool."""
    return {
        "ok": all_required_usable(checks),
        "tools": [check.as_dict() for check in checks],
    }
