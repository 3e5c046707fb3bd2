"""The runbooks of a folder, loaded on demand: what other engines are handed instead of loading runbook files.

The monitoring spec checks that alert rules name runbooks that load, with
the parameters given (:class:`controlplane.monitoring.rule_runbooks.RunbookCatalog`);
the composition roots (``egov serve``, ``egov monitor``) hand it a
:class:`RunbookFolder`, so executing operator code stays in the runbook
engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane.runbook.loader import LoadedRunbook, load_runbooks


@dataclass(frozen=True)
class RunbookFolder:
    """The runbooks of ``folder``; each :meth:`load` executes every file again (a few ms per runbook)."""

    folder: Path

    def load(self) -> list[LoadedRunbook]:
        """Every runbook file of the folder, loaded or with its error; none when there is no folder."""
        return load_runbooks(self.folder) if self.folder.is_dir() else []
