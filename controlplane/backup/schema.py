"""The schema of a backup policy file: it validates, documents and produces the sample.

Every policy file under the operator's ``backup/`` folder is validated against
:data:`POLICY_SCHEMA` (all keys optional in one file; the folder as a whole
must define a primary center and at least one dataset, see
:mod:`controlplane.backup.policy`). Each key carries a description; the
annotated sample is generated from the same table by :func:`sample_yaml`, so
documentation and validation cannot drift apart.

Safety by pattern: names, tags, paths, exclude patterns and host patterns
become argv words, repository paths and vault secret names, so each is held
to a small character set. ``; rm -rf /``, ``$(...)``, backticks, ``../..``,
spaces, newlines and a leading ``-`` (which a program would read as an
option) are refused before anything runs. Command argv lists (dump and
verification commands) are argv words, never shell text: only control
characters are refused in their arguments, while the program word itself
must be a plain name or an absolute path.
"""

from __future__ import annotations

import json
from typing import Any

# Names that become repository path segments and vault secret name parts.
DATASET_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
HOST_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
SITE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
UNIX_USER = r"^[a-z_][a-z0-9_-]{0,31}$"
# restic joins --tag values with commas, so a comma would split one tag in two.
TAG = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
# Absolute path, conservative characters, no "." or ".." segment, no "//".
ABS_PATH = r"^(?!.*//)(?!.*(?:^|/)\.\.?(?:/|$))/(?:[A-Za-z0-9_@%+=:,~.-]+/?)*$"
# A path as above that may also be relative (the control plane's own files).
ANY_PATH = r"^(?!-)(?!.*//)(?!.*(?:^|/)\.\.?(?:/|$))/?(?:[A-Za-z0-9_@%+=:,~.-]+/?)+$"
# restic exclude/include patterns: path characters plus glob syntax, no "..".
GLOB = r"^(?!-)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_@%+=:,~./*?\[\]!-]{1,1024}$"
# Ansible-like host pattern as Inventory.select takes it.
HOST_PATTERN = r"^(?!-)[A-Za-z0-9_.*?,:\[\]-]{1,256}$"
# Five-field cron; the fields are checked by APScheduler in policy.py.
CRON = r"^[0-9A-Za-z*/,?-]+( [0-9A-Za-z*/,?-]+){4}$"
# RPO and similar "age" durations: minutes, hours, days or weeks.
AGE = r"^[1-9][0-9]{0,4}[mhdw]$"
# Go durations restic's --retry-lock accepts (seconds, minutes, hours).
LOCK_WAIT = r"^[1-9][0-9]{0,3}[smh]$"
# --read-data-subset: n/t, x% or x.y%, or a size with a K/M/G/T suffix.
SUBSET = r"^(?:[1-9][0-9]{0,3}/[1-9][0-9]{0,3}|[0-9]{1,3}(?:\.[0-9]{1,2})?%|[1-9][0-9]{0,5}[KMGTkmgt])$"
# The program of a command: a plain name or an absolute path.
PROGRAM = r"^(?!.*(?:^|/)\.\.(?:/|$))(?:/?[A-Za-z0-9_+.-]+)+$"
# Any other argv word: no control characters (a newline could smuggle a second
# line into a log or a remote shell that quoted badly; NUL truncates exec).
ARG = r"^[^\x00-\x1f\x7f]{0,4096}$"
# --stdin-filename: a plain file name.
FILE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$"


def _string(pattern: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "description": description, **extra}


def _argv(description: str, example: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "minItems": 1,
        "maxItems": 64,
        "prefixItems": [_string(PROGRAM, "a program name or absolute path (no shell)")],
        "items": _string(ARG, "one argv word without control characters"),
        "examples": [example],
    }


CRON_FIELD = _string(CRON, "a five-field cron expression (minute hour day month weekday)")

RETENTION: dict[str, Any] = {
    "type": "object",
    "description": "Which snapshots `forget --prune` keeps (restic --keep-* options); at least one rule.",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        name: {"type": "integer", "minimum": 1, "maximum": 100000, "description": text, "examples": [example]}
        for name, text, example in (
            ("keep_last", "Keep the last N snapshots.", 3),
            ("keep_hourly", "Keep the last N hourly snapshots.", 24),
            ("keep_daily", "Keep the last N daily snapshots.", 14),
            ("keep_weekly", "Keep the last N weekly snapshots.", 8),
            ("keep_monthly", "Keep the last N monthly snapshots.", 12),
            ("keep_yearly", "Keep the last N yearly snapshots.", 3),
        )
    },
}

CHECK: dict[str, Any] = {
    "type": "object",
    "description": "Integrity checks (`restic check --read-data-subset`).",
    "additionalProperties": False,
    "properties": {
        "schedule": {**CRON_FIELD, "examples": ["30 3 * * sun"]},
        "read_data_subset": _string(
            SUBSET, "share of pack files read back per check: n/t, x%, or a size like 500M", examples=["5%"]
        ),
    },
}

