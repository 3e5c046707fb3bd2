"""Alert-driven runbooks: validation, links in notifications, claimed and rate-limited automatic starts."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from controlplane.errors import ConfigError
from controlplane.monitoring import alert_actions, autorun
from controlplane.monitoring.spec_loader import load_monitoring
from controlplane.runbook.catalog import RunbookFolder
from tests.conftest import REPO
from tests.unit.monitoring.conftest import Recorder
from tests.unit.monitoring.helpers import PROBES, T0, make_spec, seconds, ssh_result, write_monitoring

RUNBOOK_RULE = {
    "alert": "PortalNodeDown",
    "probe": "ssh",
    "for": "10s",
    "severity": "critical",
    "annotations": {"summary": "{host} down"},
    "runbook": {"name": "failover-portal", "auto": "drill", "params": {"primary": "{host}"}, "min_interval": "30m"},
}


def rules(**runbook: Any) -> dict[str, Any]:
    """rules.yml with one ssh rule naming failover-portal (its runbook block updated with ``runbook``)."""
    return {"rules": [{**RUNBOOK_RULE, "runbook": {**RUNBOOK_RULE["runbook"], **runbook}}]}


class FakeEngine:
    """Stands in for the runbook engine: records each start and hands out run ids."""

    def __init__(self) -> None:
        self.starts: list[autorun.AutoStart] = []
        self.lock = threading.Lock()

    def __call__(self, start: autorun.AutoStart, on_run: Any) -> None:
        with self.lock:
            self.starts.append(start)
            run_id = 100 + len(self.starts)
        on_run(run_id)


@pytest.fixture
def build(site, site_store, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build Monitors on one store whose rule names a runbook (a second one is a restart or a rival)."""
    from controlplane.cli.monitor import inline_alert_runner  # the real engine, as `egov monitor run` starts it
    from controlplane.inventory import load_inventory
    from controlplane.monitoring.service import Monitor

    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    made: list[Any] = []

    def make(engine: Any = None, recorder: Recorder | None = None, **runbook: Any) -> Any:
        spec = make_spec(tmp_path / "monitoring", rules=rules(**runbook))
        monitor = Monitor(site, site_store, spec=spec, inventory=inventory, pool=object(),
                          resolve=lambda ref: "token-value", senders={"webhook": recorder or Recorder()},
                          autorunner=engine or inline_alert_runner(site, site_store, inventory))  # fmt: skip
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        monitor.autorunner.join(60)
        monitor.close()


def fire(monitor: Any, host: str = "mn-portal-1", start: float = 0.0) -> None:
    """A failing ssh result for ``host``, evaluated until the rule's 10 s have passed."""
    monitor.record([ssh_result(host, False, at=T0 + seconds(start))])
    for offset in (0, 5, 10):
        monitor.evaluate(T0 + seconds(start + offset))
    monitor.autorunner.join(10)


def heal(monitor: Any, host: str = "mn-portal-1", at: float = 0.0) -> None:
    """A passing ssh result, evaluated: the alert resolves."""
    monitor.record([ssh_result(host, True, at=T0 + seconds(at))])
    monitor.evaluate(T0 + seconds(at))


def audit_rows(store: Any, action: str) -> list[Any]:
    """The audit records of an action, oldest first, with their details parsed."""
    import json
    from types import SimpleNamespace

    from controlplane.store.models import AuditRecord

    with store.session() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq))
        return [
            SimpleNamespace(actor=r.actor, target=r.target, outcome=r.outcome, details=json.loads(r.details))
            for r in rows
        ]


# -- the rule's runbook block is validated against the runbooks that exist ----------------------------------
def test_a_rule_naming_an_unknown_runbook_or_parameter_is_refused_with_file_and_key(tmp_path: Path) -> None:
    folder = write_monitoring(
        tmp_path / "m",
        rules={"rules": [
            {**RUNBOOK_RULE, "runbook": {"name": "failover-portl"}},
            {**RUNBOOK_RULE, "alert": "Other", "runbook": {"name": "failover-portal", "params": {"primry": "x"}}},
            {**RUNBOOK_RULE, "alert": "Third", "runbook": {"name": "isolate-host", "auto": "run"}},
        ]},
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_monitoring(folder, ("oncall", "lead", "webhook"), runbooks=RunbookFolder(REPO / "runbooks"))
    text = str(caught.value)
    assert "rules.yml: rules[0].runbook.name: unknown runbook 'failover-portl'" in text
    assert "failover-portal" in text.split("rules[0]")[1]  # the known runbooks are named
    assert "rules[1].runbook.params.primry: runbook failover-portal has no parameter 'primry'" in text
    assert "rules[2].runbook.auto: runbook isolate-host needs a second approver" in text


def test_a_bad_auto_mode_is_a_schema_error_and_auto_true_means_dry_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_spec(tmp_path / "bad", rules=rules(auto="sometimes"))
    assert "rules[0].runbook.auto" in str(caught.value)
    spec = make_spec(tmp_path / "good", rules=rules(auto=True))
    assert spec.rules[0].runbook is not None and spec.rules[0].runbook.auto == "dry-run"
    assert spec.rules[0].runbook.min_interval == 1800


def test_the_shipped_portal_rule_names_failover_portal_for_the_primary_and_starts_nothing_by_itself() -> None:
    spec = load_monitoring(REPO / "monitoring", ("oncall", "oncall-lead"), runbooks=RunbookFolder(REPO / "runbooks"))
    [rule] = [r for r in spec.rules if r.runbook is not None]
    assert rule.alert == "PortalHTTPDown" and rule.runbook is not None
    assert (rule.runbook.name, rule.runbook.auto) == ("failover-portal", "off")
    assert rule.runbook.host_vars == {"portal_priority": "primary"}


def test_monitor_check_exits_2_naming_the_file_and_key(site, capsys) -> None:  # type: ignore[no-untyped-def]
    from controlplane.cli import main

    write_monitoring(site.monitoring, probes={"probes": PROBES}, rules=rules(name="no-such-book"))
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(site.source), "monitor", "check"])
    assert exited.value.code == 2
    assert "rules.yml: rules[0].runbook.name: unknown runbook 'no-such-book'" in capsys.readouterr().err


