"""Backup policies: the operator's ``backup/*.yml`` files, loaded, checked and resolved.

Every ``*.yml``/``*.yaml`` file directly under the policy folder is validated
against :data:`~controlplane.backup.schema.POLICY_SCHEMA`; then the rules a
schema cannot say are checked (exactly one of ``hosts``/``local`` and of
``paths``/``dump``, cron expressions, unique dataset names across files, and
with an inventory: hosts that exist and patterns that match). Every problem of
every file is reported at once in one :class:`~controlplane.errors.ConfigError`
whose key paths name the file (``portal.yml:datasets[0].schedule``).

The rules a schema cannot say live in :mod:`.policy_rules`; where each
dataset's backups go (its units and repositories) in :mod:`.targets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError, ConfigError
from controlplane.yamlfile import read_yaml, schema_problems

from .policy_rules import dataset_problems, defaults_problems, inventory_problems
from .schema import POLICY_SCHEMA, UNIX_USER

if TYPE_CHECKING:
    from controlplane.inventory import Inventory

# The pseudo site and host of the control plane's own repositories.
CONTROLPLANE = "controlplane"
DEFAULT_RETRY_LOCK = "5m"
DEFAULT_CHECK_SCHEDULE = "30 3 * * sun"
DEFAULT_READ_DATA_SUBSET = "5%"
DEFAULT_PRUNE_SCHEDULE = "45 2 * * *"
DEFAULT_COPY_SCHEDULE = "50 */2 * * *"
# Under /var/lib, not /var/tmp: a world-writable parent would let any local
# user plant a symlink where a restore (run as root) is about to write.
DEFAULT_RESTORE_ROOTS = ("/var/lib/egov/restore",)
DEFAULT_DRILL_ROOT = "/var/lib/egov/drill"
_AGE_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Retention:
    """restic ``--keep-*`` rules; None means the rule is not used."""

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None

    def rules(self) -> list[tuple[str, int]]:
        """Return the rules in use as ``(restic flag, count)`` in a fixed order."""
        pairs = [
            ("--keep-last", self.keep_last),
            ("--keep-hourly", self.keep_hourly),
            ("--keep-daily", self.keep_daily),
            ("--keep-weekly", self.keep_weekly),
            ("--keep-monthly", self.keep_monthly),
            ("--keep-yearly", self.keep_yearly),
        ]
        return [(flag, count) for flag, count in pairs if count is not None]


DEFAULT_STALL_TIMEOUT = 20


@dataclass(frozen=True)
class Center:
    """A backup center: inventory host, repository root and SFTP account scheme."""

    host: str
    root: str
    port: int = 22
    user_prefix: str = "backup-"
    site_users: dict[str, str] = field(default_factory=dict, hash=False)
    chrooted: bool = False
    identity_file: str = "/etc/egov/backup/id_ed25519"
    known_hosts: str = "/etc/egov/backup/known_hosts"
    # Seconds restic's ssh to this center may go unanswered (connecting or mid-transfer) before the run fails.
    stall_timeout: int = DEFAULT_STALL_TIMEOUT

    def sftp_user(self, site: str) -> str:
        """Return the SFTP account of a site on this center.

        ``site_users[site]`` when set, else prefix + site. Raises
        BadInputError when the result is not a valid Unix user name
        (over 32 characters, say), naming the ``site_users`` fix.
        """
        user = self.site_users.get(site, f"{self.user_prefix}{site}")
        if not re.match(UNIX_USER, user):
            raise BadInputError(
                f"SFTP account {user!r} for site {site!r} is not a valid Unix user name (max 32 characters): "
                f"set centers.*.site_users.{site}"
            )
        return user

    def repository_path(self, site: str, host: str, dataset: str) -> str:
        """Return the repository folder as the site account sees it.

        ``<root>/<site>/<host>/<dataset>``, or ``/<host>/<dataset>`` when
        site accounts are chrooted to ``<root>/<site>``.
        """
        if self.chrooted:
            return f"/{host}/{dataset}"
        return f"{self.root.rstrip('/')}/{site}/{host}/{dataset}"


@dataclass(frozen=True)
class Dump:
    """A dump command streamed into restic with ``--stdin-from-command``."""

    command: tuple[str, ...]
    filename: str


@dataclass(frozen=True)
class Drill:
    """Where and how a dataset's restore drill runs."""

    target: str
    schedule: str | None = None
    restore_root: str = DEFAULT_DRILL_ROOT
    verify: tuple[str, ...] = ()

    def verify_argv(self, restore_dir: str) -> list[str]:
        """Return the verification argv with ``{restore_dir}`` replaced.

        Empty when the dataset has no verification command. Only that one
        placeholder is expanded, by plain substitution (never
        ``str.format``, which would let a policy reach attributes of the
        arguments).
        """
        return [word.replace("{restore_dir}", restore_dir) for word in self.verify]


