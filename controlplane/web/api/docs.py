"""Public helpers with which each API module documents its own routes in OpenAPI 3.1.

The convention: an API module listed in :mod:`controlplane.web.api.catalog`
declares, next to its routes, ``OPENAPI_SCHEMAS`` (the component schemas it
contributes: its request bodies and named answers) and ``openapi_paths()``
(its path items, built with the helpers below). :mod:`controlplane.web.openapi`
only merges them into the document. This module imports nothing of the web
package, so every API module may import it at the top without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flask import Blueprint

# The shared error answers; each becomes ``#/components/responses/E<code>`` with the Error schema.
ERROR_TEXTS: dict[int, str] = {
    400: "invalid input",
    401: "not authenticated",
    403: "not allowed (role or site scope)",
    404: "not found",
    409: "conflicts with the current state",
    413: "body too large",
    415: "body is not JSON",
    429: "too many requests",
}
READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415)

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


class DocumentedApi(Protocol):
    """What the catalog needs of an API module: its blueprint and its part of the document."""

    __name__: str
    bp: Blueprint
    OPENAPI_SCHEMAS: Mapping[str, dict[str, Any]]

    def openapi_paths(self) -> dict[str, Any]:
        """The module's path items, keyed by the full path (``/api/v1/...``, ``{name}`` for parameters)."""
        ...


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name`` (declared by any module in the catalog)."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A response (or reusable response) whose JSON body follows ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(*codes: int) -> dict[str, Any]:
    """References to the shared error answers of ``codes``; codes without a shared answer are left out."""
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes if code in ERROR_TEXTS}


def operation(
    summary: str,
    response: dict[str, Any],
    *,
    status: int = 200,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = READ_ERRORS,
    tag: str,
    public: bool = False,
) -> dict[str, Any]:
    """One operation: its success answer, its error answers, and the component schema ``body`` it takes.

    ``public`` drops the bearer requirement for this operation. The result is
    a fresh dict, so a module may adjust it (a description, an extra answer).
    """
    described: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {str(status): json_response(response, "success"), **error_responses(*errors)},
    }
    if body:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if params:
        described["parameters"] = params
    if public:
        described["security"] = []
    return described


def optional_body(described: dict[str, Any]) -> dict[str, Any]:
    """The operation with its request body marked optional (the route accepts an empty body too)."""
    described["requestBody"]["required"] = False
    return described


def path_param(name: str, kind: str = "string") -> dict[str, Any]:
    """A path parameter; ``kind="integer"`` bounds it like the app's ``int`` converter (larger ids: 404)."""
    integer = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    schema: dict[str, Any] = integer if kind == "integer" else {"type": "string"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def list_of(name: str) -> dict[str, Any]:
    """An ``{"items": [...]}`` answer whose items follow the component schema ``name``."""
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": ref(name)}}}


def any_object() -> dict[str, Any]:
    """A JSON object the document does not detail (rows whose fields follow the engine's report)."""
    return {"type": "object", "additionalProperties": True}


def items_of(item: dict[str, Any]) -> dict[str, Any]:
    """An ``{"items": [...]}`` answer whose items follow the inline schema ``item``."""
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": item}}}
