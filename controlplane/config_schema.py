"""The schema of ``egov.yml``: it validates, documents and produces the sample.

Every key carries a description and, where it has one, a default; the sample
configuration that ``egov init`` writes and ``egov config sample`` prints is
generated from this one table, so the documentation cannot drift from the
validation.
"""

from __future__ import annotations

from typing import Any

from controlplane.durations import DURATION_TEXT

SECRET_REFERENCE = r"^secret:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # noqa: S105 - a pattern, not a password
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# A relative or absolute path without NUL, newline or control characters.
SAFE_PATH = r"^[^\x00-\x1f]{1,4096}$"


def _path(description: str, default: str) -> dict[str, Any]:
    return {"type": "string", "pattern": SAFE_PATH, "description": description, "default": default}


def _duration(description: str, default: str) -> dict[str, Any]:
    return {"type": "string", "pattern": DURATION_TEXT, "description": description, "default": default}


SECRET_REF: dict[str, Any] = {
    "type": "string",
    "pattern": SECRET_REFERENCE,
    "description": "a secret reference such as secret:NAME (values live in the vault, never here)",
}

RECEIVER: dict[str, Any] = {
    "type": "object",
    "description": "Where alerts are delivered.",
    "additionalProperties": False,
    "required": ["name", "type"],
    "properties": {
        "name": {"type": "string", "pattern": SAFE_NAME, "description": "receiver name used by alert routes"},
        "type": {"enum": ["webhook", "email", "wecom", "dingtalk"], "description": "delivery channel"},
        "url": {"type": "string", "pattern": r"^https?://[^\s]{1,2000}$", "description": "an http(s) URL"},
        "url_secret": SECRET_REF,
        "token": SECRET_REF,
        "signing_secret": SECRET_REF,
        "smtp_host": {"type": "string", "pattern": r"^[A-Za-z0-9.-]{1,253}$", "description": "SMTP server host name"},
        "smtp_port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "smtp_user": {"type": "string", "pattern": SAFE_NAME, "description": "SMTP user name"},
        "smtp_password": SECRET_REF,
        "starttls": {"type": "boolean"},
        "from": {
            "type": "string",
            "format": "email",
            "pattern": r"^[^\s@]{1,64}@[^\s@]{1,253}$",
            "description": "an e-mail address",
        },
        "to": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[^\s@]{1,64}@[^\s@]{1,253}$", "description": "an e-mail address"},
        },
        "send_resolved": {"type": "boolean", "default": True},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "EduGov control plane site configuration (egov.yml)",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "site_name": {
            "type": "string",
            "maxLength": 200,
            "description": "Name of this deployment, shown in the console and reports.",
            "default": "EduGov lab",
        },
        "folders": {
            "type": "object",
            "description": "The operator's data folders, relative to this file.",
            "additionalProperties": False,
            "properties": {
                "inventory": _path("Ansible inventory file or folder.", "inventory/lab.yml"),
                "playbooks": _path("Ansible playbooks and roles.", "playbooks"),
                "backup": _path("Backup policies.", "backup"),
                "monitoring": _path("Probes, alert rules and silences.", "monitoring"),
                "runbooks": _path("Coded runbooks.", "runbooks"),
                "controls": _path("Site-specific compliance controls (optional).", "controls"),
            },
        },
        "state": {
            "type": "object",
            "description": "Where the control plane keeps its state.",
            "additionalProperties": False,
            "properties": {
                "dir": _path("State folder (database, run output, lab).", "var"),
                "database": {
                    "type": "string",
                    "pattern": r"^(sqlite|postgresql)(\+[a-z0-9]+)?://[^\s]*$",
                    "description": (
                        "SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
                        " (password from PGPASSFILE, never here)"
                    ),
                    "default": "sqlite:///var/egov.db",
                },
            },
        },
        "vault": {
            "type": "object",
            "description": "Secrets at rest.",
            "additionalProperties": False,
            "properties": {
                "key_file": _path("Master key file (0600); $EGOV_MASTER_KEY_FILE overrides.", "var/master.key"),
                "cipher": {
                    "enum": ["aes-256-gcm", "sm4-gcm"],
                    "description": "Cipher for new writes: aes-256-gcm, or sm4-gcm where OpenSSL offers it.",
                    "default": "aes-256-gcm",
                },
            },
        },
        "listen": {
            "type": "object",
            "description": "Web console address.",
            "additionalProperties": False,
            "properties": {
                "host": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9.:-]{1,253}$",
                    "description": "an address or host name to bind",
                    "default": "127.0.0.1",
                },
                "port": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 65535,
                    "default": 8080,
                    "description": "TCP port.",
                },
                "tls_cert": _path("TLS certificate (PEM); serves HTTPS when set with tls_key.", ""),
                "tls_key": _path("TLS private key (PEM).", ""),
                "tls": {
                    "enum": ["auto", "off"],
                    "default": "auto",
                    "description": (
                        "auto: when tls_cert/tls_key are not set and the control plane's CA exists (`egov ca init`), "
                        "serve HTTPS with a certificate from the CA (state/pki/console.pem; its key encrypted, the "
                        "password in the vault; reissued when its names change or it is past pki.renew_at of its "
                        "life). off: plain HTTP (for a TLS-terminating proxy in front). `egov serve --plain-http` "
                        "forces HTTP for one run."
                    ),
                },
                "public_url": {
                    "type": "string",
                    "pattern": r"^https?://[^\s]{1,2000}$",
                    "description": "an http(s) URL used in links from alerts",
                },
                "workers": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 32,
                    "description": (
                        "Console processes, each serving HTTP or HTTPS on the one listening socket. One process "
                        "serves with threads that share one core. Default: 2 on a machine with two or more cores."
                    ),
                },
                "trusted_proxies": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 5,
                    "default": 0,
                    "description": (
                        "How many reverse proxies (e.g. nginx) stand in front of the console. Their "
                        "X-Forwarded-For/-Proto/-Host headers are then believed, so the audit log records the "
                        "real client address and a proxy on the same machine does not make every client look "
                        "local (loopback may read /metrics). 0: no proxy, the headers are ignored."
                    ),
                },
                "trusted_proxy_addresses": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"^[0-9A-Fa-f.:/]{2,64}$"},
                    "maxItems": 64,
                    "default": ["127.0.0.1", "::1"],
                    "description": (
                        "The proxies' own addresses (or networks, CIDR): forwarded headers are believed only on "
                        "a connection from one of them, so a client that reaches the console directly cannot "
                        "pass for another address. Default: loopback (a proxy on this machine)."
                    ),
                },
            },
        },
        "ssh": {
            "type": "object",
            "description": "How the control plane reaches managed hosts.",
            "additionalProperties": False,
            "properties": {
                "user": {
                    "type": "string",
                    "pattern": r"^[a-z_][a-z0-9_-]{0,31}$",
                    "description": "a Unix user name",
                    "default": "root",
                },
                "key_file": _path("Private key of the management account.", "var/lab/ssh/id_ed25519"),
                "known_hosts": _path(
                    "Pinned host keys; unknown or changed keys are refused.", "var/lab/ssh/known_hosts"
                ),
                "connect_timeout": {
                    "type": "number",
                    "minimum": 0.1,
                    "maximum": 300,
                    "default": 5,
                    "description": (
                        "Seconds each step of reaching a host may take: TCP connect, banner, key exchange, "
                        "authentication, channel open, exec request."
                    ),
                },
                "command_timeout": {
                    "type": "number",
                    "minimum": 0.1,
                    "maximum": 86400,
                    "default": 120,
                    "description": "Seconds a remote command may run unless its caller gives its own limit.",
                },
                "keepalive_interval": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 300,
                    "default": 5,
                    "description": (
                        "Seconds: keepalives on idle connections, and a round trip to sshd whenever a command has "
                        "been silent this long (0: none)."
                    ),
                },
                "keepalive_count_max": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 3,
                    "description": (
                        "Unanswered keepalive intervals after which a connection counts as dead (a wedged or "
                        "cut-off host fails its command within keepalive_interval x keepalive_count_max seconds)."
                    ),
                },
                "idle_timeout": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 86400,
                    "default": 0,
                    "description": "Seconds a command may print nothing before it is stopped (0: only its own limit).",
                },
            },
        },
        "api_tokens": {
            "type": "object",
            "description": "Lifetimes of API tokens (a password change or a disabled account revokes them all).",
            "additionalProperties": False,
            "properties": {
                "default_days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 3650,
                    "default": 90,
                    "description": "Days a token lives when its maker asks for no lifetime.",
                },
                "max_days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 3650,
                    "default": 365,
                    "description": (
                        "The longest lifetime anyone may ask for; a token made before tokens expired by default "
                        "dies this many days after its creation."
                    ),
                },
            },
        },
        "retention": {
            "type": "object",
            "description": (
                "How long history is kept; `egov retention run` and a scheduled job delete what is older "
                "(in small batches). 0 keeps it forever."
            ),
            "additionalProperties": False,
            "properties": {
                "run_output_days": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 36500,
                    "default": 90,
                    "description": (
                        "Days the output lines of a finished run are kept; the run itself stays, marked "
                        "'output purged'."
                    ),
                },
                "delivery_days": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 36500,
                    "default": 30,
                    "description": "Days the alert delivery log keeps sent and failed notifications (pending stay).",
                },
                "probe_days": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 36500,
                    "default": 14,
                    "description": "Days of probe history (the latest result of every check stays).",
                },
                "audit_days": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 36500,
                    "default": 365,
                    "description": (
                        "Days audit records stay in the database; older ones are first written to a compressed, "
                        "hash-chained archive (`egov audit archive`, and a daily job), never dropped. "
                        "0 keeps them all in the database."
                    ),
                },
                "audit_archive_dir": _path(
                    "Folder of the audit archives (default: STATE/audit/archive); back it up with the state.", ""
                ),
                # Service levels (controlplane/slo): a month's report reads hour rollups, and minute rollups
                # where a maintenance window (also one declared after the fact) cuts an hour.
                "slo_minute_days": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 36500,
                    "default": 35,
                    "description": (
                        "Days of per-minute availability rollups (a window declared after the fact needs them "
                        "to count exactly)."
                    ),
                },
                "slo_hour_days": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 36500,
                    "default": 400,
                    "description": "Days of per-hour availability rollups (monthly reports and the status page).",
                },
            },
        },
        "leader": {
            "type": "object",
            "description": (
                "One leader among `egov serve` processes on one store: only the holder of a lease in the store "
                "runs the scheduler and the monitor. Another process takes over within lease_seconds + "
                "renew_seconds of the holder's death; a holder that cannot renew stops both renew_seconds before "
                "its lease can lapse."
            ),
            "additionalProperties": False,
            "properties": {
                "lease_seconds": {
                    "type": "number",
                    "minimum": 0.3,
                    "maximum": 3600,
                    "default": 15,
                    "description": "Seconds a lease lasts without renewal (at least three times renew_seconds).",
                },
                "renew_seconds": {
                    "type": "number",
                    "minimum": 0.1,
                    "maximum": 1200,
                    "default": 5,
                    "description": "Seconds between renewals by the holder (and between looks by the others).",
                },
            },
        },
        "audit": {
            "type": "object",
            "description": "The audit log's hash chain.",
            "additionalProperties": False,
            "properties": {
                "hash": {
                    "enum": ["sha256", "sm3"],
                    "default": "sha256",
                    "description": (
                        "Hash of new audit records (HMAC with the audit key) and of compliance evidence digests: "
                        "sha256, or sm3 (GB/T 32905, where OpenSSL offers it). Changing it is safe: an audit.hash "
                        "record in the chain says from which record on the new hash applies, so `egov audit "
                        "verify` checks old and new records alike."
                    ),
                },
            },
        },
        "pki": {
            "type": "object",
            "description": (
                "The control plane's certificate authority (`egov ca`): how long the certificates it issues "
                "live. Durations such as 4w, 8h, 90d, 2m (s, m, h, d, w)."
            ),
            "additionalProperties": False,
            "properties": {
                "host_validity": _duration(
                    "How long SSH host certificates live, such as 4w (renewed by a scheduled job).", "4w"
                ),
                "user_validity": _duration(
                    "How long SSH user certificates of people live (`egov ssh cert`), such as 8h.", "8h"
                ),
                "tls_validity": _duration(
                    "How long TLS server certificates live (console, portal, office), such as 90d.", "90d"
                ),
                "renew_at": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 0.95,
                    "default": 0.667,
                    "description": "Renew a certificate when this fraction of its validity has passed.",
                },
            },
        },
        "receivers": {
            "type": "array",
            "description": "Alert receivers (webhook, email, wecom, dingtalk).",
            "items": RECEIVER,
            "default": [],
        },
    },
}


