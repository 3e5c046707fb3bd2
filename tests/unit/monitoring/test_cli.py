"""The CLI groups `monitor`, `alerts` and `export` (run in-process through click)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from controlplane.cli import egov
from controlplane.cli.alerts import alerts
from controlplane.cli.monitor import export, monitor
from tests.conftest import REPO


@pytest.fixture
def cli(site, site_store):  # type: ignore[no-untyped-def]
    """Invoke a command group with ``--config`` of the test site (receivers oncall, lead, webhook)."""
    egov.add_command(monitor)
    egov.add_command(alerts)
    egov.add_command(export)
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(egov, ["--config", str(site.source), *args], catch_exceptions=False)

    yield invoke
    for name in ("monitor", "alerts", "export"):
        egov.commands.pop(name, None)


@pytest.fixture
def site_monitoring(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The repository's monitoring folder, with routes pointing at the test site's receivers."""
    assert site.monitoring != REPO / "monitoring"
    shutil.copytree(REPO / "monitoring", site.monitoring)
    text = (site.monitoring / "alerting.yml").read_text(encoding="utf-8").replace("oncall-lead", "lead")
    (site.monitoring / "alerting.yml").write_text(text, encoding="utf-8")


def test_monitor_check_summarises_a_valid_folder(cli, site_monitoring) -> None:  # type: ignore[no-untyped-def]
    result = cli("monitor", "check")
    assert result.exit_code == 0, result.output
    # 11 probes: portal-vip (service levels), portal-/office-https (issue 15), host-certificates (issue 15);
    # 17 rules: 4 on HTTPS and TLS days left, 1 on host certificates (issue 15).
    # Issue 16: the network-verify probe and its 3 rules (path violation, broken flow, stale verify).
    assert "12 probe(s)" in result.output and "20 rule(s)" in result.output


def test_monitor_check_reports_an_unknown_receiver(cli, site_monitoring, site) -> None:  # type: ignore[no-untyped-def]
    from controlplane.errors import ConfigError

    (site.monitoring / "alerting.yml").write_text("route: {receiver: nobody}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown receiver 'nobody'"):
        cli("monitor", "check")


def test_silence_list_and_unsilence_round_trip(cli, site_monitoring) -> None:  # type: ignore[no-untyped-def]
    made = cli("alerts", "silence", "host=mn-db-1", "alertname=~Disk.*", "-d", "2h", "-m", "disk swap", "--json")
    assert made.exit_code == 0, made.output
    silence = json.loads(made.output)
    listed = json.loads(cli("alerts", "silences", "--json").output)
    ids = {s["id"]: s for s in listed}
    assert ids[silence["id"]]["active"] and ids[silence["id"]]["matchers"] == ["host=mn-db-1", "alertname=~Disk.*"]
    assert "file:school-weekly-maintenance" in ids
    assert cli("alerts", "unsilence", silence["id"]).exit_code == 0
    listed = json.loads(cli("alerts", "silences", "--json").output)
    assert silence["id"] not in {s["id"] for s in listed}


def test_a_silence_without_a_comment_or_matching_everything_is_refused(cli, site_monitoring) -> None:  # type: ignore[no-untyped-def]
    from controlplane.errors import BadInputError

    assert cli("alerts", "silence", "host=a", "-d", "1h").exit_code == 2  # click: --comment is required
    with pytest.raises(BadInputError, match="every alert"):
        cli("alerts", "silence", "alertname=~.*", "-d", "1h", "-m", "all")
    with pytest.raises(BadInputError, match="not a duration"):
        cli("alerts", "silence", "host=a", "-d", "soon", "-m", "x")


def test_alerts_list_shows_an_empty_table_and_ack_of_an_unknown_alert_fails(cli, site_monitoring) -> None:  # type: ignore[no-untyped-def]
    from controlplane.errors import BadInputError

    assert json.loads(cli("alerts", "list", "--json").output) == []
    with pytest.raises(BadInputError, match="no alert"):
        cli("alerts", "ack", "abcdef")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_export_prometheus_writes_files_promtool_accepts(cli, site_monitoring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("export", "prometheus", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    check = subprocess.run(["promtool", "check", "config", str(tmp_path / "out" / "prometheus.yml")],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
