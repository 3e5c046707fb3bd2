"""Services of a lab host other than sshd: how they are registered and read.

A service is registered inside the host as ``/etc/egov-lab/services/NAME.json``
(see :mod:`controlplane.lab` for the format); sshd is built in. The host's
init (:mod:`controlplane.lab.init`) starts and stops them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.lab.names import DEFAULT_SERVICE, validate_service_name

SERVICES_DIR = Path("/etc/egov-lab/services")
PID_DIR = Path("/run/egov-lab")
LOG_DIR = Path("/var/log/egov-lab")
SSHD_ARGV = ["/usr/sbin/sshd", "-D", "-e"]


@dataclass
class Definition:
    """How to run a service: argv, working folder, extra environment, autostart."""

    argv: list[str]
    cwd: str = "/"
    env: dict[str, str] | None = None
    autostart: bool = False


def parse_definition(name: str, data: Any) -> Definition:
    """Check a service definition loaded from NAME.json; raise ValueError if malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"{name}: the definition must be a JSON object")
    argv = data.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(w, str) and w and "\x00" not in w for w in argv):
        raise ValueError(f"{name}: 'argv' must be a non-empty list of strings")
    if not argv[0].startswith("/"):
        raise ValueError(f"{name}: argv[0] must be an absolute path")
    cwd = data.get("cwd", "/")
    env = data.get("env") or {}
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ValueError(f"{name}: 'cwd' must be an absolute path")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValueError(f"{name}: 'env' must map strings to strings")
    unknown = set(data) - {"argv", "cwd", "env", "autostart", "description"}
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}")
    return Definition(argv=list(argv), cwd=cwd, env=dict(env), autostart=bool(data.get("autostart", False)))


def load_definition(name: str, services_dir: Path = SERVICES_DIR) -> Definition:
    """Return the definition of a service (sshd is built in); raise ValueError if none."""
    validate_service_name(name)
    if name == DEFAULT_SERVICE:
        return Definition(argv=list(SSHD_ARGV), autostart=True)
    path = services_dir / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no service {name!r}: register it as {path} inside the host") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return parse_definition(name, data)


def registered(services_dir: Path = SERVICES_DIR) -> list[str]:
    """Names of the services registered in the host (valid file names only)."""
    found = []
    for path in sorted(services_dir.glob("*.json")):
        try:
            found.append(validate_service_name(path.stem))
        except Exception:  # noqa: S112 - a stray file is not a service
            continue
    return [name for name in found if name != DEFAULT_SERVICE]
