"""JSON schemas (Draft 2020-12) of control files and waiver files.

One schema validates both the shipped catalog and a site's own controls, so
a site control is held to the same rules: every field present, a check of a
known type with the keys that type needs, references to the standards.
"""

from __future__ import annotations

from typing import Any

SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("pass", "fail", "error", "not_applicable", "waived")

# Conditions a lab host cannot meet; see evaluate.REQUIREMENTS for the reasons.
REQUIREMENTS = ("kernel_wide", "systemd", "own_packages")

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
_SCALAR = {"type": ["string", "integer", "number", "boolean"]}

# An expectation on one found value; several keys must all hold.
EXPECT: dict[str, Any] = {
    "type": "object",
    "description": "What the found value must satisfy (every key given must hold).",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "equals": _SCALAR,
        "one_of": {"type": "array", "items": _SCALAR, "minItems": 1},
        "none_of": {"type": "array", "items": _SCALAR, "minItems": 1},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "all_in": _STRINGS,
        "none_in": _STRINGS,
        "regex": {"type": "string", "minLength": 1},
        "non_empty": {"const": True},
    },
}

_IF_MISSING = {"enum": ["pass", "fail", "error", "not_applicable"]}
_PATH = {"type": "string", "pattern": "^/", "description": "an absolute path (globs allowed where noted)"}


def _check(type_name: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """One ``if type == X then {required, properties}`` branch of the check schema."""
    return {
        "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
        "then": {
            "required": required,
            "properties": {"type": {"const": type_name}, **properties},
            "additionalProperties": False,
        },
    }


CHECK_TYPES: dict[str, dict[str, Any]] = {
    "sshd_effective": _check(
        "sshd_effective",
        ["key", "expect"],
        {
            "key": {"oneOf": [{"type": "string", "pattern": "^[a-z0-9]+$"}, _STRINGS]},
            "expect": EXPECT,
            "if_missing": _IF_MISSING,
        },
    ),
    "sysctl": _check(
        "sysctl",
        ["keys", "expect"],
        {"keys": _STRINGS, "expect": EXPECT, "if_missing": _IF_MISSING},
    ),
    "file_mode": _check(
        "file_mode",
        ["path"],
        {
            "path": _PATH,
            "max_mode": {"type": "string", "pattern": "^0?[0-7]{3,4}$"},
            "owner": {"oneOf": [{"type": "string"}, _STRINGS]},
            "group": {"oneOf": [{"type": "string"}, _STRINGS]},
            "if_missing": _IF_MISSING,
        },
    ),
    "package": _check(
        "package",
        ["name", "state"],
        {"name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9+.-]+$"}, "state": {"enum": ["installed", "absent"]}},
    ),
    "service": _check(
        "service",
        ["name", "state"],
        {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9@_.:-]+$"},
            "state": {"enum": ["active", "inactive"]},
            "process": {"type": "string", "minLength": 1, "description": "process name (comm) without systemd"},
            "enabled": {"type": "boolean"},
        },
    ),
    "listening": _check(
        "listening",
        ["allowed"],
        {
            "allowed": {
                "type": "object",
                "description": "allowed TCP ports per role; 'default' applies to every host",
                "required": ["default"],
                "additionalProperties": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}},
            },
            "ignore_loopback": {"type": "boolean"},
        },
    ),
    "login_defs": _check(
        "login_defs",
        ["key", "expect"],
        {"key": {"type": "string", "pattern": "^[A-Z_]+$"}, "expect": EXPECT, "default": _SCALAR},
    ),
    "pam": _check(
        "pam",
        ["file", "module"],
        {
            "file": _PATH,
            "module": {"type": "string", "pattern": r"^pam_[a-z0-9_]+\.so$"},
            "option": {"type": "string", "minLength": 1},
            "expect": EXPECT,
            "config_file": _PATH,
            "default": _SCALAR,
        },
    ),
    "pwquality": _check(
        "pwquality",
        ["key", "expect"],
        {"key": {"type": "string", "pattern": "^[a-z_]+$"}, "expect": EXPECT, "default": _SCALAR},
    ),
    "accounts": _check(
        "accounts",
        ["rule"],
        {
            "rule": {
                "enum": [
                    "uid0_only_root",
                    "no_empty_passwords",
                    "no_legacy_plus",
                    "shadowed_passwords",
                    "no_duplicate_uids",
                    "no_duplicate_names",
                ]
            }
        },
    ),
    "nft_policy": _check(
        "nft_policy",
        ["hook", "policy"],
        {"hook": {"enum": ["input", "forward", "output"]}, "policy": {"enum": ["drop", "accept"]}},
    ),
    "kernel_module": _check("kernel_module", ["name"], {"name": {"type": "string", "pattern": "^[a-z0-9_-]+$"}}),
    "mount_option": _check(
        "mount_option",
        ["mountpoint", "options"],
        {"mountpoint": _PATH, "options": _STRINGS, "if_missing": _IF_MISSING},
    ),
    "file_contains": _check(
        "file_contains",
        ["path", "pattern"],
        {
            "path": _PATH,
            "pattern": {"type": "string", "minLength": 1, "description": "Python regex, multiline mode"},
            "present": {"type": "boolean"},
            "if_missing": _IF_MISSING,
        },
    ),
    "command": _check(
        "command",
        ["argv"],
        {
            "argv": {
                "type": "array",
                "prefixItems": [{"type": "string", "pattern": "^/", "description": "an absolute program path"}],
                "items": {"type": "string"},
                "minItems": 1,
            },
            "exit_code": {"type": "integer"},
            "stdout": EXPECT,
        },
    ),
    "ssh_certificate": _check(
        "ssh_certificate",
        ["path"],
        {
            "path": _PATH,
            "kind": {"enum": ["host", "user"], "description": "the certificate type (default host)"},
            "min_days_left": {"type": "integer", "minimum": 0},
            "if_missing": _IF_MISSING,
        },
    ),
    "tls_certificate": _check(
        "tls_certificate",
        ["port"],
        {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "min_days_left": {"type": "integer", "minimum": 0},
        },
    ),
    "nft_boundary": _check(
        "nft_boundary",
        ["rule"],
        {
            "rule": {"enum": ["default_deny", "drops_logged", "rules_justified"]},
            "table": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$", "description": "default egov_boundary"},
        },
    ),
    "network_verify": _check(
        "network_verify",
        ["rule"],
        {
            "rule": {"enum": ["no_violations", "allowed_flows_work", "recent"]},
            "max_age_seconds": {"type": "integer", "minimum": 1},
            "if_missing": _IF_MISSING,
        },
    ),
    "store": _check(
        "store",
        ["fact"],
        {
            "fact": {"type": "string", "pattern": r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"},
            "max_age_seconds": {"type": "integer", "minimum": 1},
            "expect": EXPECT,
            "if_missing": _IF_MISSING,
        },
    ),
}

