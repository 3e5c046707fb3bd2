"""What every HTTP receiver shares: a POST over :mod:`http.client`, masked errors.

:mod:`http.client` is used directly because it reads no proxy variables from
the environment (an alert must go to the configured address, nowhere else)
and follows no redirects.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from controlplane.execute import mask_text

MAX_RESPONSE = 64 * 1024


class DeliveryError(Exception):
    """A receiver did not accept a notification; the message holds no secret."""


def where(url: str) -> str:
    """The part of a URL safe to show: scheme, host and port (never path or query, which may hold keys)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"


def post_json(
    url: str,
    body: Any,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> tuple[int, bytes]:
    """POST ``body`` as JSON; return (status, response body). Raises DeliveryError on failure.

    A status outside 2xx is a failure. Errors name only :func:`where` and
    are masked with ``secrets`` in case a library echoes a URL.
    """
    parts = urlsplit(url)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "egov-alerts/1", **(headers or {})}
    secret_list = [s for s in secrets if s]
    try:
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port or 443, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
        try:
            connection.request("POST", path, body=data, headers=all_headers)
            response = connection.getresponse()
            answer = response.read(MAX_RESPONSE)
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as error:
        text = mask_text(str(getattr(error, "strerror", None) or error), secret_list)
        raise DeliveryError(f"{where(url)}: {text}") from None
    if not 200 <= response.status < 300:
        snippet = mask_text(answer[:200].decode("utf-8", "replace"), secret_list)
        raise DeliveryError(f"{where(url)}: HTTP {response.status} {snippet}".strip())
    return response.status, answer


def setting_or_secret(settings: dict[str, Any], plain: str, secret: str, resolve: Callable[[str], str]) -> str | None:
    """A receiver value given in clear (``plain``) or as a vault reference (``secret``)."""
    if settings.get(secret):
        return str(resolve(settings[secret]))
    value = settings.get(plain)
    return str(value) if value else None
