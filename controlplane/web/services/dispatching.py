"""Handing a created run to the console's dispatcher (see :mod:`controlplane.dispatch`)."""

from __future__ import annotations

from flask import current_app

from controlplane.dispatch import Dispatcher, Saturated
from controlplane.web.errors import ApiError


def dispatcher() -> Dispatcher:
    """The dispatcher the app factory installed (tests may inject their own as ``EGOV_DISPATCHER``)."""
    return current_app.extensions["egov.dispatcher"]  # type: ignore[no-any-return]


def dispatch(run_id: int) -> int:
    """Queue a created run for execution; return its id.

    Raises ApiError 503 when the dispatcher is full or stopping (the run is
    then recorded as failed, so it never waits forever).
    """
    try:
        dispatcher().submit(run_id)
    except Saturated as error:
        raise ApiError(503, "not_started", error.message) from None
    return run_id
