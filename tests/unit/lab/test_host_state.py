"""How a host's state is decided from what the probes found."""

from __future__ import annotations

import pytest

from controlplane.lab.host_state import LabHost, derive_state


@pytest.mark.parametrize(
    ("probes", "expected"),
    [
        (
            {"netns_exists": False, "init_pid": None, "answered": False, "link": "missing", "sshd_running": False},
            "down",
        ),
        ({"netns_exists": True, "init_pid": None, "answered": False, "link": "up", "sshd_running": False}, "down"),
        ({"netns_exists": True, "init_pid": 7, "answered": False, "link": "up", "sshd_running": False}, "down"),
        ({"netns_exists": True, "init_pid": 7, "answered": True, "link": "down", "sshd_running": True}, "isolated"),
        ({"netns_exists": True, "init_pid": 7, "answered": True, "link": "missing", "sshd_running": True}, "isolated"),
        ({"netns_exists": True, "init_pid": 7, "answered": True, "link": "down", "sshd_running": False}, "isolated"),
        ({"netns_exists": True, "init_pid": 7, "answered": True, "link": "up", "sshd_running": False}, "stopped"),
        ({"netns_exists": True, "init_pid": 7, "answered": True, "link": "up", "sshd_running": True}, "running"),
    ],
)
def test_derive_state(probes: dict[str, object], expected: str) -> None:
    state, detail = derive_state(**probes)  # type: ignore[arg-type]
    assert state == expected
    assert bool(detail) == (expected != "running")


def test_lab_host_to_dict_is_json_ready() -> None:
    host = LabHost(name="a", site="s", role="r", address="10.198.0.5", port=22, state="running", pid=9)
    data = host.to_dict()
    assert data["name"] == "a" and data["pid"] == 9 and data["services"] == {}


def test_a_host_with_a_zone_leg_down_is_isolated_from_that_zone() -> None:
    probes = {"netns_exists": True, "init_pid": 7, "answered": True, "link": "up", "sshd_running": True}
    assert derive_state(**probes, zone_links={"backbone": "up", "school-gd": "down"}) == (  # type: ignore[arg-type]
        "isolated",
        "zone link down: school-gd",
    )
    assert derive_state(**probes, zone_links={"backbone": "up"}) == ("running", "")  # type: ignore[arg-type]
    cut = {**probes, "link": "down"}
    assert derive_state(**cut, zone_links={"backbone": "down"}) == ("isolated", "link down")  # type: ignore[arg-type]
