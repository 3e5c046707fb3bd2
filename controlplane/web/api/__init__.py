"""The JSON API under ``/api/v1``: everything the pages show and do.

The shared blueprint below carries the core modules; features have their
own blueprints. :mod:`controlplane.web.api.catalog` lists every API module
once: that list registers the blueprints and builds the OpenAPI document,
each module documenting its own routes (:mod:`controlplane.web.api.docs`).

Authentication is a bearer token (``Authorization: Bearer egov_...``) or
the console session (then state-changing calls need the ``X-CSRF-Token``
header). Every error has the shape ``{"error": {"code", "message"}}``; the
OpenAPI document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# The modules register their routes on ``bp`` when imported.
from controlplane.web.api import audit, compliance, me, resources, runs, users  # noqa: E402, F401
