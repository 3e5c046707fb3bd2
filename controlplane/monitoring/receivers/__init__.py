"""Receivers: webhook (Alertmanager v4), e-mail (SMTP), WeCom and DingTalk group robots.

Each sender takes the receiver's settings from ``egov.yml``, a function that
resolves ``secret:NAME`` references through the vault, and the stored v4
payload; it raises :class:`DeliveryError` when the message was not accepted.
Secrets (tokens, signing keys, robot URLs, SMTP passwords) are resolved at
send time, never stored with the payload, and masked out of every error.

Why no notification library: the candidates (Apprise being the well-kept
one) hard-code the robots' public endpoints, do not send Alertmanager's v4
payload, and format messages their own way; each channel here is one
documented HTTP POST or one SMTP transaction over the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controlplane.monitoring.receivers.base import DeliveryError
from controlplane.monitoring.receivers.chat import send_dingtalk, send_wecom
from controlplane.monitoring.receivers.email import send_email
from controlplane.monitoring.receivers.webhook import send_webhook

if TYPE_CHECKING:
    from controlplane.config import Receiver

Sender = Callable[["Receiver", dict[str, Any], Callable[[str], str], float], None]

SENDERS: dict[str, Sender] = {
    "webhook": send_webhook,
    "email": send_email,
    "wecom": send_wecom,
    "dingtalk": send_dingtalk,
}

__all__ = ["SENDERS", "DeliveryError", "Sender"]
