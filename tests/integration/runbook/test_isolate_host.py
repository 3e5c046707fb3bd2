"""isolate-host on a real lab host: firewall, evidence, credential rotation, undone by the drill."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.runbook.conftest import ADDRESS, RunbookSite
from tests.integration.runbook.test_portal_runbooks import execute

pytestmark = [pytest.mark.root, pytest.mark.lab]

HOST, PEER = "mn-db-1", "mn-oa-1"
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], 22), timeout=1).close()\n"
    "    print('reached')\n"
    "except OSError:\n"
    "    print('blocked')\n"
)


def peer_reaches(site: RunbookSite) -> str:
    """Whether another lab host reaches the isolated host's SSH port."""
    return site.exec(PEER, ["python3", "-c", PROBE, ADDRESS[HOST]]).stdout.strip()


def test_a_drill_of_isolate_host_cuts_all_but_the_management_path_then_undoes_it(site: RunbookSite) -> None:
    from controlplane.store import open_store
    from controlplane.vault import open_vault

    store = open_store(site.config)
    vault = open_vault(site.config, store)
    vault.set(f"host:{HOST}:root-password", "old-secret-value")
    vault.set("host:other-host:root-password", "untouched")
    seen: dict[str, Any] = {}

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "end" and event["phase"] == "verify":
            seen["peer"] = peer_reaches(site)
            seen["secret"] = vault.get(f"host:{HOST}:root-password")

    assert peer_reaches(site) == "reached"
    try:
        result = execute(site, "isolate-host", "drill", params={"host": HOST}, listener=listener)
    finally:
        site.exec(HOST, ["nft", "delete", "table", "inet", "egov_isolate"])
    from controlplane.runbook.journal import read_journal

    journal = read_journal(store, result.run_id)
    assert result.status == "succeeded", result.error
    assert seen["peer"] == "blocked"  # during the incident only the management path was open
    assert seen["secret"] != "old-secret-value"  # the host's credential was rotated
    assert peer_reaches(site) == "reached"  # the drill undid the firewall
    assert vault.get(f"host:{HOST}:root-password") == "old-secret-value"  # and put the old value back
    assert vault.get("host:other-host:root-password") == "untouched"
    evidence = next(e for e in journal["entries"] if e["name"] == "collect evidence")
    text = "\n".join(evidence["output"])
    assert "=== processes ===" in text and "sshd" in text
    assert "=== connections ===" in text
    assert "old-secret-value" not in str(journal)  # values never reach the journal
    assert result.figures["credentials_rotated"] == 1
    store.close()
