"""The arrows allowed between the rooms of ``controlplane/``, read from the source with ``ast``.

Rooms:

* **core**: the top-level modules (``controlplane/*.py``), ``store``, ``ssh``, ``pki``,
  ``audit`` and ``users``: what every engine stands on;
* **engines**: automation, backup, compliance, monitoring, network, runbook, slo,
  recovery: one capability each;
* **faces**: ``web``, ``cli`` and ``__main__``: they read requests, assemble the
  process (the composition roots) and hand the engines what they need;
* **the lab**: ``controlplane/lab``, the local network of namespaces;
* **bootstrap**: ``egov bootstrap`` builds a fresh lab site end to end (lab
  up, provision, backup centers, first backup, scan): it is a face-level
  orchestrator, started only by ``egov bootstrap``, so it may import engines and
  the lab, and, like a face, no engine and nothing in the core may import it.

Allowed: faces -> anything; bootstrap -> core, engines, lab; engines -> core
(and each other through the arrows not listed below); lab -> core. Forbidden,
and checked here: core or engine -> face or bootstrap; engine -> lab; core ->
engine or lab (one exception: the Alembic environment gathers every model).

Every import counts, the lazy ones inside functions too: a lazy import is
still an arrow, it only hides from a reader of the module's head.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import controlplane

PACKAGE = Path(controlplane.__file__).resolve().parent
ROOT = PACKAGE.parent

ENGINES = frozenset({"automation", "backup", "compliance", "monitoring", "network", "runbook", "slo", "recovery"})
CORE_PACKAGES = frozenset({"store", "ssh", "audit", "users", "pki"})
FACES = frozenset({"web", "cli", "__main__"})
LAB = "lab"
BOOTSTRAP = "bootstrap"

# The one documented exception: Alembic's environment imports every engine's models so that
# autogenerate sees the whole schema. It runs only under ``alembic``/``open_store``'s upgrade.
CORE_MAY_IMPORT_ENGINES = frozenset({"controlplane/store/migrations/env.py"})

# Engine-to-engine lazy imports the issue names: each engine gets what it needs handed in instead.
NAMED_ENGINE_ARROWS = (
    ("controlplane/compliance/facts.py", "controlplane.backup"),
    ("controlplane/automation/engine.py", "controlplane.backup"),
    ("controlplane/monitoring/spec.py", "controlplane.runbook"),
)


@dataclass(frozen=True)
class Arrow:
    """One import: the file and line it is written on, and the module it names."""

    path: str  # relative to the repository, with forward slashes
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} -> {self.target}"


def module_name(path: Path) -> str:
    """``controlplane/backup/__init__.py`` -> ``controlplane.backup``; ``.../policy.py`` -> ``...policy``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of this source tree."""
    relative = Path(*name.split("."))
    return (ROOT / relative).with_suffix(".py").is_file() or (ROOT / relative / "__init__.py").is_file()


def arrows_in(source: str, path: str, module: str, is_package: bool) -> list[Arrow]:
    """Every import in ``source`` (module level and inside functions), resolved to absolute module names.

    ``from pkg import name`` counts as an arrow to ``pkg.name`` when that is a
    module of the tree (``from controlplane import web`` reaches the console).
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[Arrow] = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            found.extend(Arrow(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append(Arrow(path, node.lineno, candidate if is_module(candidate) else base))
    return list(dict.fromkeys(found))  # ``from x import a, b`` is one arrow


def all_arrows() -> list[Arrow]:
    """The imports of every module under ``controlplane/`` (costs one parse per file, about a second)."""
    arrows: list[Arrow] = []
    for file in sorted(PACKAGE.rglob("*.py")):
        source, relative = file.read_text(encoding="utf-8"), file.relative_to(ROOT).as_posix()
        arrows.extend(arrows_in(source, relative, module_name(file), file.name == "__init__.py"))
    return arrows


def room(module: str) -> str | None:
    """The room of a ``controlplane`` module: core, engine, face, lab or bootstrap (None: not ours)."""
    parts = module.split(".")
    if parts[0] != "controlplane":
        return None
    if len(parts) == 1 or parts[1] in CORE_PACKAGES:
        return "core"
    top = parts[1]
    if top in ENGINES:
        return "engine"
    if top in FACES:
        return "face"
    if top == LAB:
        return "lab"
    if top == BOOTSTRAP:
        return "bootstrap"
    return "core" if (PACKAGE / f"{top}.py").is_file() else "unknown"


def room_of_file(path: str) -> str | None:
    return room(module_name(ROOT / path))


def listing(arrows: list[Arrow]) -> str:
    return "\n".join(f"  {arrow}" for arrow in arrows)


ARROWS = all_arrows()


# -- the scan itself ---------------------------------------------------------------------------------


def test_the_scan_sees_lazy_imports_inside_functions_and_relative_imports() -> None:
    source = (
        "from . import policy\n"
        "def later():\n"
        "    from controlplane.lab import names\n"
        "    import controlplane.web.state\n"
        "class Thing:\n"
        "    def method(self):\n"
        "        from ..lab.probe import link_state\n"
    )
    arrows = arrows_in(source, "controlplane/backup/example.py", "controlplane.backup.example", False)
    assert [str(arrow) for arrow in arrows] == [
        "controlplane/backup/example.py:1 -> controlplane.backup.policy",
        "controlplane/backup/example.py:3 -> controlplane.lab.names",
        "controlplane/backup/example.py:4 -> controlplane.web.state",
        "controlplane/backup/example.py:7 -> controlplane.lab.probe",
    ]


def test_every_package_under_controlplane_belongs_to_a_room() -> None:
    homeless = sorted({module_name(f) for f in PACKAGE.rglob("*.py") if room(module_name(f)) == "unknown"})
    assert not homeless, "give these modules a room in tests/unit/test_architecture.py:\n" + "\n".join(homeless)


# -- the rules --------------------------------------------------------------------------------------


def test_no_engine_and_nothing_in_the_core_imports_the_console_the_cli_or_the_bootstrap() -> None:
    bad = [
        arrow
        for arrow in ARROWS
        if room_of_file(arrow.path) in ("core", "engine") and room(arrow.target) in ("face", "bootstrap")
    ]
    assert not bad, "engines and the core must not know the faces (hand them what they need instead):\n" + listing(bad)


def test_no_engine_imports_the_lab() -> None:
    bad = [arrow for arrow in ARROWS if room_of_file(arrow.path) == "engine" and room(arrow.target) == "lab"]
    assert not bad, "engines must not know the lab (the composition root injects what they need):\n" + listing(bad)


def test_the_core_imports_no_engine_and_not_the_lab_except_the_alembic_environment() -> None:
    bad = [
        arrow
        for arrow in ARROWS
        if room_of_file(arrow.path) == "core"
        and room(arrow.target) in ("engine", "lab")
        and arrow.path not in CORE_MAY_IMPORT_ENGINES
    ]
    assert not bad, "the core must not know the engines or the lab:\n" + listing(bad)


def test_the_alembic_environment_is_still_where_the_exception_points() -> None:
    for path in CORE_MAY_IMPORT_ENGINES:
        assert (ROOT / path).is_file(), f"{path} moved: update CORE_MAY_IMPORT_ENGINES"


def test_the_engine_to_engine_imports_named_in_issue_14_are_gone() -> None:
    bad = [
        arrow
        for arrow in ARROWS
        for path, target in NAMED_ENGINE_ARROWS
        if arrow.path == path and (arrow.target == target or arrow.target.startswith(target + "."))
    ]
    assert not bad, "these engines reach another engine's modules; inject an interface instead:\n" + listing(bad)
