"""``egov network``: the zones, gateways and flows of network.yml, each gateway's boundary, and the verify.

Exit codes of ``egov network verify`` (what an assessor's script relies on):

* 0 — the reachability matrix is exactly the flow file's: no violation, no
  breakage, every source and gateway reached. Hygiene findings (unjustified
  or shadowed rules, unknown hosts) are listed but do not fail it.
* 1 — a violation (a path open that the flow file closes), a breakage (an
  allowed flow that does not work), or a source or gateway that could not
  be reached (the matrix is incomplete). The verify is stored all the same.
* 2 — bad input, nothing probed and no run: no or a malformed network.yml
  (every problem named with its key path), an unknown zone.

The CLI runs as the local operator (every site: whoever runs ``egov`` holds
the SSH key anyway); the run and the audit record name the OS user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import console, print_json
from controlplane.cli.output import Column, safe, show_table, wide_option

if TYPE_CHECKING:
    from rich.console import Console

    from controlplane.network.model import Flow, NetworkModel
    from controlplane.network.results import VerifyReport
    from controlplane.network.verify import VerifyPlan
    from controlplane.store import Store

# The gateway evidence wraps rather than hides: it is what a reader acts on (which rule to remove or fix).
# The flow and the address probed are in --json (and the console's matrix).
PATH_COLUMNS = (
    Column("VERDICT", key=True),
    Column("SOURCE", key=True),
    Column("DESTINATION", key=True),
    Column("PORT", key=True, justify="right"),
    Column("OBSERVED", key=True),
    Column("GATEWAY EVIDENCE"),
)
FINDING_COLUMNS = (Column("KIND", key=True), Column("WHERE", key=True), Column("DETAIL"))
VERDICT_STYLE = {"violation": "red", "breakage": "magenta"}


@click.group()
def network() -> None:
    """The network: zones, gateways and flows (network.yml); verify the reachability matrix."""


def _model(context: CliContext) -> NetworkModel:
    """The loaded network model; BadInputError (exit 2) when the site has no network.yml."""
    from controlplane.errors import BadInputError
    from controlplane.inventory import load_inventory
    from controlplane.network.model import load_network, network_file

    model = load_network(context.config, load_inventory(context.config.inventory))
    if model is None:
        raise BadInputError(f"no flow file: {network_file(context.config)} does not exist")
    return model


@network.command("verify")
@click.option("--zone", metavar="ZONE", help="Only the paths from or to this zone (or 'management').")
@click.option("--json", "as_json", is_flag=True, help="Print the stored report as JSON.")
@wide_option
@pass_context
def verify(context: CliContext, zone: str | None, as_json: bool, wide: bool) -> None:
    """Probe from a host in every zone to every service and sampled port; compare with network.yml.

    Exit 0 when the matrix is the flow file's, 1 with a violation, a breakage
    or an unreachable source or gateway, 2 for bad input (no run then).
    """
    from controlplane.audit import cli_actor
    from controlplane.cli.common import open_store
    from controlplane.network.verify import plan_verify, run_verify

    config = context.config
    plan = plan_verify(config, zone=zone)  # refuses bad input before any run exists
    store = open_store(context)
    try:
        if as_json:
            report = run_verify(config, store, actor=cli_actor(), plan=plan)
        else:
            report = _verify_with_progress(context, store, plan)
    finally:
        store.close()
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report, wide=wide)
    if report.exit_code:
        raise SystemExit(report.exit_code)


def _verify_with_progress(context: CliContext, store: Store, plan: VerifyPlan) -> VerifyReport:
    """Run the verify with a rich progress bar and one line per source as its row lands."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from controlplane.audit import cli_actor
    from controlplane.cli.output import console as safe_console
    from controlplane.network.matrix import count_paths
    from controlplane.network.verify import SourceDone, run_verify

    err = safe_console(stderr=True)
    err.print(
        f"verifying {count_paths(plan.sources)} path(s) from {len(plan.sources)} source(s) "
        f"({safe(plan.scope)}) across {len(plan.model.gateways)} gateway(s)"
    )
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("sources", total=len(plan.sources))

        def on_source(done: SourceDone) -> None:
            bad = sum(1 for path in done.paths if path.verdict != "ok")
            if done.error:
                progress.console.print(f"  {safe(done.name):<14} [magenta]NOT TESTED[/]: {safe(done.error)}")
            else:
                state = f"[red]{bad} not as intended[/]" if bad else "[green]as intended[/]"
                progress.console.print(
                    f"  {safe(done.name):<14} {len(done.paths):>4} paths  {state}  ({done.seconds:.2f} s)"
                )
            progress.advance(task)

        return run_verify(context.config, store, actor=cli_actor(), plan=plan, on_source=on_source)


