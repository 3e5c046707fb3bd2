"""`egov recover` on the lab's DR host (dr-app-1) from a 2-of-3 kit and the backup center alone.

The ministry's console is stopped (conftest); the recovery runs inside
dr-app-1 (nsenter into the lab host, which sees this machine's code), with
the shares on stdin. Refusals first (they write nothing), then the recovery,
then the restored console and data are checked from outside, the lapse of
the original's lease makes the copy active, and it is torn down. Last, the
drill runbook runs from the ministry's site and records RPO and RTO.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from controlplane.recovery.drill import console_login
from controlplane.recovery.remote import egov_argv

if TYPE_CHECKING:
    from tests.integration.recovery.conftest import Site

pytestmark = [pytest.mark.root, pytest.mark.lab]

DR = "dr-app-1"
PORT = 8091


def _folder(site: Site) -> str:
    return f"/var/lib/egov-it-recover-{site.token}"


def _recover(site: Site, shares: list[str], *extra: str) -> object:
    folder = _folder(site)
    site.on(DR, ["install", "-d", "-m", "0700", folder])
    site.on(DR, ["dd", f"of={folder}/kit.egovkit", "status=none"], input_text=site.kit.read_text(encoding="utf-8"))
    argv = [*egov_argv(), "recover", "--kit", f"{folder}/kit.egovkit", "--into", f"{folder}/site", *extra]
    return site.on(DR, argv, input_text="\n".join(shares))


def _restored(site: Site, *args: str, input_text: str | None = None) -> object:
    return site.on(DR, [*egov_argv(), "--config", f"{_folder(site)}/site/egov.yml", *args], input_text=input_text)


def _root_pem(site: Site) -> str:
    """The lost control plane's CA certificate: what its restored copy's console must chain to."""
    from controlplane.config import load_config

    return (load_config(site.config_path).state_dir / "pki" / "root.pem").read_text(encoding="ascii")


def _address(site: Site) -> str:
    from controlplane.inventory import load_inventory

    return str(load_inventory(site.lab_config.inventory).host(DR).address)


def test_a_mistyped_share_is_refused_naming_its_group(site: Site) -> None:
    line = next(text for text in site.shares[1].splitlines() if text and not text.startswith("#"))
    wrong = line[:7] + ("0" if line[7] != "0" else "1") + line[8:]
    result = _recover(site, [site.shares[0], wrong], "--no-start")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "share 2: group 2" in result.stderr and "mistyped" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_one_share_is_refused_below_the_threshold(site: Site) -> None:
    result = _recover(site, [site.shares[2]], "--no-start")
    assert result.exit_code == 2
    assert "2 shares are needed (threshold 2 of 3), 1 given" in result.stderr


def test_two_shares_restore_a_passive_console_with_the_same_data(site: Site) -> None:
    address = _address(site)
    result = _recover(site, [site.shares[0], site.shares[2]], "--host", address, "--port", str(PORT), "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    # The copy serves HTTPS with the lost control plane's own CA, as the original did.
    assert outcome["mode"] == "passive" and outcome["console"] == f"https://{address}:{PORT}"
    assert set(outcome["parts"]) == {"fetch", "restore", "verify", "start"}
    assert outcome["checked"]["secrets"] >= 3 and outcome["checked"]["audit_records"] > 5
    assert outcome["rpo_seconds"] < 600
    page = console_login(outcome["console"], "alice", site.password, ca_pem=_root_pem(site))
    assert "PASSIVE" in page
    assert _restored(site, "secrets", "get", "app.token").stdout.strip() == site.secret_value
    verified = _restored(site, "audit", "verify")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    runs = json.loads(_restored(site, "runs", "list", "--json").stdout)
    assert any(run["kind"] == "backup" for run in runs)
    audit = json.loads(_restored(site, "audit", "list", "--json", "--limit", "20").stdout)
    assert any(record["action"] == "recovery.recover" for record in audit)
    assert any(record["action"] == "secret.set" for record in json.loads(
        _restored(site, "audit", "list", "--json", "--limit", "500").stdout))  # fmt: skip
    status = _restored(site, "recovery", "status", "--json")
    assert json.loads(status.stdout)["state"] == "used"


def test_the_copy_becomes_active_once_the_originals_lease_has_lapsed(site: Site) -> None:
    import datetime as dt

    from controlplane.recovery.witness import document

    stale = document("ministry:1", "ministry-it", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    for center in ("bc-backup-1", "dr-backup-1"):
        site.on(center, ["dd", "of=/srv/restic/controlplane/controlplane/leader-lease.json", "status=none"],
                input_text=stale)  # fmt: skip
    address = _address(site)
    deadline = time.monotonic() + 60
    page = ""
    while time.monotonic() < deadline:
        page = console_login(f"https://{address}:{PORT}", "alice", site.password, ca_pem=_root_pem(site))
        if "ACTIVE (restored control plane)" in page:
            break
        time.sleep(2)
    assert "lapsed" in page, page[-2000:]
    audit = json.loads(_restored(site, "audit", "list", "--json", "--limit", "20").stdout)
    assert any(record["action"] == "recovery.activate" and record["actor"] == "system" for record in audit)
    verified = _restored(site, "audit", "verify")
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def test_zz_the_copy_is_torn_down(site: Site) -> None:
    stopped = _restored(site, "recovery", "stop")
    assert stopped.exit_code == 0 and "stopped" in stopped.stdout
    assert site.on(DR, ["rm", "-rf", "--one-file-system", _folder(site)]).exit_code == 0


def test_zz_the_drill_runbook_restores_checks_and_tears_down_recording_rpo_and_rto(site: Site) -> None:
    params = [f"database_dataset={site.dataset('db')}", f"restore_dir=/var/lib/egov-it-drill-{site.token}"]
    result = site.egov("runbook", "drill", "recover-controlplane", "-p", params[0], "-p", params[1], "--json",
                       timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    journal = json.loads(result.stdout[result.stdout.find("{") :])
    figures = journal.get("figures") or {}
    assert figures["rpo_seconds"] < 300 and 0 < figures["console_rto_seconds"] < 300, figures
    assert site.on(DR, ["test", "-e", f"/var/lib/egov-it-drill-{site.token}"]).exit_code == 1