@dataclass(frozen=True)
class Dataset:
    """One dataset with every default already applied."""

    name: str
    schedule: str
    rpo: str
    rpo_seconds: int
    retention: Retention
    hosts: str | None = None
    local: bool = False
    paths: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    dump: Dump | None = None
    tags: tuple[str, ...] = ()
    manifest: bool = True
    drill: Drill | None = None
    check_schedule: str = DEFAULT_CHECK_SCHEDULE
    read_data_subset: str = DEFAULT_READ_DATA_SUBSET
    prune_schedule: str = DEFAULT_PRUNE_SCHEDULE
    copy_schedule: str = DEFAULT_COPY_SCHEDULE
    retry_lock: str = DEFAULT_RETRY_LOCK
    description: str = ""
    source: str = ""

    @property
    def snapshot_tags(self) -> tuple[str, ...]:
        """Tags for every snapshot: ``egov``, the dataset name, then the policy's tags."""
        extra = tuple(tag for tag in self.tags if tag not in ("egov", self.name))
        return ("egov", self.name, *extra)


@dataclass(frozen=True)
class Policy:
    """All policy files of a folder, merged."""

    primary: Center | None
    secondary: Center | None
    datasets: tuple[Dataset, ...]
    restore_roots: tuple[str, ...] = DEFAULT_RESTORE_ROOTS
    files: tuple[str, ...] = ()
    restic: str | None = None

    def dataset(self, name: str) -> Dataset:
        """Return the named dataset; raise BadInputError when there is none."""
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        known = ", ".join(d.name for d in self.datasets) or "none"
        raise BadInputError(f"unknown dataset {name!r} (known: {known})")


def parse_age(text: str) -> int:
    """Return an age such as ``90m``, ``2h``, ``1d`` or ``1w`` in seconds.

    Raises BadInputError for anything else.
    """
    match = re.fullmatch(r"([1-9][0-9]{0,4})([mhdw])", text or "")
    if match is None:
        raise BadInputError(f"{text!r} is not a duration like 30m, 2h, 1d or 1w")
    return int(match.group(1)) * _AGE_UNITS[match.group(2)]


def _center(data: dict[str, Any] | None) -> Center | None:
    if not data:
        return None
    return Center(
        host=data["host"],
        root=data["root"],
        port=data.get("port", 22),
        user_prefix=data.get("user_prefix", "backup-"),
        site_users=dict(data.get("site_users", {})),
        chrooted=data.get("chrooted", False),
        identity_file=data.get("identity_file", Center.identity_file),
        known_hosts=data.get("known_hosts", Center.known_hosts),
        stall_timeout=_stall_seconds(data.get("stall_timeout")),
    )


def _stall_seconds(text: str | None) -> int:
    """Seconds of a ``stall_timeout`` like ``20s`` or ``1m`` (the schema checked its form)."""
    if not text:
        return DEFAULT_STALL_TIMEOUT
    return int(text[:-1]) * (60 if text.endswith("m") else 1)