PRUNE: dict[str, Any] = {
    "type": "object",
    "description": "Retention runs (`restic forget --prune` with the retention rules).",
    "additionalProperties": False,
    "properties": {"schedule": {**CRON_FIELD, "examples": ["45 2 * * *"]}},
}

COPY: dict[str, Any] = {
    "type": "object",
    "description": "Off-site copies (`restic copy`) from the primary center to the secondary (when one is defined).",
    "additionalProperties": False,
    "properties": {"schedule": {**CRON_FIELD, "examples": ["50 */2 * * *"]}},
}

DRILL: dict[str, Any] = {
    "type": "object",
    "description": "Restore drills: restore the latest snapshot to a target host, verify it, clean up.",
    "additionalProperties": False,
    "required": ["target"],
    "properties": {
        "target": _string(HOST_NAME, "inventory host that receives the drill restore", examples=["dr-app-1"]),
        "schedule": {**CRON_FIELD, "examples": ["0 5 * * sat"]},
        "restore_root": _string(
            ABS_PATH, "folder on the target under which drill restores are made", examples=["/var/lib/egov/drill"]
        ),
        "verify": _argv(
            "Command checking the restored data; the word {restore_dir} is replaced by the restore folder.",
            ["test", "-s", "{restore_dir}/srv/portal/index.html"],
        ),
    },
}

DUMP: dict[str, Any] = {
    "type": "object",
    "description": (
        "A dump command streamed into restic with --stdin-from-command (a failing dump fails the"
        " backup and never becomes a good snapshot). Use instead of paths."
    ),
    "additionalProperties": False,
    "required": ["command", "filename"],
    "x-sample-commented": True,
    "properties": {
        "command": _argv(
            "The dump command as argv (run without a shell on the host).",
            ["runuser", "-u", "postgres", "--", "pg_dump", "--format=custom", "edu"],
        ),
        "filename": _string(
            FILE_NAME, "file name of the dump inside the snapshot (--stdin-filename)", examples=["edu.dump"]
        ),
    },
}

DATASET: dict[str, Any] = {
    "type": "object",
    "description": "One thing to back up on a set of hosts.",
    "additionalProperties": False,
    "required": ["name", "schedule", "rpo"],
    "properties": {
        "name": _string(DATASET_NAME, "dataset name: lower-case letters, digits, '-'", examples=["portal-content"]),
        "description": {"type": "string", "maxLength": 500, "description": "What this dataset is, for people."},
        "hosts": _string(
            HOST_PATTERN, "inventory host pattern (names, groups, sites, roles, globs)", examples=["portal"]
        ),
        "local": {
            "type": "boolean",
            "description": "Back up the control-plane machine itself instead of inventory hosts.",
            "x-sample-commented": True,
            "examples": [True],
        },
        "paths": {
            "type": "array",
            "description": "Folders and files to back up (absolute; relative only with local: true).",
            "minItems": 1,
            "maxItems": 100,
            "items": _string(ANY_PATH, "a path without '..', spaces, quotes or shell characters"),
            "examples": [["/srv/portal"]],
        },
        "excludes": {
            "type": "array",
            "description": "restic exclude patterns (--exclude).",
            "maxItems": 200,
            "items": _string(GLOB, "a glob pattern without '..' or shell characters"),
            "examples": [["*.tmp", "/srv/portal/cache"]],
        },
        "dump": DUMP,
        "schedule": {**CRON_FIELD, "examples": ["15 * * * *"]},
        "rpo": _string(AGE, "recovery point objective: maximum data age, like 2h or 1d", examples=["2h"]),
        "retention": RETENTION,
        "tags": {
            "type": "array",
            "description": "Tags added to every snapshot (besides egov and the dataset name).",
            "maxItems": 20,
            "items": _string(TAG, "a tag: letters, digits, '_', '.', ':' or '-'"),
            "examples": [["portal"]],
        },
        "manifest": {
            "type": "boolean",
            "description": "Record a SHA-256 manifest at backup time for drill verification (reads data twice).",
            "default": True,
        },
        "drill": DRILL,
        "check": CHECK,
        "prune": PRUNE,
        "copy": COPY,
        "retry_lock": _string(LOCK_WAIT, "how long to wait for a locked repository, like 5m", examples=["10m"]),
    },
}

