"""Security incident: isolate a host to the management path, collect evidence, rotate its credentials.

1. Firewall the host (nftables, its own table ``inet egov_isolate``, replaced
   atomically) so that only the management station reaches its SSH port and
   nothing else goes in or out, established connections included (an
   intruder's session is cut too).
2. Isolate it at its zone's gateway too (issue 16): two drop rules for the
   host's zone address, to and from, at the top of the gateway's boundary
   table (``inet egov_boundary``, ahead of the established-connections
   accept), commented ``isolate:<host>``. A host that controls its own
   firewall cannot undo this one. Without network.yml, for a host in no zone
   or a gateway not provisioned yet, the journal says so and the host's own
   firewall is the isolation.
3. Collect evidence into the journal: processes, connections, recent logins.
4. Rotate the credentials the host held: the vault secrets of the host
   (names starting with ``host:<HOST>:``, derived from the host, never a
   parameter) get new random values; no other host's secret and no restic
   repository password can match that prefix. Values never reach the
   journal, only names.

The verification is a verify of the host's paths (``egov network verify``
limited to paths from and to the host, its own run and report): every one
must be closed but the control plane's SSH on the management network.

In a drill the firewall and the gateway's rules are removed and the old secret values are put back
at the end; until then they are kept in the vault under the run's reserved
names, so a drill killed midway gets them back at the next runbook start or
``egov runbook recover`` (see controlplane/runbook/drill_secrets.py). In a
real run the rollback never restores compromised credentials. A real run
needs a second approver (``egov runbook approve``). Releasing a host after a
real run: ``nft delete table inet egov_isolate`` on the host, and on the
gateway ``nft -a list chain inet egov_boundary forward`` then ``nft delete
rule inet egov_boundary forward handle N`` for the two ``isolate:<host>``
rules (or ``egov provision -l GATEWAY``, which reloads the boundary whole).

Runbooks are trusted code (like playbooks). API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

from typing import Any

from controlplane.errors import EgovError
from controlplane.runbook.context import Context
from controlplane.runbook.definition import Param, Probe, Runbook, Step

TABLE = "egov_isolate"
BOUNDARY = "egov_boundary"  # the gateway's boundary table (playbooks/network.yml)


def _management_source(inventory: Any) -> str:
    """The control plane's own address in the lab (the bridge), else the management network."""
    return str(inventory.variables.get("lab_gateway") or inventory.variables.get("mgmt_network"))


def ruleset(management: str, ssh_port: int) -> str:
    """The nftables ruleset that leaves only SSH from the management source.

    Declaring the table, deleting it and declaring it again in one ``nft -f``
    transaction replaces any earlier version atomically. ``management`` is an
    address or network (the parameter's type normalised it, so no text of
    the caller reaches the ruleset); raises ValueError for a port outside 1-65535.
    """
    if not 1 <= int(ssh_port) <= 65535:
        raise ValueError(f"SSH port {ssh_port} is not between 1 and 65535")
    family = "ip6" if ":" in management else "ip"
    return f"""table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
  chain input {{
    type filter hook input priority -200; policy drop;
    iifname "lo" accept
    {family} saddr {management} tcp dport {ssh_port} accept
  }}
  chain output {{
    type filter hook output priority -200; policy drop;
    oifname "lo" accept
    {family} daddr {management} tcp sport {ssh_port} accept
  }}
  chain forward {{
    type filter hook forward priority -200; policy drop;
  }}
}}
"""


def reachable_on_management_path(ctx: Context) -> None:
    """The host answers SSH from the control plane."""
    address = ctx.host(ctx.params["host"]).address
    ctx.expect(ctx.tcp_check(address, ctx.params["ssh_port"]), f"{address}:{ctx.params['ssh_port']} does not answer")
    ctx.run(ctx.params["host"], ["true"])


