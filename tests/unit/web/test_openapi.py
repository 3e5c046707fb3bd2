"""The OpenAPI convention: each API module documents its own routes; one catalog drives registration and document."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controlplane.web.api import docs
from controlplane.web.api.catalog import API_MODULES, api_blueprints
from controlplane.web.openapi import assemble, document

API_PACKAGE = Path(docs.__file__).parent


def _references(node: Any) -> set[str]:
    """Every ``$ref`` target anywhere in ``node``."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(value) for value in node)) if node else set()
    return set()


def _fake_module(name: str, paths: dict[str, Any], schemas: dict[str, Any]) -> Any:
    return SimpleNamespace(__name__=name, bp=None, OPENAPI_SCHEMAS=schemas, openapi_paths=lambda: paths)


def test_every_reference_in_the_document_names_a_declared_schema_or_response() -> None:
    doc = document()
    declared = {f"#/components/{kind}/{name}" for kind in ("schemas", "responses") for name in doc["components"][kind]}
    assert _references(doc) - declared == set()


def test_the_served_document_is_the_assembled_catalog(client) -> None:
    assert client.get("/api/v1/openapi.json").get_json() == document()


def test_the_app_registers_exactly_the_api_blueprints_of_the_catalog(app) -> None:
    under_api = {name for name, blueprint in app.blueprints.items() if (blueprint.url_prefix or "").startswith("/api")}
    assert under_api == {blueprint.name for blueprint in api_blueprints()}


def test_each_api_module_documents_exactly_the_routes_it_defines(app) -> None:
    served: dict[str, set[tuple[str, str]]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            owner = app.view_functions[rule.endpoint].__module__
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served.setdefault(owner, set()).update((path, method) for method in rule.methods - {"HEAD", "OPTIONS"})
    for module in API_MODULES:
        documented = {(path, method.upper()) for path, item in module.openapi_paths().items() for method in item}
        assert documented == served.pop(module.__name__, set()), module.__name__
    assert served == {}, "API routes in modules missing from the catalog"


def test_two_modules_declaring_the_same_path_are_refused() -> None:
    first = _fake_module("first", {"/api/v1/x": {}}, {})
    second = _fake_module("second", {"/api/v1/x": {}}, {})
    with pytest.raises(ValueError, match="'/api/v1/x' of second"):
        assemble([first, second])


def test_a_module_redeclaring_a_schema_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'Error' of only"):
        assemble([_fake_module("only", {}, {"Error": {"type": "object"}})])


def test_api_modules_use_the_public_helpers_and_never_the_assembler_at_import() -> None:
    for source in sorted(API_PACKAGE.glob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: the route serving the document may import it lazily
            if isinstance(node, ast.ImportFrom) and node.module == "controlplane.web.openapi":
                pytest.fail(f"{source.name} imports the document assembler at import time")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in ("controlplane.web.openapi", docs.__name__):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert private == [], f"{source.name} imports private helpers {private}"


def test_an_optional_body_operation_keeps_its_schema_but_is_not_required() -> None:
    described = docs.optional_body(docs.operation("x", {}, body="RunbookDecision", tag="t"))
    assert described["requestBody"] == {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunbookDecision"}}},
    }
