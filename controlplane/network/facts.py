"""What the network engine tells the compliance checks and the alerts: facts read from the stored verifies.

The compliance engine asks per host (:func:`compliance_facts`, handed over
by the composition root as ``providers.network_facts``):

* ``network.zoned`` -- network.yml places the host (zone member or gateway):
  the verify controls apply to it;
* ``network.flows`` -- the ids of the current flows; for a gateway, those
  whose traffic crosses it (each of its rules must name one);
* ``network.verify`` -- the newest whole-network verify that tested a path
  of the host: its id, time, how many of the host's paths it tested and
  the violations and breakages among them, as text. For a gateway, "its
  paths" are those that cross it (:meth:`NetworkModel.gateway_path`).

Only whole-network verifies count: one limited to a zone tests a part of the
matrix, and taken as the newest it would hide a violation elsewhere.

The monitoring probe ``network_verify`` asks for the newest verify as its
JSON document (:func:`latest_document`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.network.model import NetworkModel
    from controlplane.network.results import PathResult, VerifyReport
    from controlplane.store import Store


def describe_path(path: PathResult) -> str:
    """One path as an auditor reads it: where, observed vs expected, the flow and the gateway's evidence."""
    flow = f", flow {path.flow}" if path.flow else ""
    rule = f"; {path.rule}" if path.rule else ""
    return f"{path.where} {path.observed} (expected {path.expected}{flow}){rule}"


def _crossed(model: NetworkModel, path: PathResult) -> tuple[str, ...]:
    try:
        return model.gateway_path(path.source_zone, path.destination_zone)
    except (KeyError, ValueError):  # a zone since renamed or removed: the path crossed no gateway we know
        return ()


def host_paths(model: NetworkModel, report: VerifyReport) -> dict[str, list[PathResult]]:
    """The paths of a report by host: as source, as destination, and for gateways as a crossing."""
    by_host: dict[str, list[PathResult]] = {}
    for path in report.paths:
        for host in {path.source, path.destination, *_crossed(model, path)}:
            by_host.setdefault(host, []).append(path)
    return by_host


def verify_fact(report: VerifyReport, paths: list[PathResult]) -> dict[str, Any]:
    """The ``network.verify`` fact of one host from its paths in a report."""
    return {
        "id": report.id,
        "run_id": report.run_id,
        "finished_at": report.finished_at.isoformat(),
        "paths": len(paths),
        "violations": [describe_path(p) for p in paths if p.verdict == "violation"],
        "breakages": [describe_path(p) for p in paths if p.verdict == "breakage"],
    }


def facts_from(model: NetworkModel, report: VerifyReport | None, hosts: list[str]) -> dict[str, dict[str, Any]]:
    """The facts of the hosts network.yml places (pure: tests give a model and a report)."""
    from controlplane.network.hygiene import flow_gateways

    flows = [flow.id for flow in model.flows]
    crossing = {flow.id: flow_gateways(model, flow) for flow in model.flows}
    tested = host_paths(model, report) if report is not None else {}
    facts: dict[str, dict[str, Any]] = {}
    for host in hosts:
        if model.zone_of(host) is None and host not in model.gateways:
            continue
        # A gateway's rule is justified only by a flow whose traffic crosses that gateway (minimal rules).
        own = [flow for flow in flows if host in crossing[flow]] if host in model.gateways else flows
        values: dict[str, Any] = {"network.zoned": True, "network.flows": own}
        if report is not None and tested.get(host):
            values["network.verify"] = verify_fact(report, tested[host])
        facts[host] = values
    return facts


def compliance_facts(config: Config, store: Store, inventory: Inventory) -> dict[str, dict[str, Any]]:
    """Per host, the network facts of the compliance controls; {} when there is no network.yml.

    Raises ConfigError when network.yml does not load (the compliance
    engine then reports the network controls as errors with that message).
    Costs the flow file's validation and one query of the newest verify.
    """
    from controlplane.network.model import load_network
    from controlplane.network.results import latest_report

    model = load_network(config, inventory)
    if model is None:
        return {}
    with store.session() as session:
        report = latest_report(session)
    return facts_from(model, report, [host.name for host in inventory.hosts])


def latest_document(store: Store) -> dict[str, Any] | None:
    """The newest whole-network verify as its JSON document (None: none stored yet)."""
    from controlplane.network.results import latest_report

    with store.session() as session:
        report = latest_report(session)
    return None if report is None else report.to_json()