def firewall(ctx: Context) -> None:
    """Replace the host's isolation table with the management-only ruleset."""
    host = ctx.params["host"]
    existed = ctx.run(host, ["nft", "list", "table", "inet", TABLE], check=False, quiet=True)
    ctx.state["table_existed"] = existed.ok and not existed.dry_run
    rules = ruleset(ctx.params["management_source"], ctx.params["ssh_port"])
    ctx.log(rules)
    ctx.run(host, ["nft", "-f", "-"], input_text=rules)


def remove_firewall(ctx: Context) -> None:
    """Rollback: drop the isolation table (unless it was there before this run)."""
    if ctx.state.get("table_existed"):
        ctx.log("the isolation table existed before this run: left in place")
        return
    ctx.run(ctx.params["host"], ["nft", "delete", "table", "inet", TABLE], check=False)


def isolate_at_gateway(ctx: Context) -> None:
    """Drop the host's zone address, to and from, at the top of its zone gateway's boundary table."""
    host, network = ctx.params["host"], ctx.adapters.network
    ctx.state["gateway"] = None
    reason = "no network engine" if network is None else network.unavailable()
    if network is None or reason:
        ctx.log(f"{reason}: {host} is isolated by its own firewall only")
        return
    try:
        boundary = network.boundary_of(host)
    except EgovError as error:  # a broken flow file must not undo the host's isolation (the step's rollback)
        ctx.log(f"WARNING: network.yml does not load ({error}): {host} is isolated by its own firewall only")
        return
    if boundary is None:
        ctx.log(f"{host} is in no zone of network.yml (or there is none): isolated by its own firewall only")
        return
    gateway = boundary["gateway"]
    present = ctx.run(gateway, ["nft", "list", "chain", "inet", BOUNDARY, "forward"], check=False, quiet=True)
    if not present.ok:
        ctx.log(f"WARNING: {gateway} has no boundary table (not provisioned: it forwards everything); "
                f"{host} is isolated by its own firewall only")  # fmt: skip
        return
    rules = network.isolation_rules(host, boundary["address"], f"run {ctx.run_id}")
    ctx.log(f"{gateway}: dropping {boundary['address']} ({host} in zone {boundary['zone']})")
    ctx.run(gateway, ["nft", "-f", "-"], input_text=rules)
    ctx.state["gateway"] = boundary


def release_at_gateway(ctx: Context) -> None:
    """Rollback: delete the host's isolation rules from the gateway's boundary table (by their comment)."""
    boundary, network = ctx.state.get("gateway"), ctx.adapters.network
    if not boundary or network is None:
        return
    gateway, host = boundary["gateway"], ctx.params["host"]
    listing = ctx.run(gateway, ["nft", "-j", "list", "chain", "inet", BOUNDARY, "forward"], check=False, quiet=True)
    if listing.dry_run or not listing.ok:
        ctx.log(f"{gateway}: boundary not listed ({listing.stderr.strip()}): nothing to release")
        return
    for handle in network.isolation_handles(listing.stdout, host):
        ctx.run(gateway, ["nft", "delete", "rule", "inet", BOUNDARY, "forward", "handle", str(handle)], check=False)


def collect_evidence(ctx: Context) -> None:
    """Processes, connections and recent logins, into the journal."""
    host = ctx.params["host"]
    commands = {
        "processes": ["ps", "-eo", "pid,ppid,user,lstart,args", "--sort=pid"],
        "connections": ["ss", "-tunap"],
        "recent logins (last)": ["last", "-F", "-n", "50"],
        "logged in now (who)": ["who", "-a"],
        "authentication log (tail)": ["tail", "-n", "200", "/var/log/auth.log"],
    }
    for title, argv in commands.items():
        result = ctx.run(host, argv, check=False, quiet=True)
        if result.dry_run:
            continue
        text = result.stdout if result.ok else f"(exit {result.exit_code}) {result.stderr.strip()}"
        ctx.evidence(title, text)