# -- links ----------------------------------------------------------------------------------------------------
def test_every_notification_links_to_the_runbook_console_page_and_the_run(build, site_store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring.payload import markdown, plain_text

    recorder, engine = Recorder(), FakeEngine()
    monitor = build(engine, recorder)
    fire(monitor)
    for offset in (11, 20):
        monitor.evaluate(T0 + seconds(offset))
    monitor.deliver(T0 + seconds(20))
    [(_receiver, payload)] = recorder.calls
    notes = payload["alerts"][0]["annotations"]
    assert notes["runbook"] == "failover-portal"
    assert notes["runbook_url"] == "/runbooks/failover-portal"
    assert notes["runbook_run"] == "/runbooks/runs/101" and notes["runbook_run_id"] == "101"
    assert "[failover-portal](/runbooks/failover-portal)" in markdown(payload)
    assert "runbook_run: /runbooks/runs/101" in plain_text(payload)
    [row] = alert_actions.list_alerts(site_store, monitor.spec, state="firing", now=T0 + seconds(20))
    assert row["annotations"]["runbook_run"] == "/runbooks/runs/101"  # the console alert page shows the run


def test_the_links_are_absolute_when_the_site_has_an_external_url(site, site_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = make_spec(tmp_path / "m", rules=rules(auto="off"))
    linked = autorun.with_runbook_links(spec, "https://egov.example/")
    assert linked.rules[0].annotations["runbook_url"] == "https://egov.example/runbooks/failover-portal"
    explicit = make_spec(tmp_path / "n", rules={"rules": [
        {**RUNBOOK_RULE, "annotations": {"runbook_url": "https://wiki.example/portal"}}]})  # fmt: skip
    assert autorun.with_runbook_links(explicit, "").rules[0].annotations["runbook_url"] == "https://wiki.example/portal"


# -- automatic starts -----------------------------------------------------------------------------------------
def test_a_firing_alert_starts_its_runbook_once_in_the_rules_mode_with_rendered_params(build, site_store) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine()
    monitor = build(engine)
    fire(monitor)
    for offset in range(15, 300, 15):  # still firing: no second start
        monitor.evaluate(T0 + seconds(offset))
    monitor.autorunner.join(10)
    [start] = engine.starts
    assert start.mode == "drill" and start.params == {"primary": "mn-portal-1"}
    assert autorun.actor_of(start.rule) == "alert:PortalNodeDown"
    [audited] = audit_rows(site_store, "alert.runbook")
    assert (audited.actor, audited.target, audited.outcome) == ("alert:PortalNodeDown", "failover-portal", "started")
    assert audited.details["run_id"] == 101 and audited.details["mode"] == "drill"


def test_auto_off_links_but_starts_nothing(build) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine()
    fire(build(engine, auto="off"))
    assert engine.starts == []


def test_a_second_episode_within_min_interval_is_rate_limited_even_after_a_restart(build, site_store) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine()
    monitor = build(engine)
    fire(monitor)
    heal(monitor, at=60)
    restarted = build(engine)  # a new monitor process: the limit lives in the store
    fire(restarted, start=120)
    assert len(engine.starts) == 1
    skipped = [r for r in audit_rows(site_store, "alert.runbook") if r.outcome == "skipped"]
    assert len(skipped) == 1 and "rate limited" in skipped[0].details["reason"]
    heal(restarted, at=200)
    fire(restarted, start=1800 + 10)  # past min_interval: a new start
    assert len(engine.starts) == 2


def test_two_monitors_on_one_store_start_the_runbook_once(build) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine()
    first, second = build(engine), build(engine)
    for monitor in (first, second):
        monitor.record([ssh_result("mn-portal-1", False)])
        monitor.evaluate(T0)
    barrier = threading.Barrier(2)

    def evaluate(monitor: Any) -> None:
        barrier.wait()
        monitor.evaluate(T0 + seconds(10))

    threads = [threading.Thread(target=evaluate, args=(m,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    first.autorunner.join(10)
    second.autorunner.join(10)
    assert len(engine.starts) == 1


def test_a_silenced_alert_or_a_host_without_the_wanted_variables_starts_nothing(build, site_store) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine()
    alert_actions.create_silence(site_store, ["host=mn-portal-1"], author="li.wei", comment="maintenance",
                       starts_at=T0 - seconds(60), duration=7200)  # fmt: skip
    fire(build(engine))
    assert engine.starts == []
    assert [r.outcome for r in audit_rows(site_store, "alert.runbook")] == ["skipped"]
    fire(build(engine, host_vars={"portal_priority": "primary"}), host="mn-portal-2")
    assert engine.starts == []


def test_the_start_does_not_block_the_monitor_loop(build) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow(start: autorun.AutoStart, on_run: Any) -> None:
        on_run(7)
        release.wait(30)

    monitor = build(slow)
    monitor.record([ssh_result("mn-portal-1", False)])
    monitor.evaluate(T0)
    import time

    began = time.monotonic()
    monitor.evaluate(T0 + seconds(10))
    monitor.evaluate(T0 + seconds(11))
    assert time.monotonic() - began < 5
    assert any(t.is_alive() for t in monitor.autorunner.threads)
    release.set()


def test_a_real_dry_run_of_failover_portal_is_a_journalled_runbook_run_by_the_alert(build, site_store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.runbook.journal import read_journal
    from controlplane.store.models import Run

    monitor = build(None, auto="dry-run", params={})
    fire(monitor)
    monitor.autorunner.join(60)
    with site_store.session() as session:
        [run] = session.scalars(select(Run).where(Run.kind == "runbook")).all()
        run_id, actor, trigger, status = run.id, run.actor, run.trigger, run.status
    assert (actor, trigger, status) == ("alert:PortalNodeDown", "alert", "succeeded")
    journal = read_journal(site_store, run_id)
    assert any(e["phase"] == "method" and e["status"] == "planned" for e in journal["entries"])
    assert autorun.link_for(site_store, monitor_fingerprint(site_store))["run_id"] == run_id


def test_a_refused_start_is_audited_and_shown_on_the_alert(build, site_store) -> None:  # type: ignore[no-untyped-def]
    monitor = build(None, auto="dry-run", params={"primary": "no-such-host"})
    fire(monitor)
    monitor.autorunner.join(30)
    refused = [r for r in audit_rows(site_store, "alert.runbook") if r.outcome == "refused"]
    assert len(refused) == 1 and "no-such-host" in refused[0].details["error"]
    monitor.evaluate(T0 + seconds(15))
    [row] = alert_actions.list_alerts(site_store, monitor.spec, state="firing", now=T0 + seconds(15))
    assert "refused" in row["annotations"]["runbook_auto"]


def monitor_fingerprint(store: Any) -> str:
    """The fingerprint of the only stored alert."""
    from controlplane.monitoring.models import AlertRecord

    with store.session() as session:
        [row] = session.scalars(select(AlertRecord)).all()
        return row.fingerprint


def test_yaml_off_unquoted_is_off(tmp_path: Path) -> None:
    folder = write_monitoring(tmp_path / "m", rules=rules())
    (folder / "rules.yml").write_text(yaml.safe_dump(rules()).replace("auto: drill", "auto: off"), encoding="utf-8")
    spec = load_monitoring(folder, ("oncall", "lead", "webhook"))
    assert spec.rules[0].runbook is not None and spec.rules[0].runbook.auto == "off"


def test_the_prometheus_export_carries_the_runbook_link(tmp_path: Path) -> None:
    from controlplane.monitoring.export import rules_document

    spec = make_spec(tmp_path / "m", rules=rules(auto="off"))
    [group] = rules_document(spec)["groups"]
    notes = group["rules"][0]["annotations"]
    assert notes["runbook"] == "failover-portal" and notes["runbook_url"] == "/runbooks/failover-portal"


def test_an_alert_on_a_provinces_host_cannot_start_a_runbook_on_another_sites_hosts(build, site_store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.store.models import Run

    monitor = build(None, auto="dry-run", params={"primary": "mn-portal-1", "standby": "mn-portal-2"})
    fire(monitor, host="gd-edu-1")
    monitor.autorunner.join(30)
    with site_store.session() as session:
        assert session.scalars(select(Run).where(Run.kind == "runbook")).all() == []
    [refused] = [r for r in audit_rows(site_store, "alert.runbook") if r.outcome == "refused"]
    assert "is no host in your scope" in refused.details["error"]
