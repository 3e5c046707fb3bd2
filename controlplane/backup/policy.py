"""Backup policies: the operator's ``backup/*.yml`` files, loaded, checked and resolved.

Every ``*.yml``/``*.yaml`` file directly under the policy folder is validated
against :data:`~controlplane.backup.schema.POLICY_SCHEMA`; then the rules a
schema cannot say are checked (exactly one of ``hosts``/``local`` and of
``paths``/``dump``, cron expressions, unique dataset names across files, and
with an inventory: hosts that exist and patterns that match). Every problem of
every file is reported at once in one :class:`~controlplane.errors.ConfigError`
whose key paths name the file (``portal.yml:datasets[0].schedule``).

Resolution to repositories follows the layout documented in
:mod:`controlplane.backup`: one repository per site, host and dataset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.errors import BadInputError, ConfigError
from controlplane.yamlfile import read_yaml, schema_problems

from .schema import POLICY_SCHEMA, UNIX_USER

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
# The vault's rule for secret names (controlplane.vault.SECRET_NAME).
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
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

        Given a site name; returns ``site_users[site]`` or prefix + site.
        Raises BadInputError when the result is not a valid Unix user name
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

        Given the folder the drill restored into; returns the argv (empty when
        the dataset has no verification command). Only that one placeholder is
        expanded, by plain substitution (never ``str.format``, which would let
        a policy reach attributes of the arguments).
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


@dataclass(frozen=True)
class BackupTarget:
    """One unit of scheduling: a dataset on one host, with its repository."""

    dataset: Dataset
    host: str
    site: str
    repository: str
    password_secret: str


def parse_age(text: str) -> int:
    """Return an age such as ``90m``, ``2h``, ``1d`` or ``1w`` in seconds.

    Raises BadInputError for anything else.
    """
    match = re.fullmatch(r"([1-9][0-9]{0,4})([mhdw])", text or "")
    if match is None:
        raise BadInputError(f"{text!r} is not a duration like 30m, 2h, 1d or 1w")
    return int(match.group(1)) * _AGE_UNITS[match.group(2)]


def cron_problem(expression: str) -> str | None:
    """Return why a five-field cron expression is unusable, or None when it is fine.

    Fields are checked by APScheduler (the scheduler that will run it). A
    numeric weekday is refused: cron counts 0 = Sunday, APScheduler 0 = Monday,
    so only names (mon-sun) mean the same to both.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        return f"{expression!r} must have five fields (minute hour day month weekday)"
    if re.search(r"[0-9]", fields[4]):
        return f"{expression!r}: write weekdays as names (mon-sun); cron and APScheduler number them differently"
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as error:
        return f"{expression!r} is not a valid cron expression: {error}"
    return None


def subset_problem(subset: str) -> str | None:
    """Return why a ``--read-data-subset`` value is out of range, or None."""
    if subset.endswith("%"):
        if not 0 < float(subset[:-1]) <= 100:
            return f"{subset!r}: a percentage must be above 0 and at most 100"
    elif "/" in subset:
        part, total = (int(x) for x in subset.split("/"))
        if part > total:
            return f"{subset!r}: in n/t, n must not exceed t"
    return None


def password_secret_name(site: str, host: str, dataset: str) -> str:
    """Return the vault secret holding one repository's password.

    ``restic:<site>:<host>:<dataset>``. Raises BadInputError when the name
    would break the vault's rules (too long).
    """
    name = f"restic:{site}:{host}:{dataset}"
    if not _SECRET_NAME.match(name):
        raise BadInputError(f"secret name {name!r} is longer than the vault allows (128)")
    return name


def repository_url(center: Center, address: str, site: str, host: str, dataset: str) -> str:
    """Return the restic repository location of a dataset on a host.

    Given the center, the center's address (from the inventory), and the
    site, host and dataset; returns ``sftp:USER@ADDRESS:PATH`` for port 22,
    else ``sftp://USER@ADDRESS:PORT//PATH`` (restic's form with a port; IPv6
    addresses in brackets). Raises BadInputError for an invalid SFTP account.
    """
    user = center.sftp_user(site)
    path = center.repository_path(site, host, dataset)
    if center.port == 22 and ":" not in address:
        return f"sftp:{user}@{address}:{path}"
    where = f"[{address}]" if ":" in address else address
    return f"sftp://{user}@{where}:{center.port}/{path}"


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


