"""The lab's Python API in one place (see :mod:`controlplane.lab` for the whole story).

The work lives in :mod:`~controlplane.lab.lifecycle` (up, down),
:mod:`~controlplane.lab.report` (status) and :mod:`~controlplane.lab.drill`
(faults, commands inside hosts); this module gathers the public names.
"""

from __future__ import annotations

from controlplane.lab.common import load_spec, require_root
from controlplane.lab.drill import ACTIONS, exec_in_host, fault, host_command, ssh_command
from controlplane.lab.lifecycle import down, owner_tag, up
from controlplane.lab.report import host_status, report, status

__all__ = [
    "ACTIONS",
    "down",
    "exec_in_host",
    "fault",
    "host_command",
    "host_status",
    "load_spec",
    "owner_tag",
    "report",
    "require_root",
    "ssh_command",
    "status",
    "up",
]
