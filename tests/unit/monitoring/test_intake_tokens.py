"""Intake tokens per site (`egov alerts intake-token`), the bad-token bucket and the bounded audit windows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from controlplane.monitoring import intake_guard
from controlplane.store.models import utcnow
from tests.conftest import egov, write_config


@pytest.fixture
def cli_site(tmp_path: Path) -> Path:
    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    return tmp_path


def test_egov_alerts_intake_token_create_prints_it_once_list_and_revoke(cli_site: Path) -> None:
    made = egov(cli_site, "alerts", "intake-token", "create", "--site", "province-gd", "--name", "gd am")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("egovam_") and len(token.splitlines()) == 1
    assert "shown once" in made.stderr and token not in made.stderr
    listed = egov(cli_site, "alerts", "intake-token", "list", "--json")
    data = json.loads(listed.stdout)
    assert [(row["site"], row["name"]) for row in data["items"]] == [("province-gd", "gd am")]
    assert data["legacy_token_configured"] is False and token not in listed.stdout
    table = egov(cli_site, "alerts", "intake-token", "list")
    assert "province-gd" in table.stdout and token not in table.stdout
    token_id = str(data["items"][0]["id"])
    assert egov(cli_site, "alerts", "intake-token", "revoke", token_id).returncode == 0
    assert json.loads(egov(cli_site, "alerts", "intake-token", "list", "--json").stdout)["items"] == []
    audit = egov(cli_site, "audit", "list", "--json").stdout
    assert "alerts.intake_token.create" in audit and "alerts.intake_token.revoke" in audit and token not in audit


@pytest.mark.parametrize(
    "args",
    [
        ("--site", "atlantis"),
        ("--site", "; rm -rf /"),
        ("--site", "../.."),
        ("--site", "province-gd", "--name", "$(reboot)"),
        ("--site", "province-gd", "--name", "two\nlines"),
    ],
)
def test_egov_alerts_intake_token_create_refuses_bad_input_with_exit_2(cli_site: Path, args: tuple[str, ...]) -> None:
    result = egov(cli_site, "alerts", "intake-token", "create", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "egovam_" not in result.stdout


def test_revoking_an_unknown_token_is_bad_input(cli_site: Path) -> None:
    result = egov(cli_site, "alerts", "intake-token", "revoke", "99")
    assert result.returncode == 2 and "no intake token 99" in result.stderr


# --------------------------------------------------------------------------- the bucket and the windows
def test_the_bucket_allows_a_burst_then_one_attempt_per_refill_interval(site_store) -> None:  # type: ignore[no-untyped-def]
    start = utcnow()
    with site_store.session() as session:
        for _ in range(intake_guard.BURST):
            assert intake_guard.retry_after(session, "192.0.2.9", start) is None
            intake_guard.take(session, "192.0.2.9", start)
        wait = intake_guard.retry_after(session, "192.0.2.9", start)
        assert wait == int(intake_guard.REFILL_SECONDS)
        refilled = start + dt.timedelta(seconds=intake_guard.REFILL_SECONDS)
        assert intake_guard.retry_after(session, "192.0.2.9", refilled) is None
        assert intake_guard.retry_after(session, "192.0.2.10", start) is None  # per address


def test_one_audit_note_opens_a_window_and_one_closes_it_with_the_count(site_store) -> None:  # type: ignore[no-untyped-def]
    start = utcnow()
    with site_store.session() as session:
        first = intake_guard.note_refusal(session, "192.0.2.9", "bad_token", start)
        repeats = [intake_guard.note_refusal(session, "192.0.2.9", "bad_token", start) for _ in range(99)]
        assert [note.count for note in first] == [1] and not any(repeats)
        later = start + intake_guard.WINDOW
        next_window = intake_guard.note_refusal(session, "192.0.2.9", "bad_token", later)
    assert [(n.repeats, n.count) for n in next_window] == [(True, 99), (False, 1)]
    assert next_window[0].window_start == start and next_window[0].window_end == later


def test_flushing_closes_ended_windows_and_forgets_full_buckets(site_store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring.models import IntakeBucket, IntakeWindow

    start = utcnow()
    with site_store.session() as session:
        intake_guard.take(session, "192.0.2.9", start)
        intake_guard.note_refusal(session, "192.0.2.9", "bad_token", start)
        intake_guard.note_refusal(session, "192.0.2.9", "bad_token", start)
        intake_guard.note_refusal(session, "192.0.2.8", "bad_token", start)  # no repeats: nothing to say
        assert intake_guard.flush_windows(session, start) == []  # still open
        notes = intake_guard.flush_windows(session, start + intake_guard.WINDOW)
        assert [(n.client, n.count) for n in notes] == [("192.0.2.9", 1)]
        assert session.query(IntakeWindow).count() == 0 and session.query(IntakeBucket).count() == 0
