"""Hostile strings in the store reach the terminal as plain text: no markup, no escape sequences, no fake lines.

Anyone can put text into the store that the CLI prints later: a failed login
writes the name that was typed into the audit log, a site's Alertmanager
writes alert labels, a remote host writes probe messages and run output.
Each test stores such text and runs the real ``egov`` command on it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import egov, write_config

# Markup that crashes rich ([/x]) or hides text ([white on white], [link]), screen-clearing and
# title-setting escape sequences, and a newline that would start a line of its own.
CLOSING_TAG = "[/x]"
HIDDEN = "[white on white]hidden[/]"
LINK = "[link=https://example.invalid]click[/link]"
CLEAR = "\x1b[2J\x1b[H"
TITLE = "\x1b]0;owned\x07"
FAKE_LINE = "\nFAKE LINE"
HOSTILE = f"{CLOSING_TAG} {HIDDEN} {LINK}{CLEAR}{TITLE}{FAKE_LINE}"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_config(tmp_path)
    made = egov(tmp_path, "init")
    assert made.returncode == 0, made.stderr
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that no column is hidden
    return tmp_path


def open_site_store(site: Path) -> Any:
    from controlplane.config import load_config
    from controlplane.store import open_store

    return open_store(load_config(site / "egov.yml"))


def assert_printed_literally(result: Any, *texts: str) -> None:
    """Exit 0, no traceback, every text shown as typed, no escape character, no line the data started."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for text in texts:
        assert text in result.stdout, result.stdout
    assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout
    assert not any(line.lstrip().startswith("FAKE LINE") for line in result.stdout.splitlines()), result.stdout


def test_audit_list_shows_a_hostile_actor_as_typed_instead_of_crashing(site: Path) -> None:
    from controlplane import audit

    store = open_site_store(site)
    try:
        audit.append(store, actor=CLOSING_TAG, action="login.failed", target=HIDDEN, outcome="denied",
                     client=f"{LINK}{CLEAR}{TITLE}{FAKE_LINE}")  # fmt: skip
    finally:
        store.close()
    assert_printed_literally(egov(site, "audit", "list"), CLOSING_TAG, HIDDEN, LINK)


def test_runs_list_and_show_print_hostile_targets_actors_and_output_as_typed(site: Path) -> None:
    from controlplane.runs import append_output, create_run, finish_run

    store = open_site_store(site)
    try:
        with store.session() as session:
            run = create_run(session, kind="ping", target=HIDDEN, actor=CLOSING_TAG, site="ministry")
            append_output(session, run, [f"{LINK}{CLEAR}{TITLE} output"])
            finish_run(session, run, "failed")
            run_id = run.id
    finally:
        store.close()
    assert_printed_literally(egov(site, "runs", "list"), CLOSING_TAG, HIDDEN)
    shown = egov(site, "runs", "show", str(run_id))
    assert_printed_literally(shown, CLOSING_TAG, HIDDEN, LINK)
    assert "finished_at: None" not in shown.stdout and "None" not in shown.stdout


def test_alert_labels_silences_and_delivery_errors_from_outside_are_printed_as_typed(site: Path) -> None:
    from controlplane.monitoring.models import AlertRecord, Delivery, SilenceRecord
    from controlplane.store.models import utcnow

    now = utcnow()
    store = open_site_store(site)
    try:
        with store.session() as session:
            session.add(AlertRecord(fingerprint="0123456789abcdef", source="intake", state="firing",
                                    labels={"alertname": CLOSING_TAG, "host": HIDDEN, "site": "ministry",
                                            "severity": f"{CLEAR}{TITLE}"},
                                    annotations={"summary": f"{LINK}{FAKE_LINE}"}, fired_at=now, active_since=now,
                                    last_seen=now, transitions=[]))  # fmt: skip
            session.add(SilenceRecord(id="feedfacefeedface", matchers=["host=mn-db-1"], starts_at=now,
                                      ends_at=now + dt.timedelta(hours=1), author=CLOSING_TAG,
                                      comment=f"{HIDDEN}{CLEAR}{FAKE_LINE}"))  # fmt: skip
            session.add(Delivery(receiver="hook", group_key="g", kind="notify", status="failed", attempts=3,
                                 payload={"status": "firing", "alerts": [{}]},
                                 last_error=f"{LINK}{TITLE}{FAKE_LINE}"))  # fmt: skip
    finally:
        store.close()
    assert_printed_literally(egov(site, "alerts", "list"), CLOSING_TAG, HIDDEN)
    assert_printed_literally(egov(site, "alerts", "silences"), CLOSING_TAG, HIDDEN)
    assert_printed_literally(egov(site, "alerts", "deliveries"), LINK)


def test_runbook_history_prints_a_hostile_actor_and_target_as_typed(site: Path) -> None:
    from controlplane.runs import create_run, finish_run

    store = open_site_store(site)
    try:
        with store.session() as session:
            run = create_run(session, kind="runbook", target=HIDDEN, actor=CLOSING_TAG, site="ministry",
                             params={"runbook": "portal-failover", "mode": "drill"})  # fmt: skip
            finish_run(session, run, "failed")
    finally:
        store.close()
    assert_printed_literally(egov(site, "runbook", "history"), CLOSING_TAG, HIDDEN)


def test_an_error_message_naming_hostile_input_reaches_stderr_without_escape_sequences(site: Path) -> None:
    result = egov(site, "--config", str(site / f"elsewhere{CLEAR}{TITLE}" / "egov.yml"), "runs", "list")
    assert result.returncode == 2, result.stderr
    assert "no configuration here" in result.stderr
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_plain_makes_one_safe_line_and_shows_a_missing_value_as_a_dash() -> None:
    from controlplane.cli.output import MISSING, plain, safe

    assert plain(None) == MISSING == "—"
    assert plain(f"a{CLEAR}b{TITLE}c\x00d\x9be\u202eF") == "abcdeF"
    assert "\n" not in plain("one\ntwo\r\nthree") and "two" in plain("one\ntwo")
    assert safe(CLOSING_TAG) == "\\[/x]"
    assert plain(3) == "3" and plain("") == ""