def defaults(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    """Return the nested default values declared in a schema."""
    result: dict[str, Any] = {}
    for key, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            result[key] = defaults(sub)
        elif "default" in sub:
            result[key] = sub["default"]
    return result


def sample_yaml(schema: dict[str, Any] = SCHEMA, indent: int = 0) -> str:
    """Return a commented sample configuration generated from the schema."""
    lines: list[str] = []
    pad = "  " * indent
    if indent == 0:
        lines.append(f"# {schema['title']}")
        lines.append("# Generated by `egov config sample`. Paths are relative to this file.")
    for key, sub in schema.get("properties", {}).items():
        description = sub.get("description")
        if description:
            lines.append(f"{pad}# {description}")
        if sub.get("type") == "object" and "properties" in sub:
            lines.append(f"{pad}{key}:")
            lines.append(sample_yaml(sub, indent + 1))
        elif key == "receivers":
            lines.append(f"{pad}receivers: []")
            lines.append(f"{pad}#  - name: oncall")
            lines.append(f"{pad}#    type: webhook")
            lines.append(f"{pad}#    url: http://127.0.0.1:9099/alerts")
            lines.append(f"{pad}#    token: secret:ONCALL_WEBHOOK_TOKEN")
        elif "default" in sub and sub["default"] != "":
            import json

            lines.append(f"{pad}{key}: {json.dumps(sub['default'], ensure_ascii=False)}")
        else:
            lines.append(f"{pad}# {key}:")
    return "\n".join(lines)