def print_report(report: VerifyReport, *, wide: bool = False, out: Console | None = None) -> None:
    """The verify as an operator reads it: the bad paths, the findings, then one summary line."""
    from rich.text import Text

    out = out or console()
    bad = [*report.violations, *report.breakages]
    if bad:
        rows = [
            [
                Text(path.verdict.upper(), style=VERDICT_STYLE.get(path.verdict, "")),
                path.source, path.destination, path.port if path.port is not None else "icmp", path.observed,
                path.rule or "-",
            ]
            for path in bad
        ]  # fmt: skip
        show_table(PATH_COLUMNS, rows, wide=wide, title="paths not as network.yml says", out=out)
    if report.findings:
        rows = [[finding.kind, finding.where, finding.detail] for finding in report.findings]
        show_table(FINDING_COLUMNS, rows, wide=wide, title="findings", out=out)
    seconds = (report.finished_at - report.started_at).total_seconds()
    verdict = "[green]clean[/]" if report.ok else "[red]NOT CLEAN[/]"
    out.print(
        f"verify {report.id} (run {report.run_id}) {verdict}: {len(report.paths)} path(s) from "
        f"{len(report.sources)} source(s) in {seconds:.1f} s; {len(report.violations)} violation(s), "
        f"{len(report.breakages)} breakage(s), {len(report.findings)} finding(s)"
    )


def model_json(model: NetworkModel) -> dict[str, Any]:
    """The model as ``egov network show --json`` prints it (addresses as strings)."""
    return {
        "source": str(model.source),
        "address_space": str(model.address_space),
        "sample_ports": list(model.sample_ports),
        "management": {"subnet": str(model.management.subnet), "title_zh": model.management.title_zh},
        "gateways": list(model.gateways),
        "zones": [
            {
                "name": zone.name,
                "title_zh": zone.title_zh,
                "subnet": str(zone.subnet),
                "external": zone.external,
                "routers": {name: str(address) for name, address in zone.routers.items()},
                "members": [{"host": host, "address": str(model.zone_address(host) or "")} for host in zone.members],
            }
            for zone in model.zones.values()
        ],
        "flows": [
            {
                "id": flow.id,
                "from": list(flow.sources),
                "to": list(flow.destinations),
                "tcp": list(flow.tcp),
                "udp": list(flow.udp),
                "icmp": flow.icmp,
                "reason": flow.reason,
            }
            for flow in model.flows
        ],
    }


def ports_text(flow: Flow) -> str:
    """``tcp/80 tcp/443 icmp``: what a flow allows, in one cell."""
    words = [*(f"tcp/{port}" for port in flow.tcp), *(f"udp/{port}" for port in flow.udp)]
    return " ".join([*words, "icmp"] if flow.icmp else words)


@network.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def show(context: CliContext, as_json: bool, wide: bool) -> None:
    """Show the zones with their subnets, gateways and members, and the allowed flows."""
    model = _model(context)
    if as_json:
        print_json(model_json(model))
        return
    out = console()
    zone_rows = [
        [
            zone.name, zone.title_zh, str(zone.subnet),
            ", ".join(f"{name} {address}" for name, address in zone.routers.items()),
            ", ".join(zone.members) or "-",
        ]
        for zone in model.zones.values()
    ]  # fmt: skip
    show_table(
        (Column("ZONE", key=True), Column("NAME", optional=1), Column("SUBNET", key=True), Column("GATEWAYS"),
         Column("MEMBERS")),
        zone_rows, wide=wide, title=f"zones ({model.address_space}; management {model.management.subnet})", out=out,
    )  # fmt: skip
    flow_rows = [
        [
            flow.id, ", ".join(flow.sources), ", ".join(flow.destinations),
            ports_text(flow),
            flow.reason,
        ]
        for flow in model.flows
    ]  # fmt: skip
    show_table(
        (Column("FLOW", key=True), Column("FROM"), Column("TO"), Column("PORTS"), Column("REASON", optional=1)),
        flow_rows, wide=wide, title="allowed flows (everything else is denied)", out=out,
    )  # fmt: skip
    out.print(f"gateways: {', '.join(model.gateways) or 'none'}; sampled ports: {list(model.sample_ports)}")


@network.command("rules")
@click.argument("gateway")
@pass_context
def rules(context: CliContext, gateway: str) -> None:
    """Print the nftables boundary ruleset `egov provision` loads on GATEWAY (rendered from network.yml)."""
    from controlplane.errors import BadInputError
    from controlplane.network.rules import render_gateway_ruleset

    model = _model(context)
    if gateway not in model.gateways:
        raise BadInputError(f"{gateway!r} is no gateway of network.yml (gateways: {', '.join(model.gateways)})")
    click.echo(render_gateway_ruleset(model, gateway), nl=False)
