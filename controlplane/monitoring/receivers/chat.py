"""WeCom (企业微信) and DingTalk (钉钉) group robots: markdown messages.

Both robots answer HTTP 200 with ``{"errcode": 0}`` on success and a
non-zero ``errcode`` with ``errmsg`` otherwise, so the JSON answer is
checked, not just the status. DingTalk's signed robots need ``timestamp``
(milliseconds) and ``sign`` = base64(HMAC-SHA256(secret, "timestamp\\nsecret"))
added to the URL, URL-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from controlplane.monitoring.payload import markdown, title
from controlplane.monitoring.receivers.base import DeliveryError, post_json, setting_or_secret, where

if TYPE_CHECKING:
    from controlplane.config import Receiver

WECOM_MAX_BYTES = 4096  # WeCom's limit on markdown content
DINGTALK_MAX_CHARS = 20000


def _clip_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def _check_answer(url: str, answer: bytes, secrets: list[str]) -> None:
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        raise DeliveryError(f"{where(url)}: the robot did not answer JSON") from None
    if isinstance(data, dict) and data.get("errcode", 0) != 0:
        message = str(data.get("errmsg", ""))[:200]
        for secret in secrets:
            message = message.replace(secret, "***")
        raise DeliveryError(f"{where(url)}: robot error {data.get('errcode')}: {message}")


def wecom_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The WeCom robot message for a payload."""
    return {"msgtype": "markdown", "markdown": {"content": _clip_bytes(markdown(payload), WECOM_MAX_BYTES)}}


def dingtalk_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The DingTalk robot message for a payload."""
    text = markdown(payload)
    if len(text) > DINGTALK_MAX_CHARS:
        text = text[: DINGTALK_MAX_CHARS - 1] + "…"
    return {"msgtype": "markdown", "markdown": {"title": title(payload), "text": text}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")), URL-encoded."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def send_wecom(receiver: Receiver, payload: dict[str, Any], resolve: Callable[[str], str], timeout: float) -> None:
    """Post the markdown message to a WeCom robot URL (its ``key`` is best kept as url_secret)."""
    url = setting_or_secret(receiver.settings, "url", "url_secret", resolve)
    if not url:
        raise DeliveryError(f"receiver {receiver.name}: no url")
    secrets = [url]
    _status, answer = post_json(url, wecom_body(payload), timeout=timeout, secrets=secrets)
    _check_answer(url, answer, secrets)


def send_dingtalk(
    receiver: Receiver,
    payload: dict[str, Any],
    resolve: Callable[[str], str],
    timeout: float,
    clock: Callable[[], float] = time.time,
) -> None:
    """Post the markdown message to a DingTalk robot, signed when ``signing_secret`` is set."""
    url = setting_or_secret(receiver.settings, "url", "url_secret", resolve)
    if not url:
        raise DeliveryError(f"receiver {receiver.name}: no url")
    secrets = [url]
    if receiver.settings.get("signing_secret"):
        secret = resolve(receiver.settings["signing_secret"])
        stamp = int(clock() * 1000)
        sign = dingtalk_sign(secret, stamp)
        url = f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}"
        secrets += [secret, sign]
    _status, answer = post_json(url, dingtalk_body(payload), timeout=timeout, secrets=secrets)
    _check_answer(url, answer, secrets)
