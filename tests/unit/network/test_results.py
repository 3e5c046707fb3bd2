"""Verify reports: verdict counts, JSON both ways, and storing, finding and listing them."""

from __future__ import annotations

import datetime as dt

from controlplane.network.results import (
    Finding,
    PathResult,
    VerifyReport,
    latest_report,
    list_reports,
    report_by_id,
    save_report,
)

T0 = dt.datetime(2026, 12, 8, 0, 0, tzinfo=dt.UTC)


def a_path(verdict: str = "ok", port: int | None = 443, observed: str = "open") -> PathResult:
    expected = "deny" if verdict == "violation" else "allow"
    return PathResult(
        "gd-school-1", "school-gd", "gd-edu-1", "province-gd", "10.198.40.41", "tcp" if port else "icmp", port,
        expected, "school-gd-province" if expected == "allow" else None, observed, verdict,
        "gd-gw-1 flow:school-gd-province +1 packets",
    )  # fmt: skip


def a_report(*paths: PathResult, findings: tuple[Finding, ...] = (), minutes: int = 0, zone: str | None = None):  # type: ignore[no-untyped-def]
    start = T0 + dt.timedelta(minutes=minutes)
    return VerifyReport(
        None, None, start, start + dt.timedelta(seconds=2), tuple(paths), findings, zone=zone,
        sources=("controlplane", "gd-school-1"), gateways={"gd-gw-1": {"reachable": True, "default_deny": True}},
    )  # fmt: skip


def test_violations_and_breakages_fail_the_report_and_hygiene_findings_do_not() -> None:
    clean = a_report(a_path(), findings=(Finding("shadowed-rule", "gd-gw-1", "rule 9 ..."),))
    assert clean.ok and clean.exit_code == 0
    bad = a_report(a_path(), a_path("violation", 8080), a_path("breakage", 443, "refused"))
    assert [p.port for p in bad.violations] == [8080] and [p.observed for p in bad.breakages] == ["refused"]
    assert not bad.ok and bad.exit_code == 1
    blind = a_report(a_path(), findings=(Finding("source-unreachable", "hn-school-1", "timed out"),))
    assert not blind.ok and blind.summary()["unreachable"] == ["hn-school-1"]


def test_a_path_names_itself_the_way_alerts_and_the_console_show_it() -> None:
    assert a_path("violation", 8080).where == "gd-school-1 -> gd-edu-1 10.198.40.41:8080/tcp"
    assert a_path(port=None).where == "gd-school-1 -> gd-edu-1 10.198.40.41/icmp"


def test_a_report_survives_its_json_form_unchanged() -> None:
    report = a_report(a_path(), a_path("violation", 8080), findings=(Finding("unknown-host", "school-gd", "x"),))
    again = VerifyReport.from_json(report.to_json())
    assert again == report and again.gateways == report.gateways
    assert report.to_json()["counts"] == {"paths": 2, "violations": 1, "breakages": 0, "findings": 1}


def test_reports_are_stored_with_their_run_and_read_back_newest_first(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        first = save_report(session, a_report(a_path()), run_id=None, actor="a@cli")
        second = save_report(session, a_report(a_path("violation", 8080), minutes=5), run_id=None, actor="b@cli")
    with store.session() as session:
        latest = latest_report(session)
        assert latest is not None and latest.id == second and latest.actor == "b@cli"
        assert [r.id for r in list_reports(session)] == [second, first]
        assert [r.id for r in list_reports(session, limit=1)] == [second]
        stored = report_by_id(session, first)
        assert stored is not None and stored.paths == (a_path(),) and stored.sources == ("controlplane", "gd-school-1")


def test_a_verify_of_one_zone_is_listed_but_not_the_latest_whole_network_verify(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session:
        assert latest_report(session) is None
        whole = save_report(session, a_report(a_path()), run_id=None, actor="a")
        part = save_report(session, a_report(a_path(), minutes=9, zone="school-gd"), run_id=None, actor="a")
    with store.session() as session:
        assert latest_report(session).id == whole  # type: ignore[union-attr]
        assert latest_report(session, whole_network=False).id == part  # type: ignore[union-attr]
        assert [r.zone for r in list_reports(session)] == ["school-gd", None]


def test_the_migrated_table_holds_the_counts_beside_the_report(store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.network.records import NetworkVerify

    with store.session() as session:
        verify_id = save_report(session, a_report(a_path("violation", 8080), zone="dmz"), run_id=None, actor="a")
    with store.session() as session:
        row = session.get(NetworkVerify, verify_id)
        assert (row.scope, row.violations, row.breakages, row.findings, row.ok) == ("zone:dmz", 1, 0, 0, False)
