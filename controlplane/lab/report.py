"""What ``egov lab status`` shows: each host's real state, found on the machine.

Nothing here trusts a file: namespaces, processes and links are read from
the system (:mod:`controlplane.lab.probe`) and each init is asked over its
control socket which services run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from controlplane.lab import cabling, control, names, probe
from controlplane.lab.common import load_spec, require_root
from controlplane.lab.host_state import LabHost, derive_state
from controlplane.lab.spec import HostSpec, LabSpec

if TYPE_CHECKING:
    from controlplane.config import Config


def host_status(spec: LabSpec, host: HostSpec, snap: probe.Snapshot | None = None) -> LabHost:
    """Find one host's real state (namespace, init, control socket, link, sshd)."""
    snap = snap or probe.snapshot()
    inode = snap.netns.get(host.netns) or probe.netns_inode(host.netns)
    init = snap.init_of(host.init_file)
    if init is not None and inode is not None and init.net_inode != inode:
        init = None
    services: dict[str, dict[str, Any]] = {}
    answered = False
    if init is not None:
        try:
            services = control.request(host.folder, {"op": "status"}, timeout=3)["services"]
            answered = True
        except control.ControlError:
            answered = False
    link = probe.link_state(host.veth, spec.bridge)
    sshd_running = bool(services.get(names.DEFAULT_SERVICE, {}).get("running"))
    legs = cabling.leg_states(spec, host)
    state, detail = derive_state(
        netns_exists=inode is not None,
        init_pid=init.pid if init else None,
        answered=answered,
        link=link,
        sshd_running=sshd_running,
        zone_links={leg["zone"]: leg["state"] for leg in legs},
    )
    return LabHost(
        name=host.name,
        site=host.site,
        role=host.role,
        address=host.address,
        port=host.port,
        state=state,
        pid=init.pid if init else None,
        netns=host.netns,
        netns_exists=inode is not None,
        interface=host.veth,
        link=link,
        sshd="running" if sshd_running else "stopped",
        services=services,
        detail=detail,
        legs=legs,
    )


def status(config: Config, spec: LabSpec | None = None) -> list[LabHost]:
    """Return every inventory host's LabHost, in inventory order (needs root)."""
    spec = spec or load_spec(config)
    require_root()
    snap = probe.snapshot()
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(spec.hosts)))) as pool:
        return list(pool.map(lambda host: host_status(spec, host, snap), spec.hosts))


def report(config: Config, spec: LabSpec | None = None) -> dict[str, Any]:
    """The JSON form of ``egov lab status``: lab-wide facts plus every host."""
    spec = spec or load_spec(config)
    hosts = status(config, spec)
    return {
        "bridge": spec.bridge,
        "bridge_up": probe.link_state(spec.bridge) == "up",
        "owner": (probe.link_alias(spec.bridge) or "").removeprefix("egov-lab ") or None,
        "subnet": str(spec.subnet),
        "gateway": str(spec.gateway),
        "portal_vip": spec.portal_vip,
        "key_file": str(spec.key_file),
        "known_hosts": str(spec.known_hosts),
        "ssh_user": config.ssh_user,
        "lab_dir": str(spec.lab_dir),
        "zones": cabling.zone_states(spec),
        "hosts": [host.to_dict() for host in hosts],
    }
