"""A compliance site on the session's lab: its own egov.yml, store and controls folder, the lab's SSH key.

Scans only read lab hosts, so the tests get their own state (store, waivers)
and share the lab (its hosts, management key and pinned host keys).
``EGOV_LAB_CONFIG=/path/egov.yml`` (tests/integration/conftest.py) points the tests at a lab that
is already up (a developer's), which is then neither started nor stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
# Registers the commands when the CLI table does not have them yet (kept when it does).
RUNNER = (
    "import sys\n"
    "from controlplane.cli import COMMANDS, main\n"
    "COMMANDS.setdefault('scan', ('controlplane.cli.compliance', 'scan', 'Scan hosts'))\n"
    "COMMANDS.setdefault('report', ('controlplane.cli.compliance', 'report', 'Reports'))\n"
    "main(sys.argv[1:])\n"
)


def run_cli(config_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``egov --config CONFIG ARGS`` in a child process; return it finished."""
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "--config", str(config_path), *args],
        capture_output=True, text=True, check=False, timeout=timeout, cwd=REPO,
    )  # fmt: skip


@dataclass
class ComplianceSite:
    """The lab's config (for faults and SSH) and this suite's own site config (store, controls)."""

    lab_config_path: Path
    lab_config: Any
    config_path: Path
    config: Any

    def egov(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``egov`` on the compliance site."""
        return run_cli(self.config_path, *args, timeout=timeout)

    def lab_egov(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``egov`` on the lab's own config (lab faults, harden)."""
        return run_cli(self.lab_config_path, *args, timeout=timeout)

    def ssh(self, host: str, argv: list[str], input_text: str | None = None) -> Any:
        """Run an argv on a lab host over SSH as the management account."""
        from controlplane.ssh import SSHPool, Target

        address = next(h for h in self.inventory().hosts if h.name == host).address
        with SSHPool.from_config(self.lab_config) as pool:
            return pool.run(Target(host, address, user=self.lab_config.ssh_user), argv, input_text=input_text)

    def inventory(self) -> Any:
        from controlplane.inventory import load_inventory

        return load_inventory(self.config.inventory)


@pytest.fixture(scope="session")
def compliance_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The suite's site (see the module docstring)."""
    from controlplane.config import load_config

    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = request.getfixturevalue("lab")
    lab_config_path, lab_config = lab.config_path, lab.config
    folder = tmp_path_factory.mktemp("compliance-site")
    config_path = folder / "egov.yml"
    data = {
        "folders": {"inventory": str(REPO / "inventory" / "lab.yml"), "backup": str(REPO / "backup")},
        "state": {"dir": "var"},
        "ssh": {"key_file": str(lab_config.ssh_key_file), "known_hosts": str(lab_config.ssh_known_hosts)},
    }
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    yield ComplianceSite(lab_config_path, lab_config, config_path, load_config(config_path))
