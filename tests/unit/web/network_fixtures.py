"""Stored verify reports for the network page and API tests, built from VerifyReport objects (no lab, no probe)."""

from __future__ import annotations

import datetime as dt
from typing import Any

T0 = dt.datetime(2026, 12, 8, 1, 0, tzinfo=dt.UTC)

# (source, source zone, destination, destination zone, address, port, expected, flow, observed, verdict, rule)
GD_OK = ("gd-school-1", "school-gd", "gd-edu-1", "province-gd", "10.198.40.41", 443, "allow", "school-gd-province",
         "open", "ok", "gd-gw-1 flow:school-gd-province +1 packets")  # fmt: skip
GD_VIOLATION = ("gd-school-1", "school-gd", "mn-db-1", "internal", "10.198.11.14", 5432, "deny", None, "open",
                "violation", "mn-gw-1 flow:portal-database +3 packets")  # fmt: skip
GD_BREAKAGE = ("gd-edu-1", "province-gd", "mn-oa-1", "internal", "10.198.11.13", 443, "allow",
               "provinces-ministry-office", "timeout", "breakage", "mn-gw-1 dropped (policy)")  # fmt: skip
HN_VIOLATION = ("hn-school-1", "school-hn", "hn-edu-1", "province-hn", "10.198.60.61", 3306, "deny", None, "refused",
                "violation", "hn-gw-1 flow:stray +4 packets")  # fmt: skip
HN_INTO_GD = ("hn-school-1", "school-hn", "gd-edu-1", "province-gd", "10.198.40.41", 22, "deny", None, "refused",
              "violation", "hn-gw-1 flow:stray +1 packets")  # fmt: skip
MINISTRY_OK = ("ext-probe-1", "outside", "mn-portal-1", "dmz", "10.198.10.11", 443, "allow", "public-web", "open", "ok",
               "mn-gw-1 flow:public-web +2 packets")  # fmt: skip


def path(row: tuple[Any, ...]) -> Any:
    """A PathResult from one of the rows above (TCP)."""
    from controlplane.network.results import PathResult

    source, source_zone, destination, destination_zone, address, port, expected, flow, observed, verdict, rule = row
    return PathResult(source, source_zone, destination, destination_zone, address, "tcp", port, expected, flow,
                      observed, verdict, rule)  # fmt: skip


def save(store: Any, *rows: tuple[Any, ...], findings: tuple[Any, ...] = (), minutes: int = 0,
         zone: str | None = None, run_id: int | None = None) -> int:  # fmt: skip
    """Store a verify of ``rows`` started ``minutes`` after T0; return its id."""
    from controlplane.network.results import Finding, VerifyReport, save_report

    started = T0 + dt.timedelta(minutes=minutes)
    report = VerifyReport(
        None, run_id, started, started + dt.timedelta(seconds=3), tuple(path(r) for r in rows),
        tuple(Finding(*f) for f in findings), zone=zone, actor="test",
    )  # fmt: skip
    with store.session() as session:
        return save_report(session, report, run_id=run_id, actor="test")
