"""Retention: old run output, deliveries and probe history go in batches; runs, new rows and the outbox stay."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from controlplane.monitoring.models import Delivery, ProbeHistory
from controlplane.retention import RetentionPolicy, apply_retention, describe, scheduled_retention
from controlplane.store.models import Run, RunOutput, RunStatus, utcnow
from tests.conftest import egov, write_config

NOW = utcnow()
OLD = NOW - dt.timedelta(days=120)
RECENT = NOW - dt.timedelta(days=1)
POLICY = RetentionPolicy(run_output_days=90, delivery_days=30, probe_days=14)


def test_with_nothing_provided_only_run_output_is_thinned(store, monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane import providers

    monkeypatch.setattr(providers, "_provided", providers.Provided())
    seed(store)
    report = apply_retention(store, POLICY, now=NOW)
    assert report.run_output_lines == 1234 and report.deliveries == 0 and report.probe_results == 0
    assert count(store, ProbeHistory) == 42


def _run(store: Any, lines: int, finished: dt.datetime | None) -> int:
    """A run with ``lines`` output lines, finished at ``finished`` (None: still running)."""
    from controlplane.runs import append_output, create_run, finish_run

    with store.session() as session:
        run = create_run(session, kind="scan", target="all", actor="t")
        append_output(session, run, [f"line {n}" for n in range(lines)])
        if finished is not None:
            finish_run(session, run, RunStatus.SUCCEEDED, summary={"hosts": 3})
            run.finished_at = finished
        else:
            run.status = RunStatus.RUNNING
        run.created_at = (finished or OLD) - dt.timedelta(minutes=5)
        return run.id


def seed(store: Any) -> dict[str, int]:
    """Old and recent rows of each kind: what retention must remove and what it must keep."""
    ids = {
        "old_run": _run(store, 1234, OLD),
        "recent_run": _run(store, 7, RECENT),
        "old_running": _run(store, 3, None),
    }
    with store.session() as session:
        for status, created in (("sent", OLD), ("failed", OLD), ("pending", OLD), ("sent", RECENT)):
            row = Delivery(receiver="oncall", group_key="g", status=status, payload={}, next_attempt_at=created)
            row.created_at = created
            session.add(row)
        for at in [OLD] * 40 + [RECENT] * 2:
            session.add(ProbeHistory(check="ping", host="mn-portal-1", success=True, duration=0.1, at=at))
    return ids


def count(store: Any, model: Any, *conditions: Any) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)))


def test_a_dry_run_counts_what_would_go_and_removes_nothing(store) -> None:
    seed(store)
    report = apply_retention(store, POLICY, dry_run=True, now=NOW)
    assert (report.run_output_lines, report.runs_purged, report.deliveries, report.probe_results) == (1234, 1, 2, 40)
    assert count(store, RunOutput) == 1234 + 7 + 3
    assert count(store, Delivery) == 4 and count(store, ProbeHistory) == 42
    assert describe(report, POLICY)[0].startswith("run output: would remove 1234 line(s) of 1 finished run(s)")


def test_old_rows_go_in_batches_new_ones_and_runs_stay(store) -> None:
    ids = seed(store)
    report = apply_retention(store, POLICY, now=NOW, batch=100)
    assert (report.run_output_lines, report.runs_purged, report.deliveries, report.probe_results) == (1234, 1, 2, 40)
    assert count(store, RunOutput, RunOutput.run_id == ids["old_run"]) == 0
    assert count(store, RunOutput, RunOutput.run_id == ids["recent_run"]) == 7
    assert count(store, RunOutput, RunOutput.run_id == ids["old_running"]) == 3  # not finished: not touched
    with store.session() as session:
        old = session.get(Run, ids["old_run"])
        assert old.status == RunStatus.SUCCEEDED and old.summary["hosts"] == 3  # the run itself stays
        assert old.output_lines == 0 and old.summary["output_purged"]["lines"] == 1234
        assert "output_purged" not in session.get(Run, ids["recent_run"]).summary
    kept = sorted((d.status, d.created_at > NOW - dt.timedelta(days=2)) for d in _all(store, Delivery))
    assert kept == [("pending", False), ("sent", True)]  # the outbox stays, whatever its age
    assert count(store, ProbeHistory) == 2
    assert apply_retention(store, POLICY, now=NOW).removed == 0  # a second pass finds nothing


def test_zero_days_keeps_everything(store) -> None:
    seed(store)
    report = apply_retention(store, RetentionPolicy(0, 0, 0), now=NOW)
    assert report.removed == 0 and report.runs_purged == 0
    assert count(store, RunOutput) == 1244 and count(store, ProbeHistory) == 42


def test_the_scheduled_job_applies_egov_yml_and_is_audited(config, store) -> None:
    from controlplane import audit

    seed(store)
    done = scheduled_retention(str(config.source), store=store)
    assert done["run_output_lines"] == 1234 and done["deliveries"] == 2 and done["probe_results"] == 40
    [record] = [r for r in audit.list_records(store) if r.action == "retention.run"]
    assert record.actor == "scheduler" and json.loads(record.details)["run_output_lines"] == 1234


def test_the_scheduler_runs_retention_as_a_persisted_job(config, store) -> None:
    from controlplane import scheduler
    from controlplane.retention import JOB_ID, JOB_MINUTES
    from controlplane.web.schedules import JOB_SOURCES

    running = scheduler.start_scheduler(store, config, job_sources=JOB_SOURCES)
    try:
        job = running.get_job(JOB_ID)
        assert job is not None and job.trigger.interval == dt.timedelta(minutes=JOB_MINUTES)
        assert job.args == (str(config.source),)
    finally:
        scheduler.stop_scheduler(running)


def _all(store: Any, model: Any) -> list[Any]:
    with store.session() as session:
        return list(session.scalars(select(model)))


# --------------------------------------------------------------------------- egov retention run
@pytest.fixture
def cli_site(tmp_path: Path) -> Path:
    write_config(tmp_path, retention={"run_output_days": 90, "delivery_days": 30, "probe_days": 14})
    assert egov(tmp_path, "init").returncode == 0
    return tmp_path


def test_egov_retention_run_prints_what_it_removed_and_dry_run_removes_nothing(cli_site: Path) -> None:
    from controlplane.config import load_config
    from controlplane.store import open_store

    store = open_store(load_config(cli_site / "egov.yml"))
    try:
        seed(store)
        dry = egov(cli_site, "retention", "run", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would remove 1234 line(s) of 1 finished run(s), older than 90 day(s)" in dry.stdout
        assert "would remove 2 sent or failed notification(s)" in dry.stdout
        assert "would remove 40 result(s)" in dry.stdout
        assert count(store, RunOutput) == 1244
        done = egov(cli_site, "retention", "run", "--json")
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert (data["run_output_lines"], data["deliveries"], data["probe_results"]) == (1234, 2, 40)
        assert count(store, RunOutput) == 10
        again = egov(cli_site, "retention", "run")
        assert "removed 0 line(s)" in again.stdout
    finally:
        store.close()


@pytest.mark.parametrize("block", [{"probe_days": -1}, {"run_output_days": "90"}, {"forever": True}])
def test_bad_retention_settings_are_config_errors_exit_2(tmp_path: Path, block: dict[str, Any]) -> None:
    write_config(tmp_path, retention=block)
    result = egov(tmp_path, "retention", "run", "--dry-run")
    assert result.returncode == 2 and "retention" in result.stderr


def test_the_sample_configuration_shows_the_retention_block() -> None:
    from controlplane.config_schema import sample_yaml

    sample = sample_yaml()
    assert "retention:\n" in sample
    for key, days in (("run_output_days", 90), ("delivery_days", 30), ("probe_days", 14)):
        assert f"  {key}: {days}\n" in sample
