"""A test runbook that holds its target for a while: for kill -9, lock and cancel tests.

Step 1 leaves a mark on the target (a file under /tmp, removed by its
rollback); step 2 waits (cancel-aware) for up to ``wait`` seconds.
"""

from __future__ import annotations

from controlplane.runbook.context import Context
from controlplane.runbook.definition import Param, Probe, Runbook, Step

MARK = "/tmp/egov-slow-drill.mark"


def answers(ctx: Context) -> None:
    """The target answers over SSH."""
    ctx.run(ctx.params["host"], ["true"])


def mark(ctx: Context) -> None:
    """Leave a mark on the target."""
    ctx.run(ctx.params["host"], ["touch", MARK])


def unmark(ctx: Context) -> None:
    """Rollback: remove the mark."""
    ctx.run(ctx.params["host"], ["rm", "-f", MARK])


def hold(ctx: Context) -> None:
    """Wait, checking for a cancel, until the time is up."""
    ctx.log("holding the target")
    ctx.wait_until("the hold time is over", lambda: False, timeout=ctx.params["wait"], interval=0.2)


RUNBOOK = Runbook(
    name="slow-drill",
    title="Hold a host for a while",
    title_zh="占用主机一段时间",
    description="Test runbook: marks the host, then waits.",
    severity="low",
    rto_objective=5,
    params=[Param("host", "host", default="mn-db-1"), Param("wait", "float", default=60.0)],
    targets=lambda p: [p["host"]],
    steady_state=[Probe("the host answers", answers)],
    steps=[Step("mark the host", mark, rollback=unmark), Step("hold", hold, timeout=120)],
)
