"""`egov runbook` scope: the local operator by default, a console user's role and sites with --as USER.

Real `egov` processes on a site in tmp_path; dry runs only (they touch no host).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import egov, write_config

PASSWORD = "province operator password 1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-scope")
    write_config(folder)
    assert egov(folder, "init").returncode == 0
    added = egov(folder, "users", "add", "ops-gd", "--role", "operator", "--site", "province-gd", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    return folder


def runbook_runs(site: Path) -> list[dict[str, object]]:
    listed = egov(site, "runs", "list", "--json")
    return [run for run in json.loads(listed.stdout) if run["kind"] == "runbook"]


def test_as_a_province_operator_another_provinces_source_host_is_refused_with_exit_2(site: Path) -> None:
    before = len(runbook_runs(site))
    refused = egov(site, "runbook", "run", "restore-to-dr", "--dry-run", "--as", "ops-gd",
                   "-p", "source_host=mn-portal-1", "-p", "target_host=gd-edu-1")  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "source_host: 'mn-portal-1' is no host in your scope" in refused.stderr
    drill = egov(site, "runbook", "drill", "restore-to-dr", "--as", "ops-gd",
                 "-p", "source_host=gd-school-1", "-p", "target_host=gd-edu-1")  # fmt: skip
    assert drill.returncode == 2 and "backup.restore" in drill.stderr
    unknown = egov(site, "runbook", "run", "restore-to-dr", "--dry-run", "--as", "nobody")
    assert unknown.returncode == 2 and "no enabled console user" in unknown.stderr
    assert len(runbook_runs(site)) == before


def test_the_local_operator_has_every_site_but_every_named_host_must_exist(site: Path) -> None:
    planned = egov(site, "runbook", "run", "restore-to-dr", "--dry-run", "--json",
                   "-p", "source_host=mn-portal-1", "-p", "target_host=gd-edu-1")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    journal = json.loads(planned.stdout)
    assert journal["run"]["site"] == "ministry" and journal["run"]["params"]["hosts"] == ["gd-edu-1", "mn-portal-1"]
    missing = egov(site, "runbook", "run", "restore-to-dr", "--dry-run", "-p", "source_host=no-such-host")
    assert missing.returncode == 2 and "unknown host 'no-such-host'" in missing.stderr


def test_the_help_says_what_scope_means_in_the_cli(site: Path) -> None:
    shown = egov(site, "runbook", "run", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "--as USER" in text and "local operator" in text and "every site" in text
