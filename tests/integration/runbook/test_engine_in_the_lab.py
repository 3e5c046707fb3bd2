"""The engine against real lab hosts: rollback, dry-run, kill -9, locks, cancel."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.runbook.cli import egov, egov_argv
from tests.integration.runbook.conftest import PRIMARY, VIP, RunbookSite, http_body, wait_for
from tests.integration.runbook.test_portal_runbooks import execute

pytestmark = [pytest.mark.root, pytest.mark.lab]

HERE = Path(__file__).parent
MARK = "/tmp/egov-slow-drill.mark"


def test_a_step_made_to_fail_rolls_the_completed_steps_back_in_reverse(portal: RunbookSite) -> None:
    from controlplane.inventory import load_inventory
    from controlplane.runbook.definition import Step
    from controlplane.runbook.engine import execute as run_engine
    from controlplane.runbook.journal import read_journal
    from controlplane.runbook.loader import get_runbook
    from controlplane.store import open_store

    def fail(ctx: Any) -> None:
        ctx.fail("made to fail by the test")

    shipped = get_runbook(portal.config.runbooks, "failover-portal")
    broken = dataclasses.replace(shipped, steps=[*shipped.steps, Step("a step made to fail", fail, timeout=5)])
    store = open_store(portal.config)
    try:
        result = run_engine(
            portal.config,
            store,
            load_inventory(portal.config.inventory),
            broken,
            mode="run",
            actor="tester",
            confirmed=True,
        )
        journal = read_journal(store, result.run_id)
    finally:
        store.close()
    assert result.status == "failed"
    assert "made to fail by the test" in (result.error or "")
    rollbacks = [e["name"] for e in journal["entries"] if e["phase"] == "rollback"]
    assert rollbacks == [
        "claim the VIP on the standby",
        "release the VIP on the primary",
        "announce the failover",
        "check the standby's health and content",
    ]
    statuses = {e["name"]: e["status"] for e in journal["entries"] if e["phase"] == "rollback"}
    assert statuses["claim the VIP on the standby"] == "succeeded"
    assert statuses["announce the failover"] == "skipped"  # no rollback declared
    assert portal.vip_holders() == [PRIMARY]
    assert wait_for(lambda: http_body(VIP) == portal.content[PRIMARY])
    assert journal["run"]["summary"]["steady_state_after"] is True


def _lab_snapshot(site: RunbookSite) -> dict[str, Any]:
    """Every lab host's addresses, firewall and written files."""
    from controlplane.lab import load_spec

    spec = load_spec(site.lab_config)
    state: dict[str, Any] = {}
    for host in spec.hosts:
        files = []
        for path in sorted(host.upper.rglob("*")):
            # Only where the shipped runbooks write (service content, configuration, restores): the
            # lab is shared, and other sessions' daemons and playbooks write under /var, /tmp and /root
            # at any time. That no command reaches any host at all is shown by
            # test_a_dry_run_never_calls_a_host below.
            relative = path.relative_to(host.upper).parts
            if path.is_symlink() or not path.exists() or relative[:1] not in (("srv",), ("etc",)):
                continue
            info = path.stat()
            files.append((str(path.relative_to(host.upper)), info.st_size, info.st_mtime_ns, info.st_mode))
        state[host.name] = {
            "addresses": site.exec(host.name, ["ip", "-o", "addr", "show"]).stdout,
            "nft": site.exec(host.name, ["nft", "list", "ruleset"]).stdout,
            "files": {path: rest for path, *rest in files},
        }
    return state


def journal_targets(site: RunbookSite, stdout: str) -> list[str]:
    """The targets of the run whose id the CLI printed ("run N: status")."""
    run_id = stdout.split("run ")[-1].split(":")[0]
    return json.loads(egov(site.config_path, "runbook", "journal", run_id, "--format", "json").stdout)["targets"]


