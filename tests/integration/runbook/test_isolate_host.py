"""isolate-host on a real lab host: firewall, evidence, credential rotation, undone by the drill.

The vault holds the isolated host's credentials, another host's and two
restic repository passwords. Rotation touches only the isolated host's
(``host:mn-db-1:``), after a drill and after a real run alike. A drill keeps
the old values in the vault until it ends; one killed with SIGKILL after
the rotation gets them back from ``egov runbook recover``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.runbook.cli import egov, egov_argv
from tests.integration.runbook.conftest import ADDRESS, REPO, RunbookSite
from tests.integration.runbook.test_portal_runbooks import execute

pytestmark = [pytest.mark.root, pytest.mark.lab]

HOST, PEER = "mn-db-1", "mn-oa-1"
OWN = {f"host:{HOST}:root-password": "old-secret-value", f"host:{HOST}:db-admin": "old-db-admin"}
OTHERS = {
    f"host:{PEER}:root-password": "another host's credential",
    f"restic:ministry:{HOST}:databases": "the repository password of this host",
    "restic:province-gd:gd-edu-1:oa-data": "another repository password",
}
RESERVED = "runbook-drill."
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], 22), timeout=1).close()\n"
    "    print('reached')\n"
    "except OSError:\n"
    "    print('blocked')\n"
)
# isolate-host with one more step after the rotation that waits (up to 2 minutes) for the test to kill it.
SLOW = f'''
import importlib.util
import time
from dataclasses import replace

from controlplane.runbook.definition import Step

_spec = importlib.util.spec_from_file_location("isolate_host_base", "{REPO / "runbooks" / "isolate-host.py"}")
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)


def hold(ctx):
    ctx.log("holding for the test")
    while True:
        ctx.check_cancel()
        time.sleep(0.2)


RUNBOOK = replace(
    _base.RUNBOOK, name="isolate-host-slow", steps=(*_base.RUNBOOK.steps, Step("hold", hold, timeout=120))
)
'''


def peer_reaches(site: RunbookSite) -> str:
    """Whether another lab host reaches the isolated host's SSH port."""
    return site.exec(PEER, ["python3", "-c", PROBE, ADDRESS[HOST]]).stdout.strip()


def open_vault(site: RunbookSite) -> tuple[Any, Any]:
    from controlplane.store import open_store
    from controlplane.vault import open_vault as open_site_vault

    store = open_store(site.config)
    vault = open_site_vault(site.config, store)
    for name, value in {**OWN, **OTHERS}.items():
        vault.set(name, value)
    return store, vault


def unfirewall(site: RunbookSite) -> None:
    """Take the isolation table off the host (what a real run or a killed drill leaves)."""
    site.exec(HOST, ["nft", "delete", "table", "inet", "egov_isolate"])


def test_a_drill_of_isolate_host_cuts_all_but_the_management_path_then_undoes_it(site: RunbookSite) -> None:
    store, vault = open_vault(site)
    seen: dict[str, Any] = {}

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "end" and event["phase"] == "verify":
            seen["peer"] = peer_reaches(site)
            seen["secret"] = vault.get(f"host:{HOST}:root-password")
            seen["kept"] = [name for name in vault.names() if name.startswith(RESERVED)]
            seen["others"] = {name: vault.get(name) for name in OTHERS}

    assert peer_reaches(site) == "reached"
    try:
        result = execute(site, "isolate-host", "drill", params={"host": HOST}, listener=listener)
    finally:
        unfirewall(site)
    from controlplane.runbook.journal import read_journal

    journal = read_journal(store, result.run_id)
    assert result.status == "succeeded", result.error
    assert seen["peer"] == "blocked"  # during the incident only the management path was open
    assert seen["secret"] != "old-secret-value"  # the host's credential was rotated
    assert len(seen["kept"]) == 2  # its old values waited in the vault, not in memory
    assert seen["others"] == OTHERS  # no other host's secret, no repository password was touched
    assert peer_reaches(site) == "reached"  # the drill undid the firewall
    assert {name: vault.get(name) for name in {**OWN, **OTHERS}} == {**OWN, **OTHERS}  # old values back
    assert not [name for name in vault.names() if name.startswith(RESERVED)]
    evidence = next(e for e in journal["entries"] if e["name"] == "collect evidence")
    text = "\n".join(evidence["output"])
    assert "=== processes ===" in text and "sshd" in text
    assert "=== connections ===" in text
    assert "old-secret-value" not in str(journal)  # values never reach the journal
    assert result.figures["credentials_rotated"] == 2
    store.close()


def test_a_real_run_rotates_the_hosts_credentials_for_good_and_nothing_else(site: RunbookSite) -> None:
    from controlplane.inventory import load_inventory
    from controlplane.runbook import approvals
    from controlplane.runbook.loader import get_runbook
    from controlplane.runbook.params import resolve_params

    store, vault = open_vault(site)
    runbook = get_runbook(site.config.runbooks, "isolate-host")
    params = resolve_params(runbook, {"host": HOST}, load_inventory(site.config.inventory))
    approvals.approve(store, runbook="isolate-host", params=params, approver="second-person")
    try:
        result = execute(site, "isolate-host", "run", params={"host": HOST})
        assert peer_reaches(site) == "blocked"  # a real isolation stays
    finally:
        unfirewall(site)
    assert result.status == "succeeded", result.error
    assert all(vault.get(name) != value for name, value in OWN.items())
    assert {name: vault.get(name) for name in OTHERS} == OTHERS
    assert not [name for name in vault.names() if name.startswith(RESERVED)]  # compromised values are not kept
    store.close()


def test_a_drill_killed_after_the_rotation_gets_its_old_credentials_back_from_the_recovery(
    site: RunbookSite, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from controlplane.config import load_config
    from controlplane.runbook.journal import read_journal
    from controlplane.runbook.models import JournalEntry
    from controlplane.store.models import Run

    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "isolate-host-slow.py").write_text(SLOW, encoding="utf-8")
    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    data["folders"]["runbooks"] = str(folder)
    site.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    site.config = load_config(site.config_path)
    store, vault = open_vault(site)
    argv = egov_argv(site.config_path, "runbook", "drill", "isolate-host-slow", "-p", f"host={HOST}")
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        holding = None
        while holding is None and time.monotonic() < deadline and child.poll() is None:
            with store.session() as session:
                holding = session.scalar(
                    select(JournalEntry.run_id).where(JournalEntry.name == "hold", JournalEntry.status == "running")
                )
            time.sleep(0.1)
        assert holding is not None, child.stderr.read() if child.poll() is not None else "no hold step in 90 s"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        # The crash left the host's credentials rotated and the old values only in the vault's kept records.
        assert all(vault.get(name) != value for name, value in OWN.items())
        assert len([name for name in vault.names() if name.startswith(f"{RESERVED}{holding}.")]) == 2
        recovered = egov(site.config_path, "runbook", "recover")
    finally:
        if child.poll() is None:
            child.kill()
        unfirewall(site)
    assert recovered.returncode == 0, recovered.stderr
    assert f"run {holding}: 2 credential(s) put back" in recovered.stdout
    assert {name: vault.get(name) for name in {**OWN, **OTHERS}} == {**OWN, **OTHERS}
    assert not [name for name in vault.names() if name.startswith(RESERVED)]
    with store.session() as session:
        assert session.get(Run, holding).status == "interrupted"
    entries = read_journal(store, holding)["entries"]
    assert entries[-1]["phase"] == "drill-restore" and entries[-1]["status"] == "succeeded"
    assert "old-secret-value" not in str(entries)
    store.close()
