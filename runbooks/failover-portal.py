"""Fail the ministry portal over from its primary to its standby node.

The portal's service address (the VIP, inventory variable ``portal_vip``)
moves to the standby with a gratuitous ARP, after checking that the standby
is healthy and serves content, and the move is verified through the VIP:
clients must see the standby's content there.

Runbooks are trusted code (like playbooks): this file runs with the control
plane's SSH key. API: controlplane/runbook/api.py; helpers:
controlplane/runbook/context.py.
"""

from __future__ import annotations

import hashlib

from controlplane.errors import UnreachableError
from controlplane.runbook.api import Param, Probe, Runbook, Step
from controlplane.runbook.context import Context
from controlplane.runbook.params import host_with


def _address(ctx: Context, role: str) -> str:
    return ctx.host(ctx.params[role]).address


def _content_digest(ctx: Context, address: str) -> str:
    page = ctx.http_check(address, port=ctx.params["port"], path=ctx.params["content_path"])
    return hashlib.sha256(page.body).hexdigest()


def portal_answers_through_vip(ctx: Context) -> None:
    """The portal's health page answers 200 through the VIP."""
    ctx.http_check(ctx.params["vip"], port=ctx.params["port"], path=ctx.params["health_path"])


def check_standby(ctx: Context) -> None:
    """The standby answers its health page and serves non-empty content of its own."""
    address = _address(ctx, "standby")
    ctx.http_check(address, port=ctx.params["port"], path=ctx.params["health_path"])
    page = ctx.http_check(address, port=ctx.params["port"], path=ctx.params["content_path"])
    ctx.expect(page.body.strip(), f"{ctx.params['standby']} serves an empty page at {ctx.params['content_path']}")
    ctx.state["standby_digest"] = hashlib.sha256(page.body).hexdigest()
    ctx.log(f"standby content sha256 {ctx.state['standby_digest']}")


def announce(ctx: Context) -> None:
    """Tell people the portal is failing over."""
    p = ctx.params
    ctx.notify(f"portal {p['vip']} failing over from {p['primary']} to {p['standby']} ({ctx.mode})", severity="warning")


def release_on_primary(ctx: Context) -> None:
    """Take the VIP off the primary; an unreachable primary is taken as down."""
    p = ctx.params
    try:
        ctx.state["released_from_primary"] = ctx.release_vip(
            p["primary"], p["vip"], prefix=p["prefix"], device=p["device"]
        )
    except UnreachableError as error:
        # The usual reason to fail over: the primary is gone. Fence it before it comes back.
        ctx.state["released_from_primary"] = False
        ctx.log(f"primary unreachable, taken as down (fence it before it returns): {error.message}")


def give_back_to_primary(ctx: Context) -> None:
    """Rollback: put the VIP back on the primary if this run took it off."""
    p = ctx.params
    if ctx.state.pop("released_from_primary", False):
        ctx.claim_vip(p["primary"], p["vip"], prefix=p["prefix"], device=p["device"])


def claim_on_standby(ctx: Context) -> None:
    """Put the VIP on the standby and announce it (gratuitous ARP)."""
    p = ctx.params
    ctx.state["claimed_on_standby"] = ctx.claim_vip(p["standby"], p["vip"], prefix=p["prefix"], device=p["device"])


def take_back_from_standby(ctx: Context) -> None:
    """Rollback: remove the VIP from the standby if this run put it there."""
    p = ctx.params
    if ctx.state.pop("claimed_on_standby", False):
        ctx.release_vip(p["standby"], p["vip"], prefix=p["prefix"], device=p["device"])


def vip_serves_standby_content(ctx: Context) -> None:
    """Through the VIP, clients get the standby's content (and health page)."""
    p = ctx.params
    expected = ctx.state.get("standby_digest")
    ctx.wait_until(
        f"{p['vip']} serves {p['standby']}'s content",
        lambda: _content_digest(ctx, p["vip"]) == expected,
        timeout=10,
        interval=0.1,
    )
    portal_answers_through_vip(ctx)


PARAMS = [
    Param("primary", "host", default=lambda inv: host_with(inv, "portal_priority", "primary"), help="node giving up"),
    Param("standby", "host", default=lambda inv: host_with(inv, "portal_priority", "standby"), help="node taking over"),
    Param("vip", "str", default=lambda inv: inv.variables.get("portal_vip"), help="the portal's service address"),
    Param("prefix", "int", default=24, help="prefix length of the VIP"),
    Param("device", "str", default="eth0", help="interface carrying the VIP"),
    Param("port", "int", default=80, help="portal HTTP port"),
    Param("health_path", "str", default="/health", help="health page"),
    Param("content_path", "str", default="/", help="page whose content identifies the node serving"),
]

RUNBOOK = Runbook(
    name="failover-portal",
    title="Fail the portal over to the standby node",
    title_zh="门户网站主备切换",
    description=(
        "Checks the standby's health and content, moves the portal VIP from the primary to the standby "
        "(gratuitous ARP) and verifies through the VIP that clients get the standby's content."
    ),
    severity="high",
    rto_objective=30,
    params=PARAMS,
    targets=lambda p: [p["primary"], p["standby"]],
    steady_state=[Probe("the portal answers through the VIP", portal_answers_through_vip, timeout=10)],
    steps=[
        Step("check the standby's health and content", check_standby, timeout=15, retries=2, retry_delay=1),
        Step("announce the failover", announce, timeout=10),
        Step("release the VIP on the primary", release_on_primary, timeout=15, rollback=give_back_to_primary),
        Step("claim the VIP on the standby", claim_on_standby, timeout=15, retries=1, rollback=take_back_from_standby),
    ],
    verification=[Probe("the VIP serves the standby's content", vip_serves_standby_content, timeout=15)],
    tags=["portal", "vip", "failover"],
)
