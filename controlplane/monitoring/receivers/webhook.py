"""Webhook receiver: the Alertmanager v4 payload, as Alertmanager posts it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controlplane.monitoring.receivers.base import DeliveryError, post_json, setting_or_secret

if TYPE_CHECKING:
    from controlplane.config import Receiver


def send_webhook(receiver: Receiver, payload: dict[str, Any], resolve: Callable[[str], str], timeout: float) -> None:
    """POST the payload as JSON; ``token`` (a secret) goes in ``Authorization: Bearer``.

    Raises DeliveryError when the receiver does not answer 2xx.
    """
    settings = receiver.settings
    url = setting_or_secret(settings, "url", "url_secret", resolve)
    if not url:
        raise DeliveryError(f"receiver {receiver.name}: no url")
    headers: dict[str, str] = {}
    secrets = [url] if settings.get("url_secret") else []
    if settings.get("token"):
        token = resolve(settings["token"])
        headers["Authorization"] = f"Bearer {token}"
        secrets.append(token)
    post_json(url, payload, timeout=timeout, headers=headers, secrets=secrets)
