"""From ansible-runner events to per-host task results and run outcomes (pure).

ansible-runner hands every callback event as a dict: ``event`` names it
(``runner_on_ok``, ``runner_on_failed``, ``playbook_on_stats``...),
``event_data`` carries the host, task, role and the module's ``res``, and
``stdout`` the text ansible printed for it. This module turns those dicts
into :class:`TaskResult` rows and keeps a per-host :class:`HostTally`, so it
is tested on recorded events without ansible or a store.

Task names end with the compliance control ids they satisfy in brackets,
e.g. ``sshd: no root password login [ssh.permit-root-login]``; they are
parsed here so a failed or drifted task names the controls it breaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.automation import exitcodes
from controlplane.store.models import RunStatus

MAX_MESSAGE_CHARS = 2000
CONTROL_IDS = re.compile(r"\[([a-z0-9][a-z0-9._-]*(?:\s*,\s*[a-z0-9][a-z0-9._-]*)*)\]\s*$")
CONTROL_ID = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*\.[a-z0-9-]+$")
HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclass(frozen=True)
class TaskResult:
    """One task's outcome on one host."""

    host: str
    task: str
    role: str | None
    status: str  # ok, changed, failed, skipped, unreachable, ignored
    changed: bool
    controls: tuple[str, ...]
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-safe data."""
        return {
            "host": self.host,
            "task": self.task,
            "role": self.role,
            "status": self.status,
            "changed": self.changed,
            "controls": list(self.controls),
            "message": self.message,
        }


@dataclass
class HostTally:
    """Counts of task outcomes on one host, and the task running on it now."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    ignored: int = 0
    current: str = ""
    changed_tasks: list[str] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """The host's overall outcome: unreachable, failed, changed or ok."""
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        if self.changed:
            return "changed"
        return "ok"

    def add(self, result: TaskResult) -> None:
        """Count one task result."""
        if result.status == "unreachable":
            self.unreachable += 1
        elif result.status == "failed":
            self.failed += 1
            self.failed_tasks.append(result.task)
        elif result.status == "skipped":
            self.skipped += 1
        else:
            # ok, changed and ignored failures all count as ok, like ansible's recap
            self.ok += 1
            if result.status == "ignored":
                self.ignored += 1
            if result.changed:
                self.changed += 1
                self.changed_tasks.append(result.task)

    def as_dict(self) -> dict[str, Any]:
        """Return the tally as JSON-safe data."""
        return {
            "host": self.host,
            "outcome": self.outcome,
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
            "changed_tasks": list(self.changed_tasks),
            "failed_tasks": list(self.failed_tasks),
        }


def control_ids(task_name: str) -> tuple[str, ...]:
    """Return the control ids named at the end of a task name (``[a.b, c.d]``), or ()."""
    match = CONTROL_IDS.search(task_name or "")
    if not match:
        return ()
    ids = [word.strip() for word in match.group(1).split(",")]
    return tuple(word for word in ids if CONTROL_ID.fullmatch(word))


def _message(res: Mapping[str, Any]) -> str:
    """The most useful one-paragraph text of a module result (already masked by no_log)."""
    parts: list[str] = []
    for key in ("msg", "reason", "stderr", "module_stderr"):
        value = res.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    if not parts and isinstance(res.get("results"), list):
        # A loop: the first failing item's message.
        for item in res["results"]:
            if isinstance(item, Mapping) and item.get("failed"):
                return _message(item)
    text = "\n".join(parts)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def task_result(event: Mapping[str, Any]) -> TaskResult | None:
    """Map one runner event to a TaskResult, or None for events that are not per-host results.

    ``event`` is the dict ansible-runner passes to the event handler. A failure
    with ``ignore_errors`` is ``ignored``; an ok result with ``changed`` is
    ``changed`` (in check mode: would change).
    """
    kind = HOST_EVENTS.get(str(event.get("event", "")))
    data = event.get("event_data") or {}
    host = data.get("host")
    if kind is None or not host:
        return None
    res = data.get("res") or {}
    if not isinstance(res, Mapping):
        res = {}
    task = str(data.get("task") or data.get("task_action") or "?")
    changed = bool(res.get("changed")) and kind == "ok"
    status = kind
    if kind == "ok" and changed:
        status = "changed"
    if kind == "failed" and data.get("ignore_errors"):
        status = "ignored"
    message = _message(res) if kind in ("failed", "unreachable") or status == "ignored" else ""
    if kind == "skipped" and res.get("skip_reason"):
        message = str(res["skip_reason"])[:MAX_MESSAGE_CHARS]
    role = data.get("role") or None
    return TaskResult(
        host=str(host),
        task=task[:255],
        role=str(role)[:64] if role else None,
        status=status,
        changed=changed,
        controls=control_ids(task),
        message=message,
    )


def event_lines(event: Mapping[str, Any]) -> list[str]:
    """Return the text lines ansible printed for an event (none for an empty one)."""
    text = event.get("stdout") or ""
    if not isinstance(text, str) or not text:
        return []
    return text.splitlines()


def running_task(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """For a ``runner_on_start`` event return (host, task name); else None."""
    if event.get("event") != "runner_on_start":
        return None
    data = event.get("event_data") or {}
    host, task = data.get("host"), data.get("task")
    if not host:
        return None
    return str(host), str(task or "")


def stats_hosts(event: Mapping[str, Any]) -> dict[str, dict[str, int]] | None:
    """For ``playbook_on_stats`` return {host: {ok, changed, failures, dark, skipped}}; else None."""
    if event.get("event") != "playbook_on_stats":
        return None
    data = event.get("event_data") or {}
    hosts: dict[str, dict[str, int]] = {}
    for key in ("ok", "changed", "failures", "dark", "skipped", "ignored", "rescued"):
        for host, count in (data.get(key) or {}).items():
            hosts.setdefault(str(host), {})[key] = int(count)
    return hosts


def tally(results: Iterable[TaskResult], hosts: Iterable[str] = ()) -> dict[str, HostTally]:
    """Return a HostTally per host (every host of ``hosts`` present, even with no result)."""
    tallies = {host: HostTally(host) for host in hosts}
    for result in results:
        tallies.setdefault(result.host, HostTally(result.host)).add(result)
    return tallies


def run_status(tallies: Mapping[str, HostTally], runner_status: str, rc: int | None) -> str:
    """Return the final run status from the per-host tallies and ansible's outcome.

    ``canceled`` becomes cancelled and ``timeout`` failed. Otherwise: every
    host fine -> succeeded; some hosts failed or unreachable and others fine
    -> partial; none fine -> failed. ansible exit codes other than 0 (ok),
    2 (a host failed) and 4 (a host unreachable) mean ansible itself failed
    (syntax, missing file...): failed (:mod:`.exitcodes` reads them).
    """
    if runner_status == "canceled":
        return RunStatus.CANCELLED
    if runner_status == "timeout":
        return RunStatus.FAILED
    bad = [t for t in tallies.values() if t.outcome in ("failed", "unreachable")]
    good = [t for t in tallies.values() if t.outcome in ("ok", "changed")]
    if exitcodes.ansible_failed(rc):
        return RunStatus.PARTIAL if good and bad else RunStatus.FAILED
    if not tallies:
        return RunStatus.SUCCEEDED if rc == 0 else RunStatus.FAILED
    if not bad:
        return RunStatus.SUCCEEDED if rc in (0, None) else RunStatus.FAILED
    return RunStatus.PARTIAL if good else RunStatus.FAILED
