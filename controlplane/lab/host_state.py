"""What ``egov lab status`` reports for one host, and how its state is decided."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RUNNING = "running"  # init, sshd and link up
STOPPED = "stopped"  # init up, sshd stopped (``fault down``)
ISOLATED = "isolated"  # init up, link cut (``fault isolate``)
DOWN = "down"  # no namespace or no init
STATES = (RUNNING, STOPPED, ISOLATED, DOWN)


@dataclass
class LabHost:
    """One lab host as found on the machine."""

    name: str
    site: str
    role: str
    address: str
    port: int
    state: str
    pid: int | None = None  # machine pid of the host's init (for nsenter)
    netns: str = ""
    netns_exists: bool = False
    interface: str = ""
    link: str = "missing"  # up, down or missing
    sshd: str = "stopped"  # running or stopped
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    detail: str = ""
    # Zone legs (zoned lab): zone, interface, address, machine-side link, state (up, down, missing).
    legs: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def derive_state(
    *,
    netns_exists: bool,
    init_pid: int | None,
    answered: bool,
    link: str,
    sshd_running: bool,
    zone_links: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Decide a host's state from what the probes found.

    Pure (it probes nothing itself), so it is tested without a lab.
    ``link`` is the machine-side link state, ``zone_links`` the state of
    each zone leg by zone (zoned lab). Returns (state, detail). A cut
    link wins over a stopped sshd: the host is unreachable either way, and
    isolation is the bigger fault; a host whose management link is up but a
    zone leg is not is isolated from that zone, and says so.
    """
    if not netns_exists:
        return DOWN, "no network namespace"
    if init_pid is None:
        return DOWN, "no init process"
    if not answered:
        return DOWN, "init does not answer on its control socket"
    if link != "up":
        return ISOLATED, "link missing" if link == "missing" else "link down"
    cut = sorted(zone for zone, state in (zone_links or {}).items() if state != "up")
    if cut:
        return ISOLATED, "zone link down: " + ", ".join(cut)
    if not sshd_running:
        return STOPPED, "sshd stopped"
    return RUNNING, ""
