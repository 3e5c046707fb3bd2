"""Reading and validating every YAML file the control plane reads.

One rule for all of them: a file is parsed safely, validated against a JSON
schema, and every problem is reported at once with the file and key path,
before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from controlplane.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

MAX_YAML_BYTES = 4 * 1024 * 1024


def read_yaml(path: Path) -> Any:
    """Parse one YAML file safely.

    Returns the document as YAML built it (None for an empty file); files
    over MAX_YAML_BYTES are refused before parsing. Raises ConfigError
    naming the file and the line and column of a syntax error, or that the
    file is missing, unreadable or too large.
    """
    source = str(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(source, [("", f"file is larger than {MAX_YAML_BYTES} bytes")])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [("", "file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, [("", f"cannot read file: {error}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "syntax"
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(source, [(where, f"invalid YAML: {problem}")]) from None


def key_path(parts: Iterable[Any]) -> str:
    """Return a JSON-schema error path as ``a.b[2].c``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _strict_pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """JSON Schema ``pattern`` where ``$`` really means the end of the string.

    jsonschema applies patterns with Python's ``re.search``, whose ``$`` also
    matches before a trailing newline: ``"name\n"`` would pass ``^[a-z]+$``.
    A newline smuggled into a name is exactly what these patterns keep out.
    """
    import re

    from jsonschema import ValidationError

    if not isinstance(instance, str):
        return
    strict = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    if re.search(strict, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _validator_class() -> type[Validator]:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _strict_pattern})


def schema_problems(data: Any, schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Validate ``data`` against a JSON schema and return every problem.

    Returns ``(key_path, message)`` pairs sorted by path (empty when valid),
    all of them rather than the first, so one edit fixes a file. Messages
    for unknown keys name the key, so typos are easy to spot; a ``pattern``
    with a ``description`` reports the description instead of the regex.
    """
    validator = _validator_class()(schema)
    problems: list[tuple[str, str]] = []
    for error in validator.iter_errors(data):
        path = key_path(error.absolute_path)
        message = error.message
        if error.validator == "pattern" and "description" in error.schema:
            message = f"{error.instance!r} is not valid: {error.schema['description']}"
        problems.append((path, message))
    return sorted(problems)


def load_validated(path: Path, schema: dict[str, Any]) -> Any:
    """Read a YAML file and validate it; raise ConfigError with all problems."""
    data = read_yaml(path)
    problems = schema_problems(data, schema)
    if problems:
        raise ConfigError(str(path), problems)
    return data
