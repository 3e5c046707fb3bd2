"""The one list of API modules: it drives both the blueprint registration and the OpenAPI document.

A new API module (its own blueprint, or routes on the shared ``/api/v1``
blueprint of :mod:`controlplane.web.api`) is added to :data:`API_MODULES`
and nowhere else: :func:`controlplane.web.create_app` registers the
blueprints from :func:`api_blueprints`, and :mod:`controlplane.web.openapi`
documents the paths and schemas each module declares (see
:mod:`controlplane.web.api.docs`). Order: the shared blueprint's modules
first, then the feature blueprints in the order they were registered before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controlplane.web.api import (
    alerts,
    audit,
    automation,
    backup,
    compliance,
    me,
    network,
    resources,
    runbooks,
    runs,
    users,
)

if TYPE_CHECKING:
    from flask import Blueprint

    from controlplane.web.api.docs import DocumentedApi

API_MODULES: tuple[DocumentedApi, ...] = (
    resources,
    me,
    runs,
    audit,
    users,
    compliance,
    backup,
    alerts,
    runbooks,
    automation,
    network,
)


def api_blueprints() -> list[Blueprint]:
    """The distinct blueprints of :data:`API_MODULES`, each once, in the order of the list."""
    found: list[Blueprint] = []
    for module in API_MODULES:
        if module.bp not in found:
            found.append(module.bp)
    return found
