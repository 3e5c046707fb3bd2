"""The control catalog: shipped controls plus a site's own, validated together.

The shipped catalog lives in ``controlplane/compliance/catalog/*.yml``; a site
adds controls in the folder named ``folders.controls`` in ``egov.yml``. Every
file is validated against :data:`schema.CONTROL_FILE` with all problems
reported at once (file and key path). Ids are unique across all files: a site
control may replace a shipped one only by saying ``override: true``, so a
copy-paste accident never silently weakens the baseline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controlplane.compliance.schema import CONTROL_FILE
from controlplane.errors import ConfigError
from controlplane.yamlfile import MAX_YAML_BYTES, load_validated, schema_problems

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
# Bump when a shipped control is added, removed or changes meaning; reports
# state it so an auditor knows which baseline a scan was measured against.
CATALOG_VERSION = "2026.12.1"


@dataclass(frozen=True)
class Control:
    """One control: what to check, why, how to fix it and what it maps to."""

    id: str
    title_en: str
    title_zh: str
    severity: str
    rationale: str
    check: dict[str, Any]
    remediation: dict[str, str]
    references: dict[str, Any]
    applies: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def area(self) -> str:
        """The first part of the id (``ssh`` for ``ssh.permit-root-login``)."""
        return self.id.split(".", 1)[0]

    @property
    def mlps_titles(self) -> list[str]:
        """The MLPS 2.0 categories this control maps to (for the grouped report view)."""
        return [ref["title"] for ref in self.references.get("mlps", [])]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> Control:
        """Build a Control from one validated YAML mapping."""
        return cls(
            id=data["id"],
            title_en=data["title_en"],
            title_zh=data["title_zh"],
            severity=data["severity"],
            rationale=data["rationale"],
            check=data["check"],
            remediation={"playbook": "harden", **data["remediation"]},
            references=data["references"],
            applies=data.get("applies", {}),
            source=source,
        )


@dataclass(frozen=True)
class Catalog:
    """Every control in force, in file order, with the version reports state."""

    controls: tuple[Control, ...]
    version: str
    sources: tuple[str, ...]

    def __iter__(self) -> Iterator[Control]:
        return iter(self.controls)

    def __len__(self) -> int:
        return len(self.controls)

    def get(self, control_id: str) -> Control | None:
        """Return the control with this id, or None."""
        return next((control for control in self.controls if control.id == control_id), None)

    @property
    def ids(self) -> set[str]:
        return {control.id for control in self.controls}


# The site's waiver file lives next to its controls (one folder a security
# officer owns); it is not a control file, so the catalog skips it.
WAIVER_FILE_NAMES = ("waivers.yml", "waivers.yaml")


def control_files(folder: Path) -> list[Path]:
    """The ``*.yml`` and ``*.yaml`` control files of a folder, sorted (missing folder: none; waivers.yml skipped)."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in (".yml", ".yaml") and path.is_file() and path.name not in WAIVER_FILE_NAMES
    )


# Validated control files by (path, mtime, size): the console and a scan load the catalog
# more than once per process, and parsing plus validating 120 controls is not free.
_FILE_CACHE: dict[tuple[str, int, int], list[tuple[dict[str, Any], int]]] = {}


def load_file(path: Path) -> list[tuple[dict[str, Any], int]]:
    """Validate one control file; return its control mappings with their index (treat them as read-only).

    Parsed with libyaml when available (ten times faster); any syntax or read
    problem falls back to the shared reader, whose message names the line.
    Raises ConfigError naming the file and every bad key path.
    """
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key in _FILE_CACHE:
            return _FILE_CACHE[key]
        if stat.st_size > MAX_YAML_BYTES:
            raise OSError("too large")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = load_validated(path, CONTROL_FILE)  # raises ConfigError with the reason and the line
        key = None
    problems = schema_problems(data, CONTROL_FILE)
    if problems:
        raise ConfigError(str(path), problems)
    items = [(item, index) for index, item in enumerate(data["controls"])]
    if key is not None:
        _FILE_CACHE[key] = items
    return items


def load_catalog(site_folder: Path | None = None, shipped_folder: Path = CATALOG_DIR) -> Catalog:
    """Load the shipped controls and a site's own controls.

    Without a site folder (or with a missing one) only the shipped controls
    load; a site control replaces a shipped one only when it says
    ``override``. Raises ConfigError for a malformed file (file and key
    path), a duplicate id (both places named) or an override of nothing.
    """
    shipped = control_files(shipped_folder)
    site = control_files(site_folder) if site_folder is not None else []
    controls: dict[str, Control] = {}
    seen: dict[str, str] = {}
    for path, is_site in [(p, False) for p in shipped] + [(p, True) for p in site]:
        problems: list[tuple[str, str]] = []
        for item, index in load_file(path):
            where = f"{path}:controls[{index}]"
            control_id = item["id"]
            if control_id in seen:
                replaces_shipped = is_site and item.get("override") and not seen[control_id].startswith("site:")
                if not replaces_shipped:
                    first = seen[control_id].removeprefix("site:")
                    message = f"duplicate control id {control_id!r} (first at {first})"
                    problems.append((f"controls[{index}].id", message))
                    continue
            elif item.get("override"):
                problems.append((f"controls[{index}].override", f"no shipped control {control_id!r} to override"))
                continue
            seen[control_id] = ("site:" if is_site else "") + where
            controls[control_id] = Control.from_dict(item, source=where)
        if problems:
            raise ConfigError(str(path), problems)
    sources = tuple(str(path) for path in shipped + site)
    return Catalog(controls=tuple(controls.values()), version=catalog_version(site), sources=sources)


def catalog_version(site_files: Iterable[Path]) -> str:
    """The shipped version, plus a short digest of the site's control files when there are any."""
    digest = hashlib.sha256()
    count = 0
    for path in site_files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        count += 1
    return CATALOG_VERSION if not count else f"{CATALOG_VERSION}+site.{digest.hexdigest()[:12]}"
