"""JSON schemas of the operator's ``monitoring/`` files.

Four files, each optional: ``probes.yml`` (what to check, on which hosts),
``rules.yml`` (when a result becomes an alert), ``alerting.yml`` (routes to
receivers, grouping, escalation, inhibition, flapping) and ``silences.yml``
(silences and recurring maintenance windows kept as code). Each is validated
with every problem reported at once (see :mod:`controlplane.yamlfile`).
"""

from __future__ import annotations

from typing import Any

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
# 30s, 5m, 1h30m, 2d, 1w, or a plain number of seconds.
DURATION_TEXT = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"
DURATION: dict[str, Any] = {
    "description": "a duration such as 30s, 5m, 1h30m, 2d (or seconds as a number)",
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": DURATION_TEXT, "description": "a duration such as 30s, 5m, 1h30m, 2d"},
    ],
}
MATCHER = {
    "type": "string",
    "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}\s*(=~|!~|!=|=)\s*.{0,500}$",
    "description": "a label matcher such as host=mn-db-1, severity!=info or alertname=~Disk.*",
}
LABELS: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": LABEL_NAME},
    "additionalProperties": {"type": "string", "maxLength": 500},
}
HOST_SELECTOR: dict[str, Any] = {
    "type": "object",
    "description": "which inventory hosts a probe covers (all when empty)",
    "additionalProperties": False,
    "properties": {
        "sites": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        "roles": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        "hosts": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        "exclude": {"type": "array", "items": {"type": "string", "pattern": NAME}},
    },
}
PROBE_TYPES = ("tcp", "http", "ssh", "health", "failed_runs", "run_age", "host_certificates", "network_verify")

PROBE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "type"],
    "properties": {
        "name": {"type": "string", "pattern": NAME, "description": "check name (the `check` label)"},
        "type": {"enum": list(PROBE_TYPES)},
        "description": {"type": "string", "maxLength": 500},
        "interval": DURATION,
        "timeout": DURATION,
        "select": HOST_SELECTOR,
        # tcp
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        # http
        "url": {
            "type": "string",
            "pattern": r"^https?://[^\s]{1,2000}$",
            "description": "an http(s) URL; {address}, {host} and {site} are replaced per host",
        },
        "method": {"enum": ["GET", "HEAD"]},
        "expect_status": {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}},
        "body_match": {"type": "string", "maxLength": 500, "description": "a regular expression the body must match"},
        "max_latency": DURATION,
        "tls_verify": {"type": "boolean"},
        "ca_file": {"type": "string", "maxLength": 4096},
        # health
        "services": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        "services_by_role": {
            "type": "object",
            "propertyNames": {"pattern": NAME},
            "additionalProperties": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        },
        "service_manager": {"enum": ["auto", "lab", "systemd"]},
        # store checks
        "window": DURATION,
        "kinds": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        "run_kind": {"type": "string", "pattern": NAME},
    },
}

PROBES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "monitoring/probes.yml",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "defaults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"interval": DURATION, "timeout": DURATION, "history": {"type": "integer", "minimum": 1}},
        },
        "probes": {"type": "array", "items": PROBE},
    },
}

AUTO_MODES = ("off", "dry-run", "drill", "run")
RULE_RUNBOOK: dict[str, Any] = {
    "type": "object",
    "description": "the runbook this alert calls for: linked from its notifications, optionally started on firing",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": NAME, "description": "a runbook of the runbooks folder"},
        "auto": {
            "description": "start it when the alert fires: off (default), dry-run, drill or run (true means dry-run)",
            "oneOf": [{"type": "boolean"}, {"enum": list(AUTO_MODES)}],
        },
        "params": {
            "type": "object",
            "description": "parameter values; text may use {host}, {site} and any alert label",
            "maxProperties": 32,
            "propertyNames": {"pattern": r"^[a-z][a-z0-9_]{0,31}$"},
            "additionalProperties": {
                "oneOf": [{"type": "string", "maxLength": 512}, {"type": "number"}, {"type": "boolean"}]
            },
        },
        "min_interval": {**DURATION, "description": "at most one automatic start per this span (default 30m)"},
        "host_vars": {
            "type": "object",
            "description": "start only for alerts on hosts whose inventory variables have these values",
            "propertyNames": {"pattern": LABEL_NAME},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
    },
}

