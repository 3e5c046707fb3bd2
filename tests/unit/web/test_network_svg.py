"""The network picture's SVG: everything from operator-edited files is escaped, and the history chart counts right."""

from __future__ import annotations

from controlplane.web.network_svg import history_chart, topology
from controlplane.web.network_view import Arrow, GatewayNode, HostDot, NetworkView, ZoneBox

WORDS = {"stub": "outside", "management": "control plane", "gateway": "gateway", "summary": "picture"}


def test_zone_titles_host_names_and_flow_ids_are_escaped_and_no_script_is_written() -> None:
    hostile = '<script>alert("x")</script>'
    zones = (
        ZoneBox("management", "运维管理区", "management", None, "10.198.0.0/24"),
        ZoneBox("dmz", hostile, "zone", "gw", "10.198.10.0/24", hosts=(HostDot('a"b', "10.198.10.5", "portal", "s"),)),
        ZoneBox("lan", "内网", "zone", "gw", "10.198.11.0/24"),
    )
    arrows = (Arrow("dmz", "lan", (hostile,), ("tcp 5432",), True, "bad", 1, 0),)
    view = NetworkView(False, zones, (GatewayNode("gw", "gw", ("dmz", "lan")),), arrows, (), ("dmz", "lan"))
    svg = str(topology(view, WORDS))
    assert "<script" not in svg and "&lt;script&gt;" in svg and 'data-host="a&quot;b"' in svg
    assert 'class="flow flow-bad" data-from="dmz" data-to="lan"' in svg and 'marker-end="url(#net-arrow-bad)"' in svg
    assert "style=" not in svg  # the console's CSP refuses style attributes


def test_the_history_chart_draws_a_clean_verify_as_a_tick_and_a_failing_one_as_bars() -> None:
    points = [
        {"started_at": "2026-12-08T01:00:00", "paths": 10, "violations": 0, "breakages": 0},
        {"started_at": "2026-12-08T02:00:00", "paths": 10, "violations": 2, "breakages": 1},
    ]
    svg = str(history_chart(points, "history"))
    assert svg.count('class="verify-clean"') == 1
    assert svg.count('class="verify-violations"') == 1 and svg.count('class="verify-breakages"') == 1
    assert "2 violation(s), 1 breakage(s), 10 paths" in svg
