"""Fail the ministry portal back from its standby to its primary node.

The mirror of failover-portal: check the primary's health and content, move
the portal VIP back to it (gratuitous ARP), verify through the VIP that
clients get the primary's content. Run it once the primary is repaired.

Runbooks are trusted code (like playbooks). API: controlplane/runbook/api.py.
"""

from __future__ import annotations

import hashlib

from controlplane.errors import UnreachableError
from controlplane.runbook.api import Param, Probe, Runbook, Step
from controlplane.runbook.context import Context
from controlplane.runbook.params import host_with


def _content_digest(ctx: Context, address: str) -> str:
    page = ctx.http_check(address, port=ctx.params["port"], path=ctx.params["content_path"])
    return hashlib.sha256(page.body).hexdigest()


def portal_answers_through_vip(ctx: Context) -> None:
    """The portal's health page answers 200 through the VIP."""
    ctx.http_check(ctx.params["vip"], port=ctx.params["port"], path=ctx.params["health_path"])


def check_primary(ctx: Context) -> None:
    """The repaired primary answers its health page and serves non-empty content."""
    address = ctx.host(ctx.params["primary"]).address
    ctx.http_check(address, port=ctx.params["port"], path=ctx.params["health_path"])
    page = ctx.http_check(address, port=ctx.params["port"], path=ctx.params["content_path"])
    ctx.expect(page.body.strip(), f"{ctx.params['primary']} serves an empty page at {ctx.params['content_path']}")
    ctx.state["primary_digest"] = hashlib.sha256(page.body).hexdigest()
    ctx.log(f"primary content sha256 {ctx.state['primary_digest']}")


def announce(ctx: Context) -> None:
    """Tell people the portal is failing back."""
    p = ctx.params
    ctx.notify(f"portal {p['vip']} failing back from {p['standby']} to {p['primary']} ({ctx.mode})", severity="info")


def release_on_standby(ctx: Context) -> None:
    """Take the VIP off the standby; an unreachable standby is taken as down."""
    p = ctx.params
    try:
        ctx.state["released_from_standby"] = ctx.release_vip(
            p["standby"], p["vip"], prefix=p["prefix"], device=p["device"]
        )
    except UnreachableError as error:
        ctx.state["released_from_standby"] = False
        ctx.log(f"standby unreachable, taken as down: {error.message}")


def give_back_to_standby(ctx: Context) -> None:
    """Rollback: put the VIP back on the standby if this run took it off."""
    p = ctx.params
    if ctx.state.pop("released_from_standby", False):
        ctx.claim_vip(p["standby"], p["vip"], prefix=p["prefix"], device=p["device"])


def claim_on_primary(ctx: Context) -> None:
    """Put the VIP on the primary and announce it (gratuitous ARP)."""
    p = ctx.params
    ctx.state["claimed_on_primary"] = ctx.claim_vip(p["primary"], p["vip"], prefix=p["prefix"], device=p["device"])


def take_back_from_primary(ctx: Context) -> None:
    """Rollback: remove the VIP from the primary if this run put it there."""
    p = ctx.params
    if ctx.state.pop("claimed_on_primary", False):
        ctx.release_vip(p["primary"], p["vip"], prefix=p["prefix"], device=p["device"])


def vip_serves_primary_content(ctx: Context) -> None:
    """Through the VIP, clients get the primary's content (and health page)."""
    p = ctx.params
    expected = ctx.state.get("primary_digest")
    ctx.wait_until(
        f"{p['vip']} serves {p['primary']}'s content",
        lambda: _content_digest(ctx, p["vip"]) == expected,
        timeout=10,
        interval=0.1,
    )
    portal_answers_through_vip(ctx)


RUNBOOK = Runbook(
    name="failback-portal",
    title="Fail the portal back to the primary node",
    title_zh="门户网站回切至主节点",
    description=(
        "Checks the repaired primary's health and content, moves the portal VIP back from the standby "
        "(gratuitous ARP) and verifies through the VIP that clients get the primary's content."
    ),
    severity="medium",
    rto_objective=30,
    params=[
        Param(
            "primary", "host", default=lambda inv: host_with(inv, "portal_priority", "primary"), help="node taking over"
        ),
        Param(
            "standby", "host", default=lambda inv: host_with(inv, "portal_priority", "standby"), help="node giving up"
        ),
        Param("vip", "str", default=lambda inv: inv.variables.get("portal_vip"), help="the portal's service address"),
        Param("prefix", "int", default=24, help="prefix length of the VIP"),
        Param("device", "str", default="eth0", help="interface carrying the VIP"),
        Param("port", "int", default=80, help="portal HTTP port"),
        Param("health_path", "str", default="/health", help="health page"),
        Param("content_path", "str", default="/", help="page whose content identifies the node serving"),
    ],
    targets=lambda p: [p["primary"], p["standby"]],
    steady_state=[Probe("the portal answers through the VIP", portal_answers_through_vip, timeout=10)],
    steps=[
        Step("check the primary's health and content", check_primary, timeout=15, retries=2, retry_delay=1),
        Step("announce the failback", announce, timeout=10),
        Step("release the VIP on the standby", release_on_standby, timeout=15, rollback=give_back_to_standby),
        Step("claim the VIP on the primary", claim_on_primary, timeout=15, retries=1, rollback=take_back_from_primary),
    ],
    verification=[Probe("the VIP serves the primary's content", vip_serves_primary_content, timeout=15)],
    tags=["portal", "vip", "failback"],
)
