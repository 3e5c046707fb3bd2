"""Security incident: isolate a host to the management path, collect evidence, rotate its credentials.

1. Firewall the host (nftables, its own table ``inet egov_isolate``, replaced
   atomically) so that only the management station reaches its SSH port and
   nothing else goes in or out, established connections included (an
   intruder's session is cut too).
2. Collect evidence into the journal: processes, connections, recent logins.
3. Rotate the credentials the host held: the vault secrets of the host
   (names starting with ``host:<HOST>:``, derived from the host, never a
   parameter) get new random values; no other host's secret and no restic
   repository password can match that prefix. Values never reach the
   journal, only names.

In a drill the firewall is removed and the old secret values are put back
at the end; until then they are kept in the vault under the run's reserved
names, so a drill killed midway gets them back at the next runbook start or
``egov runbook recover`` (see controlplane/runbook/drill_secrets.py). In a
real run the rollback never restores compromised credentials. A real run
needs a second approver (``egov runbook approve``).

Runbooks are trusted code (like playbooks). API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

from typing import Any

from controlplane.runbook.context import Context
from controlplane.runbook.definition import Param, Probe, Runbook, Step

TABLE = "egov_isolate"


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


RUNBOOK = Runbook(
    name="isolate-host",
    title="Isolate a compromised host",
    title_zh="隔离受感染主机",
    description=(
        "Firewalls the host to the management path only (nftables), collects evidence (processes, "
        "connections, recent logins) into the journal and rotates the credentials it held."
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
        Step("collect evidence", collect_evidence, timeout=60),
        Step("rotate the credentials the host held", rotate_credentials, timeout=30, rollback=restore_credentials),
    ],
    verification=[Probe("only the management path reaches the host", only_management_path)],
    tags=["security", "incident", "nftables"],
)
