"""``monitoring/slo.yml`` as typed, validated service-level objectives.

:func:`load_slo` reads the file (optional: no file, no services), validates
it against :mod:`controlplane.slo.schema`, then checks what a schema cannot:
unique names, a known site, probes of ``probes.yml`` that probe hosts, hosts
the probe really covers (a check nobody runs would make the service unknown
for ever), burn-rate windows and factors the objective allows, and public
services whose name or title gives away no host name or address. Every
problem of the file is raised at once in one ConfigError (exit 2).

Inventory problems (a site or host that is no longer in the inventory) are
errors for ``egov`` commands (``strict``); the monitor loop passes
``strict=False`` and skips such a service with a warning, as probes skip
hosts that left the inventory.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import ConfigError
from controlplane.monitoring.labels import Matcher, parse_duration, parse_matchers
from controlplane.monitoring.spec import HOST_TYPES, MonitoringSpec, expand_checks
from controlplane.slo import schema
from controlplane.yamlfile import read_yaml, schema_problems

if TYPE_CHECKING:
    from controlplane.inventory import Inventory

log = logging.getLogger(__name__)
FILE = "slo.yml"
# A result stays valid for its probe's interval + timeout + this margin (the loop's tick, storage):
# past that, nobody was probing and the time is unknown.
GRACE_SECONDS = 2.0
DEFAULT_BURN_RATES = (
    {"long": "1h", "short": "5m", "factor": 14.4, "severity": "critical"},
    {"long": "6h", "short": "30m", "factor": 6, "severity": "critical"},
)
IPV4 = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b")


@dataclass(frozen=True)
class BurnRate:
    """A multi-window burn-rate alert: both windows burn the budget ``factor`` times too fast."""

    long: float
    short: float
    factor: float
    severity: str = "critical"

    @property
    def label(self) -> str:
        """``1h/5m``: the pair's name in alert labels and reports."""
        from controlplane.monitoring.labels import format_duration

        return f"{format_duration(self.long)}/{format_duration(self.short)}"


@dataclass(frozen=True)
class Service:
    """One objective: which checks on which hosts say the service is up, and how often it must be.

    ``checks`` are (probe, host) pairs with ``validity`` seconds each (how
    long one result counts); ``objective`` is a fraction (0.999).
    """

    name: str
    site: str
    checks: tuple[tuple[str, str], ...]
    validity: tuple[float, ...]
    objective: float
    window: str = "month"
    slice_seconds: int = 10
    require: str = "all"
    public: bool = False
    title_zh: str = ""
    title_en: str = ""
    description: str = ""
    runbook: str | None = None
    runbook_url: str | None = None
    burn_rates: tuple[BurnRate, ...] = ()
    alerts: tuple[Matcher, ...] = ()  # further alerts that open its incidents
    burn_rate_coverage: float = 0.5  # share of a long window that must be measured before a pair may fire

    def title(self, lang: str) -> str:
        """The service's name for people in ``lang`` (zh or en), falling back to the other, then the id."""
        first, second = (self.title_zh, self.title_en) if lang.startswith("zh") else (self.title_en, self.title_zh)
        return first or second or self.name

    @property
    def budget_fraction(self) -> float:
        """The share of slices that may be bad (0.001 for 99.9 %)."""
        return 1.0 - self.objective

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts the service's checks read, each once, in order."""
        return tuple(dict.fromkeys(host for _probe, host in self.checks))

    @property
    def rolling_days(self) -> int | None:
        """Days of a rolling window (None for the calendar month)."""
        return None if self.window == "month" else int(self.window[:-1])


@dataclass(frozen=True)
class SloSpec:
    """Every objective of the site, and the time zone its months and days are counted in."""

    path: Path
    services: tuple[Service, ...] = ()
    timezone: str = "Asia/Shanghai"
    by_key: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, compare=False)

    def service(self, name: str) -> Service | None:
        """The service of that name, or None."""
        return next((s for s in self.services if s.name == name), None)

    @property
    def zone(self) -> dt.tzinfo:
        """The time zone as a tzinfo."""
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)


def slice_seconds(text: str) -> int:
    """Seconds of a slice text (``10s``, ``1m``)."""
    return 60 if text == "1m" else int(text[:-1])


def _burn_rates(
    items: list[dict[str, object]], objective: float, where: str, problems: list[tuple[str, str]]
) -> tuple[BurnRate, ...]:
    rates = []
    for index, item in enumerate(items):
        rate = BurnRate(
            parse_duration(item["long"]),  # type: ignore[arg-type]
            parse_duration(item["short"]),  # type: ignore[arg-type]
            float(item["factor"]),  # type: ignore[arg-type]
            str(item.get("severity", "critical")),
        )
        if rate.short <= 0 or rate.long <= rate.short:
            problems.append((f"{where}[{index}]", "the long window must be longer than the short one (both > 0)"))
        elif rate.long > 7 * 86400:
            problems.append((f"{where}[{index}].long", "a burn-rate window may be 7 days at most"))
        if rate.factor * (1.0 - objective) >= 1.0:
            problems.append(
                (f"{where}[{index}].factor", f"{rate.factor:g}x of a {(1 - objective) * 100:g} % budget is every "
                                             "slice bad: the alert could never fire")
            )  # fmt: skip
        rates.append(rate)
    return tuple(rates)


def _names(word: str, text: str) -> bool:
    """Whether ``text`` contains ``word`` as a whole name (not inside a longer name)."""
    return re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w-])", text) is not None