def _dataset_problems(data: dict[str, Any], defaults: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """The rules of one (schema-valid) dataset that a JSON schema cannot say clearly."""
    problems: list[tuple[str, str]] = []
    if ("hosts" in data) == bool(data.get("local")):
        problems.append((where, "set either hosts (an inventory pattern) or local: true, not both or neither"))
    if ("paths" in data) == ("dump" in data):
        problems.append((where, "set either paths or dump, not both or neither"))
    if "excludes" in data and "dump" in data:
        problems.append((f"{where}.excludes", "excludes apply to paths only, not to a dump"))
    if not data.get("local"):
        for number, path in enumerate(data.get("paths", ())):
            if not path.startswith("/"):
                problems.append((f"{where}.paths[{number}]", f"{path!r} must be absolute (relative only with local)"))
    if not data.get("retention") and not defaults.get("retention"):
        problems.append((f"{where}.retention", "no retention here and none in defaults: forget would keep everything"))
    schedules = [("schedule", data.get("schedule"))]
    schedules += [(f"{key}.schedule", data.get(key, {}).get("schedule")) for key in ("check", "prune", "copy", "drill")]
    for key, expression in schedules:
        if expression and (problem := cron_problem(expression)):
            problems.append((f"{where}.{key}", problem))
    subset = data.get("check", {}).get("read_data_subset")
    if subset and (problem := subset_problem(subset)):
        problems.append((f"{where}.check.read_data_subset", problem))
    return problems


def _defaults_problems(defaults: dict[str, Any], where: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for key in ("check", "prune", "copy"):
        expression = defaults.get(key, {}).get("schedule")
        if expression and (problem := cron_problem(expression)):
            problems.append((f"{where}.{key}.schedule", problem))
    subset = defaults.get("check", {}).get("read_data_subset")
    if subset and (problem := subset_problem(subset)):
        problems.append((f"{where}.check.read_data_subset", problem))
    return problems


def policy_files(folder: Path) -> list[Path]:
    """Return the policy files of a folder (``*.yml``, ``*.yaml``), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def load_policies(folder: Path, inventory: Any | None = None) -> Policy:
    """Read, validate and merge every policy file of a folder.

    Given the policy folder and optionally the Inventory (to check that
    centers, drill targets and host patterns name real hosts); returns the
    merged Policy with defaults applied. Raises ConfigError listing every
    problem of every file at once, each as ``FILE:key.path``.
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
                problems += _defaults_problems(defaults, f"{name}:defaults")

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
            found = _dataset_problems(item, defaults, where)
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


def inventory_problems(
    policy: Policy, inventory: Any, centers_file: str = "", where_of: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """Return every way the policy disagrees with the inventory.

    Centers and drill targets must be inventory hosts; a dataset's host
    pattern must match at least one host; every resulting repository must
    have a valid SFTP account and secret name. Returns ``(key path, message)``.
    """
    problems: list[tuple[str, str]] = []
    where_of = where_of or {}
    names = {host.name for host in inventory.hosts}
    for key, center in (("primary", policy.primary), ("secondary", policy.secondary)):
        if center and center.host not in names:
            problems.append((f"{centers_file}:centers.{key}.host", f"{center.host!r} is not an inventory host"))
    if policy.primary and policy.secondary and policy.primary.host == policy.secondary.host:
        problems.append((f"{centers_file}:centers.secondary.host", "the secondary center must be another host"))
    for dataset in policy.datasets:
        where = where_of.get(dataset.name, dataset.source)
        if dataset.drill and dataset.drill.target not in names:
            problems.append((f"{where}.drill.target", f"{dataset.drill.target!r} is not an inventory host"))
        try:
            targets_of(policy, inventory, dataset)
        except BadInputError as error:
            problems.append((f"{where}.hosts", error.message))
    return problems


def targets_of(policy: Policy, inventory: Any, dataset: Dataset, center: Center | None = None) -> list[BackupTarget]:
    """Return the (dataset, host) units of one dataset with their repositories.

    Given the policy, the Inventory, a dataset and the center (default: the
    primary); returns one BackupTarget per matching host, or one for the
    control plane itself when the dataset is ``local``. Raises BadInputError
    when the pattern matches nothing, the center is not in the inventory or
    an account or secret name is invalid.
    """
    center = center or policy.primary
    if center is None:
        raise BadInputError("no backup center is defined (centers.primary)")
    address = inventory.host(center.host).address
    if dataset.local:
        hosts = [(CONTROLPLANE, CONTROLPLANE)]
    else:
        hosts = [(host.name, host.site) for host in inventory.select(dataset.hosts)]
    return [
        BackupTarget(
            dataset=dataset,
            host=host,
            site=site,
            repository=repository_url(center, address, site, host, dataset.name),
            password_secret=password_secret_name(site, host, dataset.name),
        )
        for host, site in hosts
    ]