CENTER: dict[str, Any] = {
    "type": "object",
    "description": "A backup center: an inventory host holding restic repositories under a root folder.",
    "additionalProperties": False,
    "required": ["host", "root"],
    "properties": {
        "host": _string(HOST_NAME, "inventory host of the backup center", examples=["bc-backup-1"]),
        "root": _string(ABS_PATH, "repository root folder on the center", examples=["/srv/restic"]),
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22, "description": "SSH port."},
        "user_prefix": _string(
            r"^[a-z_][a-z0-9_-]{0,15}$", "SFTP account of a site is this prefix + the site name", default="backup-"
        ),
        "site_users": {
            "type": "object",
            "description": "SFTP account per site where prefix + site does not fit (site: user).",
            "propertyNames": {"pattern": SITE_NAME},
            "additionalProperties": _string(UNIX_USER, "a Unix user name"),
            "examples": [{"school-gd-1": "bk-gd-school-1"}],
            "x-sample-commented": True,
        },
        "chrooted": {
            "type": "boolean",
            "default": False,
            "description": "Site accounts are chrooted to <root>/<site>, so repository paths start at /<host>.",
        },
        "identity_file": _string(
            ABS_PATH, "SSH key used by restic on the managed hosts", default="/etc/egov/backup/id_ed25519"
        ),
        "known_hosts": _string(
            ABS_PATH, "pinned host key of the center on the managed hosts", default="/etc/egov/backup/known_hosts"
        ),
        "stall_timeout": _string(
            r"^(?:[3-9]|[1-9][0-9]|[1-5][0-9]{2}|600)s$|^(?:[1-9]|10)m$",
            "how long restic's ssh to this center may go unanswered (connecting, or cut off mid-transfer) before "
            "the run fails and releases its lock (3s to 10m)",
            default="20s",
        ),
    },
}

DEFAULTS: dict[str, Any] = {
    "type": "object",
    "description": "Values every dataset inherits unless it sets its own.",
    "additionalProperties": False,
    "properties": {
        "retention": RETENTION,
        "check": CHECK,
        "prune": PRUNE,
        "copy": COPY,
        "retry_lock": _string(LOCK_WAIT, "how long to wait for a locked repository", default="5m"),
        "restic": _string(
            ABS_PATH,
            "restic binary on the managed hosts (default: the control plane's own path, as in the lab)",
            examples=["/usr/bin/restic"],
        ),
        "restore_roots": {
            "type": "array",
            "description": "Folders restores may write into (anything else needs --in-place).",
            "items": _string(ABS_PATH, "an absolute folder"),
            "default": ["/var/lib/egov/restore"],
        },
    },
}

POLICY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "EduGov backup policy (backup/*.yml)",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "centers": {
            "type": "object",
            "description": "Where repositories live: a primary center and an optional secondary for off-site copies.",
            "additionalProperties": False,
            "required": ["primary"],
            "properties": {"primary": CENTER, "secondary": {**CENTER, "x-sample-commented": True}},
        },
        "defaults": DEFAULTS,
        "datasets": {
            "type": "array",
            "description": "What to back up, where from, when, and how long to keep it.",
            "items": DATASET,
        },
    },
}


def _scalar(value: Any) -> str:
    # JSON is a subset of YAML: one line, quoted where needed, no surprises.
    return json.dumps(value, ensure_ascii=False)


def _sample_value(schema: dict[str, Any]) -> Any:
    if "examples" in schema:
        return schema["examples"][0]
    return schema.get("default")


def sample_yaml(schema: dict[str, Any] = POLICY_SCHEMA, indent: int = 0, commented: bool = False) -> str:
    """Return an annotated sample policy generated from the schema.

    Generated from the table validation uses, so the sample cannot drift
    from what is accepted. Every key is preceded by its description and
    takes its example or default value. Keys marked ``x-sample-commented``
    (alternatives such as ``dump`` next to ``paths``) are written commented
    out. Raises nothing.
    """
    lines: list[str] = []
    pad = "  " * indent
    hush = "# " if commented else ""
    if indent == 0:
        lines.append(f"# {schema['title']}")
        lines.append("# Generated from controlplane/backup/schema.py; every key is documented here.")
    for key, sub in schema.get("properties", {}).items():
        off = commented or bool(sub.get("x-sample-commented"))
        mark = "# " if off else ""
        if sub.get("description"):
            lines.append(f"{pad}{hush}# {sub['description']}")
        if sub.get("type") == "object" and "properties" in sub:
            lines.append(f"{pad}{mark}{key}:")
            lines.append(sample_yaml(sub, indent + 1, off))
        elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            lines.append(f"{pad}{mark}{key}:")
            item_lines = sample_yaml(sub["items"], indent + 2, off).split("\n")
            inner = "  " * (indent + 2)
            # The item's first key line carries the list dash; its comments stay above.
            for number, line in enumerate(item_lines):
                body = line[len(inner) :]
                if off and body.startswith("# "):
                    body = body[2:]
                if line.startswith(inner) and body and not body.startswith("#"):
                    item_lines[number] = "  " * (indent + 1) + ("# " if off else "") + "- " + body
                    break
            lines.extend(item_lines)
        else:
            value = _sample_value(sub)
            if value is None:
                lines.append(f"{pad}# {key}:")
            else:
                lines.append(f"{pad}{mark}{key}: {_scalar(value)}")
    return "\n".join(lines)
