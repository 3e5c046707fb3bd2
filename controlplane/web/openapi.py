"""The OpenAPI 3.1 document of ``/api/v1``, assembled from what each API module declares.

Every module of :data:`controlplane.web.api.catalog.API_MODULES` documents its
own routes next to them (``openapi_paths()`` and ``OPENAPI_SCHEMAS``, written
with :mod:`controlplane.web.api.docs`); this module adds only what belongs to
the whole document: its header, the bearer scheme and the shared error
answers. Request bodies are the schemas the routes validate with, so the
document and the checks cannot drift; a unit test compares the documented
paths and methods with the app's URL map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.web.api.catalog import API_MODULES
from controlplane.web.api.docs import ERROR_TEXTS, json_response, ref

if TYPE_CHECKING:
    from collections.abc import Iterable

    from controlplane.web.api.docs import DocumentedApi

# The envelope of every error answer (controlplane.web.errors), referenced by the shared responses.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

DESCRIPTION = (
    "Authenticate with `Authorization: Bearer egov_<prefix>_<secret>` (create tokens in the console "
    'profile or POST /api/v1/tokens). Every error is {"error": {"code", "message"}}. Request '
    "bodies are JSON only (415 otherwise), at most 64 KiB (413), and unknown fields are refused (400)."
)


def _merged(parts: Iterable[tuple[str, dict[str, Any]]], what: str) -> dict[str, Any]:
    """One dict from the modules' parts; ValueError when two modules declare the same key.

    A silent overwrite would drop one module's documentation, so a clash is
    a programming error found by the first request for the document.
    """
    merged: dict[str, Any] = {}
    for owner, part in parts:
        for key, value in part.items():
            if key in merged:
                raise ValueError(f"{what} {key!r} of {owner} is declared twice")
            merged[key] = value
    return merged


def assemble(modules: Iterable[DocumentedApi]) -> dict[str, Any]:
    """The document of ``modules``; ValueError when two of them declare the same path or schema name."""
    listed = tuple(modules)
    paths = _merged(((module.__name__, module.openapi_paths()) for module in listed), "path")
    schemas = _merged(
        [(__name__, {"Error": ERROR_SCHEMA})] + [(module.__name__, dict(module.OPENAPI_SCHEMAS)) for module in listed],
        "schema",
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "EduGov control plane API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
            "responses": {f"E{code}": json_response(ref("Error"), text) for code, text in ERROR_TEXTS.items()},
        },
    }


def document() -> dict[str, Any]:
    """Return the OpenAPI document of every API module in the catalog, as a dict (built per call)."""
    return assemble(API_MODULES)
