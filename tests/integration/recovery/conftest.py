"""A ministry control plane of its own on the lab, backed up, with a 2-of-3 recovery kit; its console stopped.

The site (a temp folder) has the lab's inventory and management key, the
shipped backup centers and the shipped control-plane datasets under names of
this module (so no other test's repository is touched), a user, a secret and
runs. Its ``egov serve`` ran long enough to witness its lease on the centers,
then was stopped: the ministry's site is "lost". The centers' control-plane
anchor log and lease witness are set aside for the module and put back after.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.lab import exec_in_host

REPO = Path(__file__).resolve().parents[3]
CENTERS = ("bc-backup-1", "dr-backup-1")
CP_FOLDER = "/srv/restic/controlplane/controlplane"
SET_ASIDE = ("audit-anchors.log", "leader-lease.json")


@dataclass
class Site:
    """The lost ministry's site and what the test needs to recover it."""

    lab_config: Any
    folder: Path
    config_path: Path
    token: str
    kit: Path
    shares: list[str]
    secret_value: str
    password: str

    def egov(self, *args: str, input_text: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "controlplane", "--config", str(self.config_path), *args]
        return subprocess.run(argv, capture_output=True, text=True, input=input_text, timeout=timeout, check=False)

    def on(self, host: str, argv: list[str], input_text: str | None = None, timeout: float = 600) -> Any:
        return exec_in_host(self.lab_config, host, argv, input_text=input_text, timeout=timeout)

    def dataset(self, kind: str) -> str:
        return f"controlplane-{kind}-{self.token}"


def _policy(token: str) -> dict[str, Any]:
    shipped = yaml.safe_load((REPO / "backup" / "controlplane-state.yml").read_text(encoding="utf-8"))
    for dataset in shipped["datasets"]:
        dataset["name"] = dataset["name"].replace("controlplane-", "controlplane-") + f"-{token}"
        dataset.pop("drill", None)
    return shipped


def _witnessed(lab_config: Any, center: str, timeout: float = 60.0) -> bool:
    """Whether the original's lease witness appears on a center within ``timeout`` (its job runs at start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exec_in_host(lab_config, center, ["test", "-s", f"{CP_FOLDER}/leader-lease.json"]).exit_code == 0:
            return True
        time.sleep(1)
    return False


def _serve(site: Site) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "--config", str(site.config_path), "serve", "--port", "0",
         "--workers", "1", "--plain-http"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if line.startswith("console:"):
            return child
    child.kill()
    raise AssertionError("the ministry's egov serve did not start")


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    with ministry_site(request.getfixturevalue("lab").config, tmp_path_factory.mktemp("ministry")) as made:
        yield made


@contextmanager
def ministry_site(lab_config: Any, folder: Path) -> Iterator[Site]:
    """Build the lost ministry's site in ``folder`` on the lab (see the module docstring); clean the centers after."""
    token = secrets.token_hex(3)
    (folder / "policy").mkdir()
    shutil.copy(REPO / "backup" / "centers.yml", folder / "policy" / "centers.yml")
    (folder / "policy" / "controlplane-state.yml").write_text(yaml.safe_dump(_policy(token)), encoding="utf-8")
    (folder / "var" / "lab").mkdir(parents=True, mode=0o700)
    shutil.copytree(Path(lab_config.ssh_key_file).parent, folder / "var" / "lab" / "ssh")
    config_path = folder / "egov.yml"
    config_path.write_text(yaml.safe_dump({
        "site_name": "ministry-it",
        "folders": {"inventory": str(lab_config.inventory), "backup": str(folder / "policy"),
                    "monitoring": str(folder / "no-monitoring"), "runbooks": str(REPO / "runbooks"),
                    "playbooks": str(REPO / "playbooks")},
        "state": {"dir": "var"},
    }), encoding="utf-8")  # fmt: skip
    aside = []
    for center in CENTERS:
        for name in SET_ASIDE:
            path = f"{CP_FOLDER}/{name}"
            moved = exec_in_host(lab_config, center, ["mv", "-f", path, f"{path}.it-{token}"])
            if moved.exit_code == 0:
                aside.append((center, path))
    value, password = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
    made = Site(lab_config, folder, config_path, token, folder / "kit.egovkit", [], value, password)
    try:
        for args, text in ((["init"], None), (["secrets", "set", "app.token"], value),
                           (["users", "add", "alice", "--role", "operator"], password),
                           (["backup", "setup", "--site", "controlplane"], None)):  # fmt: skip
            done = made.egov(*args, input_text=text)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        serving = _serve(made)  # writes its schedules and witnesses its lease on the centers
        try:
            for kind in ("keys", "db"):
                done = made.egov("backup", "run", made.dataset(kind))
                assert done.returncode == 0, done.stdout + done.stderr
            done = made.egov("recovery", "kit", "--custodians", "Alice Wang,Bob Li,Carol Zhang", "--threshold", "2",
                             "-o", str(made.kit), "--json")  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            done = made.egov("backup", "run", made.dataset("db"))  # the database now knows its kit
            assert done.returncode == 0, done.stdout + done.stderr
            for center in CENTERS:  # what tells a restored copy whether the original still lives
                assert _witnessed(lab_config, center), f"the original's lease witness never reached {center}"
        finally:
            serving.send_signal(signal.SIGTERM)  # the ministry's control plane is gone
            serving.wait(timeout=60)
        made.shares = [
            (folder / "kit.egovkit.shares" / f"share-{n}-of-3.txt").read_text(encoding="utf-8") for n in (1, 2, 3)
        ]
        yield made
    finally:
        for center in CENTERS:
            mine = " ".join(f"{CP_FOLDER}/{name}" for name in (f"controlplane-*-{token}", "leader-lease.json",
                            "leader-lease.json.tmp", "audit-anchors.log", "audit-anchors.before-recovery-*.log"))
            exec_in_host(lab_config, center, ["sh", "-c", f"rm -rf {mine}"])
        for center, path in aside:
            exec_in_host(lab_config, center, ["mv", "-f", f"{path}.it-{token}", path])
