"""The network engine as runbooks need it (reached through :class:`controlplane.runbook.adapters.EngineNetworkAdapter`).

``isolate-host`` isolates a host at its zone's gateway as well as on the host:
:func:`boundary_of` says which gateway and which address, :func:`isolation_rules`
and :func:`isolation_handles` write and find the drop rules in the gateway's
boundary table, and :func:`verify_host` verifies the host's paths (its
verification). The runbook engine imports this module by name only, so a
trimmed installation without the network engine gets "unavailable" instead
of a runbook that does not load.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

TABLE, CHAIN = "egov_boundary", "forward"
ISOLATION_PREFIX = "isolate:"


def boundary_of(config: Config, host: str) -> dict[str, str] | None:
    """The gateway that routes the host's zone, the zone and the host's zone address; None when there is none.

    None for a site without network.yml, a host in no zone and a gateway
    (its own legs are its zones' routers). Raises ConfigError when
    network.yml does not load.
    """
    from controlplane.inventory import load_inventory
    from controlplane.network.model import load_network

    model = load_network(config, load_inventory(config.inventory))
    if model is None:
        return None
    zone = model.zone_of(host)
    address = model.zone_address(host)
    if zone is None or zone.gateway is None or address is None:
        return None
    return {"gateway": zone.gateway[0], "zone": zone.name, "address": str(address)}


def isolation_rules(host: str, address: str, note: str = "") -> str:
    """The ``nft -f`` text that puts two drop rules for ``address`` at the top of the boundary's forward chain.

    At the top, ahead of ``ct state established,related accept``: an
    established session of the host is cut too. Both carry the comment
    ``isolate:<host>`` (how :func:`isolation_handles` finds them again, and how
    the compliance check ``network.rules-justified`` tells them from
    unjustified rules). Raises ValueError for anything but an IPv4 address.
    """
    checked = ipaddress.IPv4Address(address)  # the only caller-derived text in the ruleset
    comment = f"{ISOLATION_PREFIX}{host} {note}".strip().replace('"', "")[:120]
    return "".join(
        f'insert rule inet {TABLE} {CHAIN} ip {field} {checked} counter drop comment "{comment}"\n'
        for field in ("daddr", "saddr")
    )


def isolation_handles(listing: str, host: str) -> list[int]:
    """The handles of the host's isolation rules in ``nft -j list chain inet egov_boundary forward`` output."""
    marker = f"{ISOLATION_PREFIX}{host}"
    handles = []
    for item in json.loads(listing or "{}").get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        comment = str(rule.get("comment") or "")
        if comment == marker or comment.startswith(marker + " "):
            handles.append(int(rule["handle"]))
    return handles


def verify_host(config: Config, store: Store, host: str, *, actor: str) -> dict[str, Any]:
    """Verify the paths from and to one host (a run of its own); the report as its JSON document."""
    from controlplane.network.watch import verify_now

    report = verify_now(config, store, actor=actor, trigger="runbook", hosts=(host,), isolated=True)
    return report.to_json()