def _dataset(data: dict[str, Any], defaults: dict[str, Any], source: str) -> Dataset:
    # Retention is taken whole from the dataset or the defaults: merging keep
    # rules key by key would keep snapshots nobody asked for.
    retention = Retention(**(data.get("retention") or defaults.get("retention") or {}))
    check = {**defaults.get("check", {}), **data.get("check", {})}
    prune = {**defaults.get("prune", {}), **data.get("prune", {})}
    copy = {**defaults.get("copy", {}), **data.get("copy", {})}
    dump = data.get("dump")
    drill = data.get("drill")
    return Dataset(
        name=data["name"],
        description=data.get("description", ""),
        hosts=data.get("hosts"),
        local=bool(data.get("local", False)),
        paths=tuple(data.get("paths", ())),
        excludes=tuple(data.get("excludes", ())),
        dump=Dump(tuple(dump["command"]), dump["filename"]) if dump else None,
        schedule=data["schedule"],
        rpo=data["rpo"],
        rpo_seconds=parse_age(data["rpo"]),
        retention=retention,
        tags=tuple(data.get("tags", ())),
        manifest=bool(data.get("manifest", True)) and not dump,
        drill=Drill(
            target=drill["target"],
            schedule=drill.get("schedule"),
            restore_root=drill.get("restore_root", DEFAULT_DRILL_ROOT),
            verify=tuple(drill.get("verify", ())),
        )
        if drill
        else None,
        check_schedule=check.get("schedule", DEFAULT_CHECK_SCHEDULE),
        read_data_subset=check.get("read_data_subset", DEFAULT_READ_DATA_SUBSET),
        prune_schedule=prune.get("schedule", DEFAULT_PRUNE_SCHEDULE),
        copy_schedule=copy.get("schedule", DEFAULT_COPY_SCHEDULE),
        retry_lock=data.get("retry_lock") or defaults.get("retry_lock") or DEFAULT_RETRY_LOCK,
        source=source,
    )


def policy_files(folder: Path) -> list[Path]:
    """Return the policy files of a folder (``*.yml``, ``*.yaml``), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def load_policies(folder: Path, inventory: Inventory | None = None) -> Policy:
    """Read, validate and merge every policy file of a folder, defaults applied.

    With an inventory, centers, drill targets and host patterns must name
    real hosts. Raises ConfigError listing every problem of every file at
    once, each as ``FILE:key.path``, so the operator fixes them in one go.
    """

    problems: list[tuple[str, str]] = []
    files = policy_files(folder)
    if not folder.is_dir():
        raise ConfigError(str(folder), [("", "backup policy folder does not exist")])
    documents: list[tuple[str, dict[str, Any]]] = []
    for path in files:
        try:
            data = read_yaml(path)
        except ConfigError as error:
            problems += [(f"{path.name}:{where}", message) for where, message in error.problems]
            continue
        data = {} if data is None else data
        found = schema_problems(data, POLICY_SCHEMA)
        problems += [(f"{path.name}:{where}" if where else path.name, message) for where, message in found]
        if not found:
            documents.append((path.name, data))

    centers: dict[str, Any] | None = None
    centers_file = ""
    defaults: dict[str, Any] = {}
    for name, data in documents:
        if "centers" in data:
            if centers is not None:
                problems.append((f"{name}:centers", f"centers are already defined in {centers_file}"))
            else:
                centers, centers_file = data["centers"], name
        if "defaults" in data:
            if defaults:
                problems.append((f"{name}:defaults", "defaults are defined in more than one file"))
            else:
                defaults = data["defaults"]
                problems += defaults_problems(defaults, f"{name}:defaults")

    datasets: list[Dataset] = []
    seen: dict[str, str] = {}
    for name, data in documents:
        for number, item in enumerate(data.get("datasets", ())):
            where = f"{name}:datasets[{number}]"
            if item["name"] in seen:
                problems.append(
                    (f"{where}.name", f"dataset {item['name']!r} is already defined at {seen[item['name']]}")
                )
                continue
            seen[item["name"]] = where
            found = dataset_problems(item, defaults, where)
            problems += found
            if not found:
                datasets.append(_dataset(item, defaults, name))
    if (datasets or seen) and centers is None:
        problems.append(("centers", "no file defines centers.primary, so datasets have nowhere to go"))

    policy = Policy(
        primary=_center(centers.get("primary")) if centers else None,
        secondary=_center(centers.get("secondary")) if centers else None,
        datasets=tuple(datasets),
        restore_roots=tuple(defaults.get("restore_roots", DEFAULT_RESTORE_ROOTS)),
        files=tuple(p.name for p in files),
        restic=defaults.get("restic"),
    )
    if inventory is not None and not problems:
        problems += inventory_problems(policy, inventory, centers_file, seen)
    if problems:
        raise ConfigError(str(folder), sorted(problems))
    return policy
