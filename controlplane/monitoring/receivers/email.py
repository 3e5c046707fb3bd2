"""E-mail receiver over SMTP (the standard library's smtplib: one transaction per message)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from controlplane.execute import mask_text
from controlplane.monitoring.payload import plain_text, title
from controlplane.monitoring.receivers.base import DeliveryError

if TYPE_CHECKING:
    from controlplane.config import Receiver

DEFAULT_FROM = "egov-alerts@localhost"


def build_message(receiver: Receiver, payload: dict[str, Any]) -> EmailMessage:
    """The e-mail for a payload: subject from the title, plain-text body, UTF-8."""
    settings = receiver.settings
    message = EmailMessage()
    message["Subject"] = title(payload)
    message["From"] = settings.get("from") or DEFAULT_FROM
    message["To"] = ", ".join(settings.get("to") or [])
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="egov.local")
    message["X-Egov-Group-Key"] = payload.get("groupKey", "")[:900]
    message.set_content(plain_text(payload))
    return message


def send_email(receiver: Receiver, payload: dict[str, Any], resolve: Callable[[str], str], timeout: float) -> None:
    """Send the payload as an e-mail; STARTTLS and login when configured. Raises DeliveryError."""
    settings = receiver.settings
    host, port = settings["smtp_host"], int(settings.get("smtp_port", 25))
    password = resolve(settings["smtp_password"]) if settings.get("smtp_password") else None
    message = build_message(receiver, payload)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if settings.get("starttls"):
                smtp.starttls(context=ssl.create_default_context())
            if settings.get("smtp_user") and password:
                smtp.login(settings["smtp_user"], password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryError(f"smtp {host}:{port}: {mask_text(str(error), [password or ''])[:300]}") from None
    if refused:
        raise DeliveryError(f"smtp {host}:{port}: refused {', '.join(sorted(refused))}")