def load_slo(folder: Path, monitoring: MonitoringSpec, inventory: Inventory, *, strict: bool = True) -> SloSpec:
    """Read and validate ``folder/slo.yml`` against the monitoring spec and the inventory.

    Returns the SloSpec (no services when the file is absent). Raises
    ConfigError listing every problem of the file at once; with ``strict``
    False, services naming a site or host the inventory lacks are skipped
    with a warning instead.
    """
    path = folder / FILE
    if not path.exists():
        return SloSpec(path)
    data = read_yaml(path) or {}
    found = schema_problems(data, schema.SLO_SCHEMA)
    if found:
        raise ConfigError(str(path), found)
    problems: list[tuple[str, str]] = []
    defaults = data.get("defaults") or {}
    timezone = str(defaults.get("timezone", "Asia/Shanghai"))
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:
        problems.append(("defaults.timezone", f"unknown time zone {timezone!r}"))
    probes = {probe.name: probe for probe in monitoring.probes}
    covered: dict[str, set[tuple[str, str]]] = {}  # probe -> {(host, site)}
    for check in expand_checks(monitoring, inventory):
        covered.setdefault(check.probe.name, set()).add((check.host, check.site))
    secrets = {h.name for h in inventory.hosts} | {h.address for h in inventory.hosts}
    services: list[Service] = []
    names: set[str] = set()
    for index, item in enumerate(data.get("services") or []):
        where = f"services[{index}]"
        before = len(problems)
        inventory_problems: list[tuple[str, str]] = []
        if item["name"] in names:
            problems.append((f"{where}.name", f"duplicate service name {item['name']!r}"))
        names.add(item["name"])
        site = item["site"]
        if site not in inventory.sites:
            inventory_problems.append((f"{where}.site", f"unknown site {site!r} (not in the inventory)"))
        keys: list[tuple[str, str]] = []
        validity: list[float] = []
        for number, check in enumerate(item["checks"]):
            spot = f"{where}.checks[{number}]"
            probe = probes.get(check["probe"])
            if probe is None:
                problems.append((f"{spot}.probe", f"unknown probe {check['probe']!r} (not in probes.yml)"))
                continue
            if probe.type not in HOST_TYPES:
                problems.append((f"{spot}.probe", f"probe {probe.name} ({probe.type}) probes no host"))
                continue
            hosts_of_probe = covered.get(probe.name, set())
            wanted = check.get("hosts") or sorted(h for h, s in hosts_of_probe if s == site)
            if not wanted:
                inventory_problems.append((f"{spot}.hosts", f"probe {probe.name} covers no host of site {site!r}"))
            for host in wanted:
                if host not in {h for h, _s in hosts_of_probe}:
                    inventory_problems.append((f"{spot}.hosts", f"probe {probe.name} does not probe host {host!r}"))
                elif (probe.name, host) not in keys:
                    keys.append((probe.name, host))
                    validity.append(probe.interval + probe.timeout + GRACE_SECONDS)
        objective = float(item.get("objective", defaults.get("objective", 99.9))) / 100.0
        rates = _burn_rates(
            list(item.get("burn_rate_alerts", defaults.get("burn_rate_alerts", DEFAULT_BURN_RATES))),
            objective,
            f"{where}.burn_rate_alerts" if "burn_rate_alerts" in item else "defaults.burn_rate_alerts",
            problems,
        )
        try:
            alerts = parse_matchers(item.get("alerts") or [])
        except ValueError as error:
            problems.append((f"{where}.alerts", str(error)))
            alerts = ()
        title = item.get("title") or {}
        if item.get("public"):
            shown = " ".join([item["name"], *title.values(), item.get("description", "")])
            if IPV4.search(shown) or any(_names(word, shown) for word in secrets if word):
                problems.append((where, "a public service's name, title and description name no host or address"))
        if strict:
            problems += inventory_problems
        elif inventory_problems:
            log.warning("%s: %s skipped: %s", path, item["name"], "; ".join(m for _p, m in inventory_problems))
            continue
        if len(problems) > before:
            continue
        services.append(
            Service(
                name=item["name"],
                site=site,
                checks=tuple(keys),
                validity=tuple(validity),
                objective=objective,
                window=str(item.get("window", defaults.get("window", "month"))),
                slice_seconds=slice_seconds(str(item.get("slice", defaults.get("slice", "10s")))),
                require=str(item.get("require", "all")),
                public=bool(item.get("public", False)),
                title_zh=str(title.get("zh", "")),
                title_en=str(title.get("en", "")),
                description=str(item.get("description", "")),
                runbook=item.get("runbook"),
                runbook_url=item.get("runbook_url"),
                burn_rates=rates,
                alerts=tuple(alerts),
                burn_rate_coverage=float(item.get("burn_rate_coverage", defaults.get("burn_rate_coverage", 0.5))),
            )
        )
    for key in ("defaults.slice",):
        text = defaults.get("slice")
        if text and slice_seconds(text) not in schema.SLICE_SECONDS:
            allowed = ", ".join(f"{s}s" for s in schema.SLICE_SECONDS)
            problems.append((key, f"{text} does not divide a minute ({allowed})"))
    for index, item in enumerate(data.get("services") or []):
        text = item.get("slice")
        if text and slice_seconds(text) not in schema.SLICE_SECONDS:
            problems.append((f"services[{index}].slice", f"{text} does not divide a minute"))
    if problems:
        raise ConfigError(str(path), sorted(problems))
    by_key: dict[tuple[str, str], tuple[str, ...]] = {}
    for service in services:
        for key in service.checks:
            by_key[key] = (*by_key.get(key, ()), service.name)
    return SloSpec(path, tuple(services), timezone, by_key)