@pytest.mark.parametrize(
    "name", ["failover-portal", "failback-portal", "isolate-host", "restore-to-dr", "backup-center-failover"]
)
def test_a_dry_run_leaves_every_lab_host_exactly_as_it_was(portal: RunbookSite, name: str) -> None:
    before = _lab_snapshot(portal)
    args = ["--param", "host=mn-db-1"] if name == "isolate-host" else []
    result = egov(portal.config_path, "runbook", "run", name, "--dry-run", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    after = _lab_snapshot(portal)
    assert {h: (v["addresses"], v["nft"]) for h, v in after.items()} == {
        h: (v["addresses"], v["nft"]) for h, v in before.items()
    }
    changed = {
        host: sorted(
            p
            for p in set(before[host]["files"]) | set(after[host]["files"])
            if before[host]["files"].get(p) != after[host]["files"].get(p)
        )
        # Files only on the runbook's targets: other sessions (backups, playbooks) write elsewhere at any time.
        for host in journal_targets(portal, result.stdout)
    }
    assert {host: paths for host, paths in changed.items() if paths} == {}
    run_id = int(result.stdout.split("run ")[-1].split(":")[0])
    plan = egov(portal.config_path, "runbook", "journal", str(run_id), "--format", "json")
    journal = json.loads(plan.stdout)
    assert journal["mode"] == "dry-run" and journal["run"]["dry_run"] is True
    assert {e["status"] for e in journal["entries"] if e["phase"] in ("method", "verify")} == {"planned"}
    assert "rto_seconds" not in journal["figures"]


@pytest.mark.parametrize("name", ["failover-portal", "isolate-host", "restore-to-dr", "backup-center-failover"])
def test_a_dry_run_never_calls_a_host(site: RunbookSite, name: str) -> None:
    from controlplane.runbook.adapters import HostResult, default_adapters
    from controlplane.store import open_store

    calls: list[tuple[str, list[str]]] = []

    class Recording:
        def run(self, host: Any, argv: list[str], *, timeout: float, input_text: str | None = None) -> HostResult:
            calls.append((host.name, argv))
            return HostResult(host.name, argv, 0)

        def close(self) -> None:
            pass

    store = open_store(site.config)
    adapters = default_adapters(site.config, store, "tester")
    adapters.hosts = Recording()
    store.close()
    params = {"host": "mn-db-1"} if name == "isolate-host" else {}
    result = execute(site, name, "dry-run", params=params, adapters=adapters)
    assert result.status == "succeeded", result.error
    assert calls == []


@pytest.fixture
def slow_site(site: RunbookSite) -> RunbookSite:
    """The site with the test runbooks folder (slow-drill)."""
    from controlplane.config import load_config

    data = yaml.safe_load(site.config_path.read_text(encoding="utf-8"))
    data["folders"]["runbooks"] = str(HERE / "runbooks")
    site.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    site.config = load_config(site.config_path)
    return site


def _journal_entry(site: RunbookSite, name: str) -> tuple[str, str] | None:
    """(status, output) of the newest journal entry called ``name`` (read straight from the store)."""
    from sqlalchemy import select

    from controlplane.runbook.models import JournalEntry
    from controlplane.store import Store, create_store_engine

    store = Store(create_store_engine(site.config.database_url))
    try:
        with store.session() as session:
            entry = session.scalars(
                select(JournalEntry).where(JournalEntry.name == name).order_by(JournalEntry.id.desc())
            ).first()
            return (entry.status, entry.output or "") if entry else None
    except Exception:
        return None
    finally:
        store.close()


def _journal_status(site: RunbookSite, name: str) -> str | None:
    """The status of the newest journal entry called ``name``."""
    entry = _journal_entry(site, name)
    return entry[0] if entry else None


def _start_slow(site: RunbookSite, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        egov_argv(site.config_path, "runbook", "drill", "slow-drill", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: _journal_status(site, "hold") == "running", timeout=20), process.stderr
    return process


def test_a_journal_survives_kill_9_and_the_run_shows_as_interrupted(slow_site: RunbookSite) -> None:
    process = _start_slow(slow_site)
    try:
        # Kill only once the step's first line is in the store: that is what must survive.
        assert wait_for(lambda: "holding the target" in (_journal_entry(slow_site, "hold") or ("", ""))[1], timeout=20)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        history = json.loads(egov(slow_site.config_path, "runbook", "history", "--json").stdout)
        assert history[0]["status"] == "interrupted"
        journal = json.loads(
            egov(slow_site.config_path, "runbook", "journal", str(history[0]["run_id"]), "--format", "json").stdout
        )
        steps = [(e["phase"], e["name"], e["status"]) for e in journal["entries"]]
        assert ("method", "mark the host", "succeeded") in steps
        assert steps[-1] == ("method", "hold", "interrupted")
        assert "holding the target" in journal["entries"][-1]["output"]
        markdown = egov(slow_site.config_path, "runbook", "journal", str(history[0]["run_id"]), "--format", "md")
        assert "| hold | 1 | interrupted |" in markdown.stdout
        # The dead run's lock is stale: the next runbook on the host is not refused.
        again = egov(slow_site.config_path, "runbook", "drill", "slow-drill", "--param", "wait=0.5")
        assert "held by" not in again.stderr
    finally:
        process.kill()
        slow_site.exec("mn-db-1", ["rm", "-f", MARK])


def test_a_second_runbook_on_the_same_target_is_refused_naming_the_holder_and_cancel_rolls_back(
    slow_site: RunbookSite,
) -> None:
    first = _start_slow(slow_site)
    try:
        history = json.loads(egov(slow_site.config_path, "runbook", "history", "--json").stdout)
        holder = history[0]["run_id"]
        second = egov(slow_site.config_path, "runbook", "drill", "slow-drill", "--param", "wait=1")
        assert second.returncode == 1
        assert f"mn-db-1 is held by runbook slow-drill (run {holder}, running) started by" in second.stderr
        assert slow_site.exec("mn-db-1", ["test", "-e", MARK]).ok  # the first run's mark is still there
        cancelled = egov(slow_site.config_path, "runbook", "cancel", str(holder))
        assert cancelled.returncode == 0, cancelled.stderr
        first.wait(30)
        assert first.returncode == 1
        rows = {
            row["run_id"]: row for row in json.loads(egov(slow_site.config_path, "runbook", "history", "--json").stdout)
        }
        assert rows[holder]["status"] == "cancelled"
        assert "held by" in rows[holder + 1]["error"]
        assert not slow_site.exec("mn-db-1", ["test", "-e", MARK]).ok  # rolled back
    finally:
        first.kill()
        slow_site.exec("mn-db-1", ["rm", "-f", MARK])