def rotate_credentials(ctx: Context) -> None:
    """Give every vault secret of the host a new random value (names journalled, never values)."""
    names = ctx.rotate_host_secrets(ctx.params["host"])
    ctx.state["rotated"] = len(names)
    if not ctx.dry_run:
        ctx.figure("credentials_rotated", len(names))


def restore_credentials(ctx: Context) -> None:
    """Rollback: in a drill, put the old values back; never in a real incident."""
    if not ctx.drill:
        rotated = ctx.state.get("rotated", 0)
        ctx.log(f"{rotated} rotated credential(s) stay rotated: compromised values are never restored")
        return
    ctx.restore_drill_secrets()


def only_management_path(ctx: Context) -> None:
    """The isolation table is loaded and the management path still works."""
    ctx.run(ctx.params["host"], ["nft", "list", "table", "inet", TABLE], quiet=True)
    reachable_on_management_path(ctx)


def management_ssh(path: dict[str, Any], ssh_port: int) -> bool:
    """The one path an isolated host keeps: the control plane's SSH on the management network."""
    return path.get("source") == "controlplane" and path.get("protocol") == "tcp" and path.get("port") == ssh_port


def paths_closed(ctx: Context) -> None:
    """A verify of the host's paths (its own run and report): all closed but the management SSH."""
    host, network = ctx.params["host"], ctx.adapters.network
    try:
        placed = network is not None and not network.unavailable() and network.boundary_of(host) is not None
    except EgovError as error:
        ctx.log(f"WARNING: network.yml does not load ({error}): no network verify for {host}, host checks only")
        return
    if network is None or not placed:
        ctx.log(f"no network verify for {host} (no network engine, no network.yml or no zone): host checks only")
        return
    if ctx.dry_run:
        ctx.log(f"would verify the paths from and to {host}")
        return
    report = network.verify_host(host)
    paths = report.get("paths", [])
    still = [
        p for p in paths if p.get("observed") in ("open", "refused") and not management_ssh(p, ctx.params["ssh_port"])
    ]
    ctx.log(f"verify {report.get('id')} (run {report.get('run_id')}): {len(paths)} path(s) from and to {host}, "
            f"{len(still)} still open")  # fmt: skip
    ctx.figure("paths_verified", len(paths))
    shown = "; ".join(
        f"{p['source']} -> {p['destination']} {p['address']}:{p['port']}/{p['protocol']}" for p in still[:5]
    )
    ctx.expect(paths, f"the verify tested no path of {host}")
    ctx.expect(not still, f"{len(still)} path(s) of {host} still open: {shown}")


RUNBOOK = Runbook(
    name="isolate-host",
    title="Isolate a compromised host",
    title_zh="隔离受感染主机",
    description=(
        "Firewalls the host to the management path only (nftables) and drops its zone address at its zone's "
        "gateway, collects evidence (processes, connections, recent logins) into the journal and rotates the "
        "credentials it held; verified by a network verify of the host's paths."
    ),
    severity="critical",
    rto_objective=60,
    approvals_required=2,
    params=[
        Param("host", "host", help="the host to isolate"),
        Param("management_source", "address", default=_management_source, help="address allowed to reach SSH"),
        Param("ssh_port", "int", default=22, help="SSH port of the host"),
    ],
    targets=lambda p: [p["host"]],
    steady_state=[Probe("the host answers on the management path", reachable_on_management_path)],
    steps=[
        Step("firewall the host to the management path", firewall, timeout=20, rollback=remove_firewall),
        Step("isolate the host at its zone's gateway", isolate_at_gateway, timeout=20, rollback=release_at_gateway),
        Step("collect evidence", collect_evidence, timeout=60),
        Step("rotate the credentials the host held", rotate_credentials, timeout=30, rollback=restore_credentials),
    ],
    verification=[
        Probe("only the management path reaches the host", only_management_path),
        Probe("a verify of the host's paths finds them closed", paths_closed, timeout=60),
    ],
    tags=["security", "incident", "nftables", "network"],
)
