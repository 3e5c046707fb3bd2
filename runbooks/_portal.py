"""Moving the ministry portal's VIP between its two nodes: shared by failover and failback.

One runbook shape serves both directions: check the node taking over (health
and content), announce, take the VIP off the node giving up (an unreachable
one is taken as down), put it on the node taking over with a gratuitous ARP,
and verify through the VIP that clients get the new node's content. Each
VIP step has a rollback that undoes exactly what this run did.

Runbooks are trusted code (like playbooks): this file runs with the control
plane's SSH key. API: controlplane/runbook/definition.py; helpers:
controlplane/runbook/context.py.
"""

from __future__ import annotations

import hashlib

from controlplane.errors import UnreachableError
from controlplane.runbook.context import Context, StepFailed
from controlplane.runbook.definition import Param, Probe, Runbook, Step
from controlplane.runbook.params import host_with


def _content_digest(ctx: Context, address: str) -> str:
    page = ctx.http_check(address, port=ctx.params["port"], path=ctx.params["content_path"])
    return hashlib.sha256(page.body).hexdigest()


def portal_answers_through_vip(ctx: Context) -> None:
    """The portal's health page answers 200 through the VIP."""
    ctx.http_check(ctx.params["vip"], port=ctx.params["port"], path=ctx.params["health_path"])


def portal_serves_or_giver_is_down(giver: str) -> Probe:
    """The steady state of a VIP move: clients are served through the VIP, or the outage is the giver's.

    A planned move starts (and a drill ends) with the portal answering
    through the VIP. An emergency move starts with the node giving up down:
    the VIP then answers nothing, which is the state this runbook exists for,
    so the hypothesis also holds when the giver's own health page does not
    answer either. It fails when the VIP is dead while the giver answers
    (something else is wrong: moving the VIP would not help).
    """

    def check(ctx: Context) -> None:
        p = ctx.params
        try:
            portal_answers_through_vip(ctx)
            return
        except StepFailed as error:
            through_vip = error.message
        try:
            ctx.http_check(ctx.host(p[giver]).address, port=p["port"], path=p["health_path"], timeout=2.0)
        except StepFailed:
            ctx.log(f"the VIP does not answer and neither does the {giver} {p[giver]}: the outage this runbook is for")
            return
        ctx.fail(f"{through_vip}, although the {giver} {p[giver]} answers: moving the VIP would not help")

    return Probe(f"the portal answers through the VIP, or the {giver} is down", check, timeout=10)


def _vip(ctx: Context, host_param: str) -> tuple[str, str]:
    p = ctx.params
    return p[host_param], p["vip"]


def portal_params(giver: str, taker: str) -> list[Param]:
    """The parameters of a VIP move, with help naming which node gives up and which takes over."""
    role_help = {giver: "node giving up", taker: "node taking over"}

    def node(priority: str) -> Param:
        default = lambda inv: host_with(inv, "portal_priority", priority)  # noqa: E731 - a one-line default
        return Param(priority, "host", default=default, help=role_help[priority])

    return [
        node("primary"),
        node("standby"),
        Param("vip", "str", default=lambda inv: inv.variables.get("portal_vip"), help="the portal's service address"),
        Param("prefix", "int", default=24, help="prefix length of the VIP"),
        Param("device", "str", default="eth0", help="interface carrying the VIP"),
        Param("port", "int", default=80, help="portal HTTP port"),
        Param("health_path", "str", default="/health", help="health page"),
        Param("content_path", "str", default="/", help="page whose content identifies the node serving"),
    ]  # fmt: skip


def move_vip_runbook(
    *,
    name: str,
    title: str,
    title_zh: str,
    description: str,
    severity: str,
    giver: str,
    taker: str,
    verb: str,
    notify_severity: str,
    unreachable_note: str,
) -> Runbook:
    """Build the runbook moving the portal VIP from the ``giver`` node to the ``taker`` node.

    Given the runbook's identity, the parameter names of the two nodes
    ("primary"/"standby"), the verb used in step names and notices ("failover"
    or "failback"), the severity of the notice and what the journal says when
    the giver is unreachable. Returns the Runbook.
    """

    def check_taker(ctx: Context) -> None:
        address = ctx.host(ctx.params[taker]).address
        ctx.http_check(address, port=ctx.params["port"], path=ctx.params["health_path"])
        page = ctx.http_check(address, port=ctx.params["port"], path=ctx.params["content_path"])
        ctx.expect(page.body.strip(), f"{ctx.params[taker]} serves an empty page at {ctx.params['content_path']}")
        ctx.state[f"{taker}_digest"] = hashlib.sha256(page.body).hexdigest()
        ctx.log(f"{taker} content sha256 {ctx.state[f'{taker}_digest']}")

    def announce(ctx: Context) -> None:
        p = ctx.params
        direction = "failing over" if verb == "failover" else "failing back"
        message = f"portal {p['vip']} {direction} from {p[giver]} to {p[taker]} ({ctx.mode})"
        ctx.notify(message, severity=notify_severity)

    def release_on_giver(ctx: Context) -> None:
        p = ctx.params
        try:
            released = ctx.release_vip(*_vip(ctx, giver), prefix=p["prefix"], device=p["device"])
            ctx.state[f"released_from_{giver}"] = released
        except UnreachableError as error:
            ctx.state[f"released_from_{giver}"] = False
            ctx.log(f"{giver} unreachable, {unreachable_note}: {error.message}")

    def give_back_to_giver(ctx: Context) -> None:
        p = ctx.params
        if ctx.state.pop(f"released_from_{giver}", False):
            ctx.claim_vip(*_vip(ctx, giver), prefix=p["prefix"], device=p["device"])

    def claim_on_taker(ctx: Context) -> None:
        p = ctx.params
        ctx.state[f"claimed_on_{taker}"] = ctx.claim_vip(*_vip(ctx, taker), prefix=p["prefix"], device=p["device"])

    def take_back_from_taker(ctx: Context) -> None:
        p = ctx.params
        if ctx.state.pop(f"claimed_on_{taker}", False):
            ctx.release_vip(*_vip(ctx, taker), prefix=p["prefix"], device=p["device"])

    def vip_serves_taker_content(ctx: Context) -> None:
        p = ctx.params
        expected = ctx.state.get(f"{taker}_digest")
        ctx.wait_until(
            f"{p['vip']} serves {p[taker]}'s content",
            lambda: _content_digest(ctx, p["vip"]) == expected,
            timeout=10,
            interval=0.1,
        )
        portal_answers_through_vip(ctx)

    steps = [
        Step(f"check the {taker}'s health and content", check_taker, timeout=15, retries=2, retry_delay=1),
        Step(f"announce the {verb}", announce, timeout=10),
        Step(f"release the VIP on the {giver}", release_on_giver, timeout=15, rollback=give_back_to_giver),
        Step(f"claim the VIP on the {taker}", claim_on_taker, timeout=15, retries=1, rollback=take_back_from_taker),
    ]
    return Runbook(
        name=name,
        title=title,
        title_zh=title_zh,
        description=description,
        severity=severity,
        rto_objective=30,
        params=portal_params(giver, taker),
        targets=lambda p: [p["primary"], p["standby"]],
        steady_state=[portal_serves_or_giver_is_down(giver)],
        steps=steps,
        verification=[Probe(f"the VIP serves the {taker}'s content", vip_serves_taker_content, timeout=15)],
        tags=["portal", "vip", verb],
    )
