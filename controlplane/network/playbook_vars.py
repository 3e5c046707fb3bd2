"""What the playbooks need from the network model, as extra variables (no secrets).

``egov provision`` (and ``egov harden``) hand every playbook these, through
the composition root (:func:`controlplane.cli.wiring.network_variables`):

* ``egov_network_rulesets``: gateway host -> its boundary ruleset text
  (:func:`controlplane.network.rules.render_gateway_ruleset`), loaded by the
  ``network_gateway`` role;
* ``egov_network_hosts``: host -> its data-plane place: ``zone``,
  ``address`` (zone address, gateways none), ``legs``, ``routes`` (applied by
  ``network_routes``) and ``inbound`` (the flows that reach it: the host
  firewall of ``harden_firewall`` and the database's ``pg_hba`` let exactly
  their sources in).

Without a flow file both are absent and the roles do what they did before.
Costs one inventory load and one flow-file read per playbook run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.network.model import load_network
from controlplane.network.rules import endpoints, gateway_rulesets

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.network.model import NetworkModel


def inbound(model: NetworkModel, host: str) -> list[dict[str, Any]]:
    """The flows that reach a host on its zone address: flow id, protocol, ports and source networks.

    Sources are the flow's data-plane endpoints (zone subnets or member
    addresses, ``management`` left out: the management network has its own
    rules); ICMP is left out (the host firewall answers echo anyway).
    """
    found = []
    for flow in model.flows:
        if not any(host in model.hosts_of(selector) for selector in flow.destinations if selector != "management"):
            continue
        sources = sorted(
            {str(end.network) for selector in flow.sources for end in endpoints(model, selector)},
            key=lambda text: tuple(int(part) for part in text.replace("/", ".").split(".")),
        )
        if not sources:
            continue
        for protocol, ports in (("tcp", flow.tcp), ("udp", flow.udp)):
            if ports:
                found.append({"flow": flow.id, "protocol": protocol, "ports": sorted(ports), "sources": sources})
    return found


def host_variables(model: NetworkModel) -> dict[str, dict[str, Any]]:
    """Every host with a place on the data plane (members and gateways), as plain JSON-safe values."""
    result: dict[str, dict[str, Any]] = {}
    for host in model.management.members:
        legs = model.legs(host)
        if not legs:
            continue
        zone, address = model.zone_of(host), model.zone_address(host)
        result[host] = {
            "zone": zone.name if zone else None,
            "address": str(address) if address else None,
            "gateway": host in model.gateways,
            "legs": [
                {"interface": leg.interface, "zone": leg.zone, "address": str(leg.address), "prefixlen": leg.prefixlen}
                for leg in legs
            ],
            "routes": [{"to": str(network), "via": str(via)} for network, via in model.routes(host)],
            "inbound": inbound(model, host),
        }
    return result


def playbook_variables(model: NetworkModel | None) -> dict[str, Any]:
    """The extra variables for one model ({} without a flow file)."""
    if model is None:
        return {}
    return {"egov_network_rulesets": gateway_rulesets(model), "egov_network_hosts": host_variables(model)}


def network_variables(config: Config, inventory: Inventory | None = None) -> dict[str, Any]:
    """The extra variables of the site's flow file; raises ConfigError (exit 2) when the file is bad."""
    from controlplane.inventory import load_inventory

    inventory = inventory if inventory is not None else load_inventory(config.inventory)
    return playbook_variables(load_network(config, inventory))
