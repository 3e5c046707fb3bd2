"""An alert wired to failover-portal with auto drill starts it when the primary portal fails (real lab hosts)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.runbook.autorun import ALERT, alert_runs, running_monitor, write_portal_monitoring
from tests.integration.runbook.conftest import PRIMARY, STANDBY, VIP, RunbookSite, http_body, wait_for
from tests.integration.runbook.test_portal_runbooks import Poller

pytestmark = [pytest.mark.root, pytest.mark.lab]


def test_the_portal_alert_starts_a_drill_of_failover_portal_that_fails_over_and_back(
    portal: RunbookSite, tmp_path: Path
) -> None:
    from controlplane.lab import manager
    from controlplane.monitoring import alert_actions
    from controlplane.runbook.journal import read_journal
    from controlplane.store.models import RunStatus

    folder = write_portal_monitoring(tmp_path / "monitoring", mode="drill")
    service = portal.services[PRIMARY]
    with running_monitor(portal, folder) as monitor, Poller() as poller:
        time.sleep(2.5)  # healthy probes first: nothing fires, nothing starts
        assert alert_runs(monitor.store) == []
        manager.fault(portal.lab_config, PRIMARY, "down", service=service)
        try:
            started = wait_for(lambda: alert_runs(monitor.store), timeout=30, interval=0.2)
            assert started, "the alert did not start failover-portal"
            run_id = started[0].id
            finished = wait_for(
                lambda: [r for r in alert_runs(monitor.store) if r.status in RunStatus.FINAL], timeout=120, interval=0.5
            )
            assert finished, "the drill did not finish"
            holders_after_drill = portal.vip_holders()
            # The alert links to its run; the rule's rate limit keeps it to one start.
            firing = alert_actions.list_alerts(monitor.store, monitor.spec, state="firing")
            assert [a["labels"]["host"] for a in firing] == [PRIMARY]
            assert firing[0]["annotations"]["runbook_run"] == f"/runbooks/runs/{run_id}"
            assert firing[0]["annotations"]["runbook_url"] == "/runbooks/failover-portal"
        finally:
            manager.fault(portal.lab_config, PRIMARY, "up", service=service)
        assert wait_for(lambda: http_body(VIP) == portal.content[PRIMARY], timeout=15), "the primary is not back"
        [run] = alert_runs(monitor.store)
        assert (run.trigger, run.params["mode"], run.params["targets"]) == ("alert", "drill", [PRIMARY, STANDBY])
        assert run.status == RunStatus.SUCCEEDED, run.summary
        summary = run.summary
        assert summary["drill"] is True and summary["drill_restore_failed"] == []
        assert summary["steady_state_before"] is True and summary["steady_state_after"] is True
        assert summary["figures"]["rto_seconds"] > 0
        # Clients saw the standby's content through the VIP during the drill, and the drill failed back.
        assert portal.content[STANDBY] in poller.bodies()
        assert holders_after_drill == [PRIMARY]
        journal = read_journal(monitor.store, run.id)
        phases = [(e["phase"], e["status"]) for e in journal["entries"]]
        assert ("verify", "succeeded") in phases and ("drill-restore", "succeeded") in phases
        from tests.unit.monitoring.test_autorun import audit_rows

        [audited] = [r for r in audit_rows(monitor.store, "alert.runbook") if r.outcome == "started"]
        assert audited.actor == f"alert:{ALERT}" and audited.details["run_id"] == run.id
