"""Running ``egov runbook`` in a child process, as an operator would.

The ``runbook`` group is added to ``egov`` here in case it is not registered
in :mod:`controlplane.cli` yet; once it is, this changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LAUNCHER = (
    "import sys\n"
    "from controlplane.cli import egov, main\n"
    "from controlplane.cli.runbook import runbook\n"
    "if 'runbook' not in egov.commands:\n"
    "    egov.add_command(runbook)\n"
    "main(sys.argv[1:])\n"
)


def egov_argv(config_path: Path, *args: str) -> list[str]:
    """The argv of ``egov --config CONFIG ARGS`` in a fresh interpreter."""
    return [sys.executable, "-c", LAUNCHER, "--config", str(config_path), *args]


def egov(config_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``egov --config CONFIG ARGS`` and return the finished process."""
    return subprocess.run(egov_argv(config_path, *args), capture_output=True, text=True, timeout=timeout, check=False)
