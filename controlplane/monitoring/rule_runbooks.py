"""Alert rules naming a runbook are checked against the runbooks the runbook engine loads.

The monitoring engine does not execute runbook files: the caller hands
:func:`~controlplane.monitoring.spec_loader.load_monitoring` a
:class:`RunbookCatalog` (the runbook engine's
:class:`controlplane.runbook.catalog.RunbookFolder` in ``egov serve`` and
``egov monitor``), and this module reads only what it needs from what the
catalog returns: each runbook's name, its parameter names, how many
approvers it needs, or why it does not load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from controlplane.monitoring.spec import Rule


class RunbookParam(Protocol):
    """A runbook parameter, as far as a rule's ``params`` is checked against it."""

    @property
    def name(self) -> str: ...


class RunbookShape(Protocol):
    """A loaded runbook, as far as an alert rule may start it."""

    @property
    def params(self) -> Sequence[RunbookParam]: ...

    @property
    def approvals_required(self) -> int: ...


class LoadedRunbook(Protocol):
    """One runbook file: its name, and the runbook or the error that kept it from loading."""

    @property
    def name(self) -> str: ...

    @property
    def runbook(self) -> RunbookShape | None: ...

    @property
    def error(self) -> str | None: ...


class RunbookCatalog(Protocol):
    """The runbooks an alert rule may name (loading them may execute operator code: the runbook engine's job)."""

    @property
    def folder(self) -> Path:
        """Where the runbooks live (named in the messages)."""
        ...

    def load(self) -> Iterable[LoadedRunbook]:
        """Every runbook of the folder, loaded or with its error (none when there is no folder)."""
        ...


def check_rule_runbooks(rules: list[Rule], runbooks: RunbookCatalog, problem: Callable[[str, str], None]) -> None:
    """Report (as ``problem(key, message)`` on rules.yml) every runbook a rule names that is unknown,
    does not load, lacks a parameter given, or needs a second approver while the rule would run it for real.

    Loads the catalog only when a rule names a runbook.
    """
    wanted = [(index, block) for index, rule in enumerate(rules) if (block := rule.runbook) is not None]
    if not wanted:
        return
    loaded = {item.name: item for item in runbooks.load()}
    for index, block in wanted:
        where = f"rules[{index}].runbook"
        item = loaded.get(block.name)
        if item is None:
            known = ", ".join(sorted(loaded)) or "none"
            problem(f"{where}.name", f"unknown runbook {block.name!r} (runbooks in {runbooks.folder}: {known})")
            continue
        if item.runbook is None:
            problem(f"{where}.name", f"runbook {block.name!r} does not load: {item.error}")
            continue
        names = {param.name for param in item.runbook.params}
        for key in block.params:
            if key not in names:
                problem(
                    f"{where}.params.{key}",
                    f"runbook {block.name} has no parameter {key!r} (it has: {', '.join(sorted(names)) or 'none'})",
                )
        if block.auto == "run" and item.runbook.approvals_required > 1:
            problem(
                f"{where}.auto",
                f"runbook {block.name} needs a second approver, so an alert cannot run it for real",
            )
