"""Fail the ministry portal back from its standby to its primary node.

The mirror of failover-portal (the steps live in _portal.py): check the
primary's health and content, move the portal VIP back to it (gratuitous
ARP), verify through the VIP that clients get the primary's content. Run it
once the primary is repaired.

Runbooks are trusted code (like playbooks). API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

from _portal import move_vip_runbook

RUNBOOK = move_vip_runbook(
    name="failback-portal",
    title="Fail the portal back to the primary node",
    title_zh="门户网站回切至主节点",
    description=(
        "Checks the repaired primary's health and content, moves the portal VIP back from the standby "
        "(gratuitous ARP) and verifies through the VIP that clients get the primary's content."
    ),
    severity="medium",
    giver="standby",
    taker="primary",
    verb="failback",
    notify_severity="info",
    unreachable_note="taken as down",
)
