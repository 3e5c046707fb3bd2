"""Loading the operator's runbook files.

Each ``*.py`` file of the runbooks folder (names starting with ``_`` are
shared helpers, not runbooks) is executed as a module and must bind
``RUNBOOK`` to a :class:`~controlplane.runbook.definition.Runbook` whose name is the
file's name. A file that fails to load for any reason is listed with its
error, never skipped: an operator must see a broken runbook before the
incident that needs it.

Loading executes the file: ``runbooks/`` is trusted code, like playbooks.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from controlplane.errors import BadInputError
from controlplane.runbook.definition import Runbook

MODULE_PREFIX = "egov_runbooks"


@dataclass
class LoadedRunbook:
    """A runbook file: its name and path, and either the Runbook or the error that kept it from loading."""

    name: str
    path: Path
    runbook: Runbook | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.runbook is not None


def _error_text(error: BaseException, path: Path) -> str:
    """The error with the line of the runbook file it came from, when there is one."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    where = f" (line {frames[-1].lineno})" if frames else ""
    if isinstance(error, SyntaxError):
        where = f" (line {error.lineno})"
        return f"syntax error{where}: {error.msg}"
    return f"{type(error).__name__}{where}: {error}"


def load_file(path: Path) -> LoadedRunbook:
    """Execute one runbook file and return what it declares (or its error)."""
    name = path.stem
    module_name = f"{MODULE_PREFIX}.{name.replace('-', '_')}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            return LoadedRunbook(name, path, error="not a loadable Python file")
        module = importlib.util.module_from_spec(spec)
        # Helpers next to the runbooks (``_portal.py``) import by their plain name.
        folder = str(path.parent)
        added = folder not in sys.path
        if added:
            sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        finally:
            if added:
                sys.path.remove(folder)
    except BaseException as error:  # operator code: any failure is a listed error
        if isinstance(error, KeyboardInterrupt):
            raise
        return LoadedRunbook(name, path, error=_error_text(error, path))
    runbook = getattr(module, "RUNBOOK", None)
    if not isinstance(runbook, Runbook):
        return LoadedRunbook(name, path, error="the file does not define RUNBOOK = Runbook(...)")
    if runbook.name != name:
        return LoadedRunbook(name, path, error=f"RUNBOOK.name is {runbook.name!r} but the file is {path.name}")
    return LoadedRunbook(name, path, runbook=runbook)


def load_runbooks(folder: Path) -> list[LoadedRunbook]:
    """Load every runbook file of a folder, sorted by name (broken ones carry their error)."""
    if not folder.is_dir():
        return []
    return [load_file(path) for path in sorted(folder.glob("*.py")) if not path.name.startswith("_")]


def get_runbook(folder: Path, name: str) -> Runbook:
    """Return the named runbook.

    Raises BadInputError when there is no such file or it failed to load
    (with its error).
    """
    path = folder / f"{name}.py"
    if name.startswith("_") or "/" in name or not path.is_file():
        known = ", ".join(item.name for item in load_runbooks(folder)) or "none"
        raise BadInputError(f"no runbook {name!r} in {folder} (known: {known})")
    loaded = load_file(path)
    if loaded.runbook is None:
        raise BadInputError(f"runbook {name} does not load: {loaded.error}")
    return loaded.runbook
