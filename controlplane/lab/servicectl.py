"""``servicectl``: start, stop or restart a service of a lab host, for a playbook handler.

Lab hosts have no systemd: a service registered inside the host
(``/etc/egov-lab/services/NAME.json``) is run by the host's init, which only
the machine can reach (its control socket sits in the host's folder on the
machine). A playbook therefore notifies a handler delegated to localhost that
runs::

    python -m controlplane.lab.servicectl HOSTS_DIR HOST ACTION NAME

with HOSTS_DIR the lab's host folders (extra var ``egov_lab_hosts_dir``),
ACTION one of start, stop, restart. Exit 0 done, 1 the init refused or did
not answer, 2 bad arguments.

It is a lab tool (it speaks to the lab init's control socket), so it lives in
the lab; the automation engine only passes ``egov_lab_hosts_dir`` to ansible.
"""

from __future__ import annotations

import sys
from pathlib import Path

from controlplane.errors import BadInputError, EgovError
from controlplane.lab import control as lab_control
from controlplane.lab.names import validate_host_name, validate_service_name

ACTIONS = ("start", "stop", "restart")


def control(hosts_dir: Path, host: str, action: str, service: str) -> bool:
    """Ask a lab host's init to start/stop/restart a service; return whether it changed.

    Raises BadInputError for an unknown action or an invalid host/service
    name, ControlError when the init refuses or does not answer.
    """
    if action not in ACTIONS:
        raise BadInputError(f"unknown action {action!r}: use {', '.join(ACTIONS)}")
    folder = hosts_dir / validate_host_name(host)
    name = validate_service_name(service)
    changed = False
    if action in ("stop", "restart"):
        changed = bool(lab_control.request(folder, {"op": "stop", "service": name}).get("changed"))
    if action in ("start", "restart"):
        changed = bool(lab_control.request(folder, {"op": "start", "service": name}).get("changed")) or changed
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: argv is [HOSTS_DIR, HOST, ACTION, NAME]; returns the exit code (0, 1 or 2)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: servicectl HOSTS_DIR HOST start|stop|restart SERVICE", file=sys.stderr)
        return 2
    try:
        changed = control(Path(args[0]), args[1], args[2], args[3])
    except EgovError as error:
        print(error.message, file=sys.stderr)
        return error.exit_code
    print("changed" if changed else "unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
