"""Maintenance windows: scoped, audited, they silence what they cover while they last; ``egov maintenance``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from controlplane.errors import BadInputError
from tests.conftest import egov
from tests.unit.slo.conftest import portal_result


class Only:
    """A caller scoped to some sites."""

    def __init__(self, *sites: str) -> None:
        self.sites = set(sites)

    def allows(self, site: str | None) -> bool:
        return site in self.sites


def audit_actions(store: Any) -> list[tuple[str, str, str | None]]:
    from controlplane.store.models import AuditRecord

    with store.session() as session:
        return [(r.action, r.target, r.site) for r in session.scalars(select(AuditRecord).order_by(AuditRecord.seq))]


def test_a_window_silences_the_alerts_of_its_services_hosts_until_it_ends(monitor, store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring import alert_actions
    from controlplane.slo.maintenance import add_window, end_window
    from controlplane.store.models import utcnow

    now = utcnow()
    made = add_window(store, levels.slo, levels.inventory, site="ministry", services=["portal"], starts_at=now,
                      ends_at=now + dt.timedelta(hours=1), reason="upgrade", actor="ops", now=now)  # fmt: skip
    assert made["kind"] == "planned" and len(made["silences"]) == 2
    silences = {tuple(s["matchers"]) for s in alert_actions.list_silences(store) if s["id"] in made["silences"]}
    assert silences == {("host=mn-portal-1",), ("slo=portal",)}
    monitor.record([portal_result(False, now)])
    for offset in (0, 25):
        monitor.evaluate(now + dt.timedelta(seconds=offset))
    [alert] = [a for a in alert_actions.list_alerts(store, monitor.spec, now=now + dt.timedelta(seconds=26))
               if a["name"] == "PortalHTTPDown"]  # fmt: skip
    assert alert["state"] == "firing" and sorted(alert["silenced_by"]) == sorted(made["silences"][:1])
    ended = end_window(store, made["id"], actor="ops", now=now + dt.timedelta(minutes=5))
    assert ended["state"] == "over"
    assert not [s for s in alert_actions.list_silences(store) if s["id"] in made["silences"] and s["active"]]
    assert [a[0] for a in audit_actions(store) if a[0].startswith("maintenance.")] == [
        "maintenance.add", "maintenance.end",
    ]  # fmt: skip
    with pytest.raises(BadInputError, match="already over"):
        end_window(store, made["id"], actor="ops", now=now + dt.timedelta(minutes=6))


def test_a_site_wide_window_silences_the_site_and_the_sites_below(store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring import alert_actions
    from controlplane.slo.maintenance import add_window
    from controlplane.store.models import utcnow

    now = utcnow()
    made = add_window(store, levels.slo, levels.inventory, site="province-gd", starts_at=now + dt.timedelta(hours=1),
                      ends_at=now + dt.timedelta(hours=2), reason="network works", actor="ops", now=now)  # fmt: skip
    matchers = sorted(tuple(s["matchers"]) for s in alert_actions.list_silences(store) if s["id"] in made["silences"])
    assert matchers == [("site=province-gd",), ("site=school-gd-1",)]
    assert not any(s["active"] for s in alert_actions.list_silences(store) if s["id"] in made["silences"])  # not yet


def test_scope_reason_span_and_names_are_checked_before_anything_is_written(store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.maintenance import add_window, end_window, list_windows
    from controlplane.store.models import utcnow

    now = utcnow()
    base = {"site": "ministry", "starts_at": now, "ends_at": now + dt.timedelta(hours=1), "reason": "r",
            "actor": "ops", "now": now}  # fmt: skip
    refused = [
        ({"scope": Only("province-gd")}, "outside your scope"),
        ({"site": "../.."}, "unknown site"),
        ({"services": ["$(id)"]}, "unknown service"),
        ({"site": "province-gd", "services": ["portal"]}, "not to province-gd"),
        ({"reason": " \n "}, "needs a reason"),
        ({"ends_at": now}, "after the start"),
        ({"ends_at": now + dt.timedelta(days=40)}, "31 days"),
        ({"after_the_fact": True}, "already started"),
    ]
    for change, message in refused:
        with pytest.raises(BadInputError, match=message):
            add_window(store, levels.slo, levels.inventory, **{**base, **change})
    assert list_windows(store) == []
    made = add_window(store, levels.slo, levels.inventory, **{**base, "reason": "a\nb; rm -rf / $(id)"})
    assert made["reason"] == "a b; rm -rf / $(id)"
    assert list_windows(store, scope=Only("province-gd")) == []
    with pytest.raises(BadInputError, match=f"no maintenance window {made['id']}"):
        end_window(store, made["id"], actor="gd", scope=Only("province-gd"))


@pytest.fixture
def cli_site(site: Any, store: Any) -> Path:
    return Path(site.source).parent


def test_egov_maintenance_add_list_end(cli_site: Path) -> None:
    added = egov(cli_site, "maintenance", "add", "--site", "ministry", "--service", "portal", "--start", "now",
                 "--duration", "2h", "--reason", "portal upgrade", "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    window = json.loads(added.stdout)
    assert (window["site"], window["services"], window["state"]) == ("ministry", ["portal"], "active")
    listed = json.loads(egov(cli_site, "maintenance", "list", "--json").stdout)
    assert [w["id"] for w in listed] == [window["id"]]
    ended = egov(cli_site, "maintenance", "end", str(window["id"]))
    assert ended.returncode == 0 and "over" in ended.stdout
    assert egov(cli_site, "maintenance", "end", str(window["id"])).returncode == 2
    late = egov(cli_site, "maintenance", "add", "--site", "ministry", "--start", "2026-01-01T08:00",
                "--end", "2026-01-01T09:00", "--reason", "outage was patching")  # fmt: skip
    assert late.returncode == 2 and "--after-the-fact" in late.stderr
    retro = egov(cli_site, "maintenance", "add", "--site", "ministry", "--start", "2026-01-01T08:00",
                 "--end", "2026-01-01T09:00", "--reason", "outage was patching", "--after-the-fact")  # fmt: skip
    assert retro.returncode == 0, retro.stderr
    assert "retroactive" in retro.stdout
    for bad in (["--start", "$(id)", "--duration", "1h"], ["--start", "now"], ["--start", "now", "--duration", "1x"]):
        done = egov(cli_site, "maintenance", "add", "--site", "ministry", "--reason", "r", *bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (bad, done.stderr)
