"""What a playbook run is asked to do, how it ended, and who watches it as it goes.

Plain data shared by the run lifecycle (:mod:`.engine`), its checks
(:mod:`.preflight`) and its callers (the CLI, the console, the runbook
adapter); importing it starts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controlplane.automation import events
from controlplane.automation.settings import DEFAULT_TIMEOUT
from controlplane.store.models import RunStatus

PLAYBOOKS = {"provision": "provision.yml", "harden": "harden.yml"}
# Playbooks whose hosts never read another host's variables (they may run at their own pace).
INDEPENDENT_HOSTS = frozenset({"harden"})


@dataclass(frozen=True)
class PlaybookRequest:
    """What to run: kind (provision/harden), host pattern, flags, who asks."""

    kind: str
    limit: str | None = None
    check: bool = False
    diff: bool = False
    profile: str = "tuned"
    timeout: int = DEFAULT_TIMEOUT
    actor: str = "unknown@cli"
    trigger: str = "cli"
    tags: str | None = None

    @property
    def playbook(self) -> str:
        """The playbook file name for the kind."""
        return PLAYBOOKS[self.kind]


@dataclass
class PlaybookOutcome:
    """How a run ended: status, per-host tallies, every task result."""

    run_id: int
    status: str
    hosts: dict[str, events.HostTally]
    results: list[events.TaskResult] = field(default_factory=list)
    runner_status: str = ""
    rc: int | None = None
    duration: float = 0.0
    message: str = ""

    @property
    def exit_code(self) -> int:
        """CLI exit code: 0 every host fine, 1 any host failed/unreachable or the run failed."""
        return 0 if self.status == RunStatus.SUCCEEDED else 1

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as JSON-safe data (the CLI's ``--json``)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "runner_status": self.runner_status,
            "rc": self.rc,
            "duration_seconds": round(self.duration, 3),
            "message": self.message,
            "hosts": {name: tally.as_dict() for name, tally in sorted(self.hosts.items())},
            "changed": [r.as_dict() for r in self.results if r.status == "changed"],
            "failed": [r.as_dict() for r in self.results if r.status in ("failed", "unreachable")],
        }


class Observer:
    """Receives a run's progress as it happens (the CLI's live display overrides these)."""

    def started(self, run_id: int, hosts: list[str]) -> None:
        """The run exists and ansible is starting on these hosts."""

    def task_started(self, host: str, task: str) -> None:
        """A task began on a host."""

    def result(self, result: events.TaskResult) -> None:
        """A task finished on a host."""

    def line(self, text: str) -> None:
        """ansible printed a line."""

    def status(self, status: str) -> None:
        """ansible-runner's status changed (starting, running, successful...)."""
