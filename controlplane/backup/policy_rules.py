"""The rules of a backup policy that its JSON schema cannot say: cron fields, subsets, pairs, the inventory.

Each function returns ``(key path, message)`` pairs, so that
:func:`controlplane.backup.policy.load_policies` can report every problem of
every file at once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from controlplane.inventory import Inventory

    from .policy import Policy


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


def dataset_problems(data: dict[str, Any], defaults: dict[str, Any], where: str) -> list[tuple[str, str]]:
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


def defaults_problems(defaults: dict[str, Any], where: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for key in ("check", "prune", "copy"):
        expression = defaults.get(key, {}).get("schedule")
        if expression and (problem := cron_problem(expression)):
            problems.append((f"{where}.{key}.schedule", problem))
    subset = defaults.get("check", {}).get("read_data_subset")
    if subset and (problem := subset_problem(subset)):
        problems.append((f"{where}.check.read_data_subset", problem))
    return problems


def inventory_problems(
    policy: Policy, inventory: Inventory, centers_file: str = "", where_of: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """Return every way the policy disagrees with the inventory.

    Centers and drill targets must be inventory hosts; a dataset's host
    pattern must match at least one host; every resulting repository must
    have a valid SFTP account and secret name. Returns ``(key path, message)``.
    """
    from .targets import targets_of  # targets imports the policy's types, which import these rules

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
            targets_of(policy, inventory, dataset)  # every host's repository and secret name must be valid
        except BadInputError as error:
            problems.append((f"{where}.hosts", error.message))
    return problems
