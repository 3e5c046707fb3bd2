"""Fail the ministry portal over from its primary to its standby node.

The portal's service address (the VIP, inventory variable ``portal_vip``)
moves to the standby with a gratuitous ARP, after checking that the standby
is healthy and serves content, and the move is verified through the VIP:
clients must see the standby's content there. The steps live in _portal.py,
shared with failback-portal.

Runbooks are trusted code (like playbooks): this file runs with the control
plane's SSH key. API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

from _portal import move_vip_runbook

RUNBOOK = move_vip_runbook(
    name="failover-portal",
    title="Fail the portal over to the standby node",
    title_zh="门户网站主备切换",
    description=(
        "Checks the standby's health and content, moves the portal VIP from the primary to the standby "
        "(gratuitous ARP) and verifies through the VIP that clients get the standby's content."
    ),
    severity="high",
    giver="primary",
    taker="standby",
    verb="failover",
    notify_severity="warning",
    # The usual reason to fail over: the primary is gone. Fence it before it comes back.
    unreachable_note="taken as down (fence it before it returns)",
)
