"""JSON schema of ``monitoring/slo.yml``: the service-level objectives.

One file, optional, validated like the other monitoring files (every problem
at once, with file and key path). What a schema cannot say — names unique,
probes known, hosts covered by their probe, a burn-rate factor the objective
allows — :mod:`controlplane.slo.spec` checks after it.
"""

from __future__ import annotations

from typing import Any

from controlplane.monitoring.schema import DURATION, MATCHER, NAME

# A slice must divide a minute: a minute's rollup row holds whole slices as bits of one integer.
SLICE_SECONDS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
SLICE_TEXT = r"^([0-9]+s|1m)$"
WINDOW_TEXT = r"^(month|[1-9][0-9]?d)$"
SERVICE_NAME = r"^[a-z][a-z0-9-]{0,47}$"
TITLE_TEXT = r"^[^\x00-\x1f<>{}]{1,120}$"

OBJECTIVE: dict[str, Any] = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 99.9999,
    "description": "the percentage of good time slices the service must reach (99.9 leaves 43 minutes a month)",
}
WINDOW: dict[str, Any] = {
    "type": "string",
    "pattern": WINDOW_TEXT,
    "description": "month (the calendar month in `timezone`) or a rolling number of days such as 30d",
}
SLICE: dict[str, Any] = {
    "type": "string",
    "pattern": SLICE_TEXT,
    "description": "a time slice that divides a minute: 1s, 5s, 10s, 15s, 30s or 1m (and the other divisors)",
}
BURN_RATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["long", "short", "factor"],
    "description": "alert when the budget burns `factor` times too fast over both windows (SRE workbook)",
    "properties": {
        "long": DURATION,
        "short": DURATION,
        "factor": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
        "severity": {"enum": ["critical", "warning", "info"]},
    },
}
COVERAGE: dict[str, Any] = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "the share of a burn-rate pair's long window that must be measured before it may fire (0.5)",
}
TITLE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "what people call the service, in Chinese and English (shown on reports and /status)",
    "properties": {
        "zh": {"type": "string", "pattern": TITLE_TEXT},
        "en": {"type": "string", "pattern": TITLE_TEXT},
    },
}
CHECK: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["probe"],
    "properties": {
        "probe": {"type": "string", "pattern": NAME, "description": "a probe of probes.yml"},
        "hosts": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": NAME},
            "description": "the hosts whose results count (default: every host of the service's site it covers)",
        },
    },
}
SERVICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "site", "checks"],
    "properties": {
        "name": {"type": "string", "pattern": SERVICE_NAME, "description": "the service's id (the `slo` label)"},
        "title": TITLE,
        "site": {"type": "string", "pattern": NAME, "description": "the inventory site the service belongs to"},
        "description": {"type": "string", "maxLength": 500},
        "checks": {"type": "array", "minItems": 1, "items": CHECK},
        "require": {
            "enum": ["all", "any"],
            "description": "all: a slice is good when every check passed; any: when one did (redundant nodes)",
        },
        "objective": OBJECTIVE,
        "window": WINDOW,
        "slice": SLICE,
        "public": {"type": "boolean", "description": "shown on the public status page /status (default false)"},
        "alerts": {
            "type": "array",
            "minItems": 1,
            "items": MATCHER,
            "description": (
                "label matchers (all must match) of further alerts that open its incidents, such as "
                "alertname=PortalHTTPDown (its own checks' and burn-rate alerts always do)"
            ),
        },
        "runbook": {"type": "string", "pattern": NAME, "description": "a coded runbook its burn-rate alerts link to"},
        "runbook_url": {"type": "string", "maxLength": 2000},
        "burn_rate_alerts": {"type": "array", "maxItems": 6, "items": BURN_RATE},
        "burn_rate_coverage": COVERAGE,
    },
}

SLO_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "monitoring/slo.yml",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "defaults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "objective": OBJECTIVE,
                "window": WINDOW,
                "slice": SLICE,
                "timezone": {"type": "string", "pattern": r"^[A-Za-z_/+-]{1,64}$"},
                "burn_rate_alerts": {"type": "array", "maxItems": 6, "items": BURN_RATE},
                "burn_rate_coverage": COVERAGE,
            },
        },
        "services": {"type": "array", "maxItems": 20000, "items": SERVICE},
    },
}