# any_of / all_of combine checks (e.g. chrony OR systemd-timesyncd active).
COMBINATORS = ("any_of", "all_of")

CHECK: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": [*CHECK_TYPES, *COMBINATORS]}},
    "allOf": [
        *CHECK_TYPES.values(),
        *(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {
                    "required": ["checks"],
                    "properties": {
                        "type": {"const": name},
                        "checks": {"type": "array", "items": {"$ref": "#/$defs/check"}, "minItems": 2},
                    },
                    "additionalProperties": False,
                },
            }
            for name in COMBINATORS
        ),
    ],
}

CONTROL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "title_en", "title_zh", "severity", "rationale", "check", "remediation", "references"],
    "properties": {
        "id": {
            "type": "string",
            "pattern": r"^[a-z0-9]+(\.[a-z0-9]+(-[a-z0-9]+)*)+$",
            "description": "dotted lower-case id such as ssh.permit-root-login",
        },
        "title_en": {"type": "string", "minLength": 3},
        "title_zh": {"type": "string", "minLength": 2},
        "severity": {"enum": list(SEVERITIES)},
        "rationale": {"type": "string", "minLength": 10},
        "check": {"$ref": "#/$defs/check"},
        "remediation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["role", "tag"],
            "properties": {
                "playbook": {"enum": ["harden", "provision"]},
                "role": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                "tag": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                "note": {"type": "string"},
            },
        },
        "applies": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "roles": _STRINGS,
                # Roles whose job contradicts the control (a gateway forwards packets): not applicable there.
                "except_roles": _STRINGS,
                "requires": {"type": "array", "items": {"enum": list(REQUIREMENTS)}, "minItems": 1},
                "store_fact": {"type": "string", "pattern": r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"},
            },
        },
        "references": {
            "type": "object",
            "additionalProperties": False,
            "required": ["mlps", "nist"],
            "properties": {
                "cis": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["version", "title"],
                    "properties": {
                        "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                        "id": {"type": "string", "pattern": r"^\d+(\.\d+)+$"},
                        "title": {"type": "string", "minLength": 3},
                    },
                },
                "mlps": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["clause", "title"],
                        "properties": {
                            "clause": {"type": "string", "pattern": r"^8\.1\.\d+\.\d+$"},
                            "title": {"type": "string", "pattern": "^安全.+—.+$"},
                            "item": {"type": "string", "pattern": "^[a-k]$"},
                        },
                    },
                },
                "nist": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "pattern": r"^[A-Z]{2}-\d+(\(\d+\))?$"},
                },
            },
        },
        "override": {
            "type": "boolean",
            "description": "a site control replacing a shipped control of the same id",
        },
    },
}

CONTROL_FILE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["controls"],
    "properties": {"controls": {"type": "array", "items": CONTROL}},
    # x-* keys hold YAML anchors shared by the controls of a file (references, fixes)
    "patternProperties": {"^x-": {}},
    "$defs": {"check": CHECK},
}

WAIVER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["control", "justification", "approver", "expires"],
    "anyOf": [{"required": ["hosts"]}, {"required": ["sites"]}],
    "properties": {
        "control": {"type": "string", "minLength": 3},
        "hosts": _STRINGS,
        "sites": _STRINGS,
        "justification": {"type": "string", "minLength": 10},
        "approver": {"type": "string", "minLength": 2},
        "expires": {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}$",
            "description": "expiry date as YYYY-MM-DD (the waiver applies through that day)",
        },
    },
}

WAIVER_FILE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["waivers"],
    "properties": {"waivers": {"type": "array", "items": WAIVER}},
}
