"""Request validation: JSON bodies against schemas, query parameters against simple rules.

The body schemas below are also the request schemas of the OpenAPI document
(one source). Every object schema sets ``additionalProperties: false`` so an
unknown field is a 400, and every string has a length limit and a pattern
that refuses control characters.
"""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.store.models import RunStatus
from controlplane.users import LANGUAGES, MAX_DISPLAY_NAME, MAX_PASSWORD, ROLES
from controlplane.web.errors import ApiError

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
SITE = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,62}$", "maxLength": 63}
HOST = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", "maxLength": 63}
USER_NAME = {"type": "string", "pattern": r"^[a-z][a-z0-9._-]{1,63}$", "maxLength": 64}
PASSWORD = {"type": "string", "minLength": 1, "maxLength": MAX_PASSWORD, "pattern": NO_CONTROL}
DISPLAY_NAME = {"type": ["string", "null"], "maxLength": MAX_DISPLAY_NAME, "pattern": NO_CONTROL}
LANGUAGE = {"enum": [*LANGUAGES, None]}
ROLE = {"enum": list(ROLES)}
SITES = {"type": "array", "items": SITE, "maxItems": 100, "uniqueItems": True}

RUN_KINDS = ("ping",)

SCHEMAS: dict[str, dict[str, Any]] = {
    "RunCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "host"],
        "properties": {"kind": {"enum": list(RUN_KINDS)}, "host": HOST},
    },
    "UserCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "role", "password"],
        "properties": {
            "name": USER_NAME,
            "role": ROLE,
            "sites": SITES,
            "password": PASSWORD,
            "display_name": DISPLAY_NAME,
            "language": LANGUAGE,
        },
    },
    "UserUpdate": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "role": ROLE,
            "sites": SITES,
            "display_name": DISPLAY_NAME,
            "language": LANGUAGE,
            "disabled": {"type": "boolean"},
        },
    },
    "MeUpdate": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {"display_name": DISPLAY_NAME, "language": LANGUAGE},
    },
    "PasswordChange": {
        "type": "object",
        "additionalProperties": False,
        "required": ["old_password", "new_password"],
        "properties": {"old_password": PASSWORD, "new_password": PASSWORD},
    },
    "TokenCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", "maxLength": 64},
            "expires_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650},
        },
    },
    "TotpCode": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code"],
        "properties": {"code": {"type": "string", "pattern": r"^[0-9]{6}$"}},
    },
}


def json_body(schema_name: str) -> dict[str, Any]:
    """Return the request's JSON object after validating it against a named schema.

    Raises ApiError 415 when the body is not JSON, 400 when it does not parse
    or breaks the schema (the message names the field, never its value).
    """
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON")
    validate(data, SCHEMAS[schema_name])
    return data  # type: ignore[no-any-return]


def validate(data: Any, schema: dict[str, Any]) -> None:
    """Validate data against a JSON schema; raise ApiError 400 naming the first bad field."""
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if not errors:
        return
    error = errors[0]
    where = ".".join(str(part) for part in error.path) or "(body)"
    if error.validator == "additionalProperties":
        unknown = sorted(set(data) - set(schema.get("properties", {}))) if isinstance(data, dict) else []
        message = f"unknown field(s): {', '.join(unknown)[:200]}"
    elif error.validator == "required":
        message = f"missing field: {error.message.split(' ')[0].strip(chr(39))[:64]}"
    else:
        message = f"invalid value for {where} ({error.validator})"
    raise ApiError(400, "invalid", message)


# --------------------------------------------------------------------------- query parameters
def query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    """Return an integer query parameter within bounds; 400 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise ApiError(400, "invalid", f"{name} must be an integer")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ApiError(400, "invalid", f"{name} must be between {minimum} and {maximum}")
    return value


def query_choice(name: str, choices: tuple[str, ...]) -> str | None:
    """Return a query parameter that must be one of ``choices`` (or None when absent)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise ApiError(400, "invalid", f"{name} must be one of {', '.join(choices)}")
    return raw


def query_text(name: str, pattern: str = r"^[A-Za-z0-9@._:-]{1,128}$") -> str | None:
    """Return a short query parameter matching a safe pattern (or None when absent)."""
    import re

    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(pattern, raw):
        raise ApiError(400, "invalid", f"{name} has characters that are not allowed")
    return raw


STATUSES = RunStatus.ALL
