"""Scores before and after waivers, per host, site and severity, and the difference between scans."""

from __future__ import annotations

from controlplane.compliance.evaluate import Result
from controlplane.compliance.scoring import Score, by_host, by_severity, by_site, diff_scans, score


def result(control: str, status: str, host: str = "h1", site: str = "s1", severity: str = "high") -> Result:
    return Result(control_id=control, host=host, site=site, severity=severity, status=status)


def test_not_applicable_is_left_out_and_errors_count_against_the_score() -> None:
    summary = score([result("a", "pass"), result("b", "pass"), result("c", "error"), result("d", "not_applicable")])
    assert (summary.applicable, summary.before_waivers) == (3, 66.7)


def test_waived_counts_as_failed_before_waivers_and_as_held_after() -> None:
    summary = score([result("a", "pass"), result("b", "waived"), result("c", "fail"), result("d", "fail")])
    assert (summary.before_waivers, summary.after_waivers) == (25.0, 50.0)
    assert summary.to_dict() == {
        "passed": 1,
        "failed": 2,
        "errors": 0,
        "waived": 1,
        "not_applicable": 0,
        "before_waivers": 25.0,
        "after_waivers": 50.0,
    }


def test_nothing_applicable_has_no_percentage_rather_than_a_perfect_one() -> None:
    assert score([result("a", "not_applicable")]).before_waivers is None
    assert Score().after_waivers is None


def test_scores_group_by_host_and_by_site() -> None:
    results = [result("a", "pass", "h1", "s1"), result("a", "fail", "h2", "s1"), result("a", "pass", "h3", "s2")]
    assert {host: s.before_waivers for host, s in by_host(results).items()} == {"h1": 100.0, "h2": 0.0, "h3": 100.0}
    assert {site: s.before_waivers for site, s in by_site(results).items()} == {"s1": 50.0, "s2": 100.0}


def test_scores_by_severity_list_every_severity_critical_first() -> None:
    scores = by_severity([result("a", "fail", severity="critical"), result("b", "pass", severity="low")])
    assert list(scores) == ["critical", "high", "medium", "low"]
    assert (scores["critical"].failed, scores["high"].applicable, scores["low"].passed) == (1, 0, 1)


def test_the_diff_names_new_failures_fixed_controls_and_new_errors() -> None:
    previous = [
        result("a", "pass"),
        result("b", "fail"),
        result("c", "waived"),
        result("d", "fail"),
        result("e", "pass"),
    ]
    current = [
        result("a", "fail"),
        result("b", "pass"),
        result("c", "fail"),
        result("d", "fail"),
        result("e", "error"),
        result("a", "fail", host="new-host"),
    ]
    diff = diff_scans(previous, current)
    assert diff.new_failures == [("h1", "a"), ("h1", "c"), ("new-host", "a")]
    assert diff.fixed == [("h1", "b")]
    assert diff.still_failing == [("h1", "d")]
    assert diff.new_errors == [("h1", "e")]
    assert diff.to_dict()["fixed"] == [{"host": "h1", "control": "b"}]