RULE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["alert", "probe"],
    "properties": {
        "alert": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]{0,63}$", "description": "alert name"},
        "probe": {"type": "string", "pattern": NAME, "description": "the check whose results are read"},
        "metric": {
            "type": "string",
            "pattern": r"^[a-z][a-z0-9_]{0,63}$",
            "description": "sample name (default probe_success)",
        },
        "match": LABELS,
        "op": {"enum": ["==", "!=", "<", "<=", ">", ">="]},
        "value": {"oneOf": [{"type": "number"}, {"type": "string", "pattern": DURATION_TEXT}]},
        "for": DURATION,
        "severity": {"enum": ["critical", "warning", "info"]},
        "labels": LABELS,
        "runbook": RULE_RUNBOOK,
        "annotations": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "summary": {"type": "string", "maxLength": 500},
                "description": {"type": "string", "maxLength": 2000},
                "runbook_url": {"type": "string", "maxLength": 2000},
            },
        },
    },
}

RULES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "monitoring/rules.yml",
    "type": "object",
    "additionalProperties": False,
    "properties": {"rules": {"type": "array", "items": RULE}},
}

ROUTE_FIELDS: dict[str, Any] = {
    "receiver": {"type": "string", "pattern": NAME},
    "group_by": {"type": "array", "items": {"type": "string", "pattern": LABEL_NAME}},
    "group_wait": DURATION,
    "group_interval": DURATION,
    "repeat_interval": DURATION,
    "escalate": {
        "type": "array",
        "description": "unacknowledged after `after`, the group also goes to `receiver`",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["after", "receiver"],
            "properties": {"after": DURATION, "receiver": {"type": "string", "pattern": NAME}},
        },
    },
}

ALERTING_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "monitoring/alerting.yml",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "route": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **ROUTE_FIELDS,
                "routes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "pattern": NAME},
                            "matchers": {"type": "array", "items": MATCHER},
                            "continue": {"type": "boolean"},
                            **ROUTE_FIELDS,
                        },
                    },
                },
            },
        },
        "inhibit_rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["source_matchers", "target_matchers"],
                "properties": {
                    "source_matchers": {"type": "array", "items": MATCHER, "minItems": 1},
                    "target_matchers": {"type": "array", "items": MATCHER, "minItems": 1},
                    "equal": {"type": "array", "items": {"type": "string", "pattern": LABEL_NAME}},
                },
            },
        },
        "flapping": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "window": DURATION,
                "threshold": {"type": "integer", "minimum": 2, "maximum": 1000},
            },
        },
        "external_url": {"type": "string", "pattern": r"^https?://[^\s]{1,2000}$"},
    },
}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

SILENCES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "monitoring/silences.yml",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "silences": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "matchers", "author", "comment"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME},
                    "matchers": {"type": "array", "items": MATCHER, "minItems": 1},
                    "author": {"type": "string", "minLength": 1, "maxLength": 128},
                    "comment": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "starts_at": {"type": "string", "format": "date-time", "maxLength": 40},
                    "ends_at": {"type": "string", "format": "date-time", "maxLength": 40},
                    "every": {
                        "type": "object",
                        "description": "a recurring maintenance window",
                        "additionalProperties": False,
                        "required": ["start", "end"],
                        "properties": {
                            "days": {"type": "array", "items": {"enum": list(WEEKDAYS)}},
                            "start": {"type": "string", "pattern": CLOCK},
                            "end": {"type": "string", "pattern": CLOCK},
                            "timezone": {"type": "string", "pattern": r"^[A-Za-z_/+-]{1,64}$"},
                        },
                    },
                },
            },
        },
    },
}
