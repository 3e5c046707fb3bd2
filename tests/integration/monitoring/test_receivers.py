"""Every receiver against a real local server: webhook, SMTP (aiosmtpd), WeCom and DingTalk formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from controlplane.monitoring.alerts import FIRING, Alert
from controlplane.monitoring.dispatch import Notification
from controlplane.monitoring.payload import build_payload
from controlplane.monitoring.receivers import SENDERS, DeliveryError
from controlplane.monitoring.receivers.chat import send_dingtalk
from tests.integration.monitoring.servers import Mailbox, Sink

SECRETS = {"secret:TOKEN": "hook-token-42", "secret:DING": "SECdingtalk-signing-secret", "secret:SMTP": "pw"}


def payload() -> dict:  # type: ignore[type-arg]
    import datetime as dt

    alert = Alert({"alertname": "ServiceDown", "host": "mn-portal-1", "site": "ministry", "severity": "critical",
                   "service": "portal"}, {"summary": "门户服务已停止", "runbook_url": "https://rb.example/portal"},
                  FIRING, fired_at=dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC))  # fmt: skip
    return build_payload(Notification("oncall", "{}/default:{}", {"alertname": "ServiceDown"}, "notify", [alert], []))


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


def receiver(kind: str, **settings: object) -> SimpleNamespace:
    return SimpleNamespace(name=f"test-{kind}", type=kind, settings=settings)


def test_the_webhook_posts_the_v4_payload_with_the_bearer_token(sink: Sink) -> None:
    SENDERS["webhook"](receiver("webhook", url=f"{sink.url}/alerts", token="secret:TOKEN"), payload(),
                       SECRETS.__getitem__, 5.0)  # fmt: skip
    [got] = sink.received
    assert got.path == "/alerts"
    assert got.headers["Authorization"] == "Bearer hook-token-42"
    assert got.body == payload()


def test_a_webhook_answering_500_is_a_delivery_error(sink: Sink) -> None:
    sink.status = 500
    with pytest.raises(DeliveryError, match="HTTP 500"):
        SENDERS["webhook"](receiver("webhook", url=sink.url), payload(), SECRETS.__getitem__, 5.0)


def test_wecom_gets_a_markdown_message_and_its_errcode_is_checked(sink: Sink) -> None:
    SENDERS["wecom"](receiver("wecom", url=f"{sink.url}/cgi-bin/webhook/send?key=k1"), payload(),
                     SECRETS.__getitem__, 5.0)  # fmt: skip
    [got] = sink.received
    assert got.path == "/cgi-bin/webhook/send?key=k1"
    assert got.body["msgtype"] == "markdown"
    assert "门户服务已停止" in got.body["markdown"]["content"]
    sink.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    with pytest.raises(DeliveryError, match="robot error 93000"):
        SENDERS["wecom"](receiver("wecom", url=f"{sink.url}/x?key=k1"), payload(), SECRETS.__getitem__, 5.0)


def test_dingtalk_gets_a_signed_markdown_message(sink: Sink) -> None:
    stamp_seconds = 1_772_438_400.123
    send_dingtalk(receiver("dingtalk", url=f"{sink.url}/robot/send?access_token=t1", signing_secret="secret:DING"),
                  payload(), SECRETS.__getitem__, 5.0, clock=lambda: stamp_seconds)  # fmt: skip
    [got] = sink.received
    query = parse_qs(urlsplit(got.path).query)
    assert query["access_token"] == ["t1"]
    timestamp = query["timestamp"][0]
    assert timestamp == str(int(stamp_seconds * 1000))
    secret = SECRETS["secret:DING"]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest())
    assert query["sign"] == [expected.decode()]  # parse_qs undoes the URL encoding
    assert got.body["msgtype"] == "markdown" and got.body["markdown"]["title"].startswith("[FIRING:1]")


def test_dingtalk_errors_never_show_the_signing_secret(sink: Sink) -> None:
    sink.answer = {"errcode": 310000, "errmsg": "sign not match, more: [SECdingtalk-signing-secret]"}
    with pytest.raises(DeliveryError) as caught:
        SENDERS["dingtalk"](receiver("dingtalk", url=f"{sink.url}/robot/send?access_token=t1",
                                     signing_secret="secret:DING"), payload(), SECRETS.__getitem__, 5.0)  # fmt: skip
    assert "SECdingtalk" not in str(caught.value) and "310000" in str(caught.value)


def test_email_reaches_a_real_smtp_server_with_subject_and_body() -> None:
    mailbox = Mailbox().start()
    try:
        SENDERS["email"](receiver("email", smtp_host="127.0.0.1", smtp_port=mailbox.port, to=["oncall@edu.example"],
                                  **{"from": "egov@edu.example"}), payload(), SECRETS.__getitem__, 5.0)  # fmt: skip
    finally:
        mailbox.stop()
    [(sender, recipients, message)] = mailbox.messages
    assert sender == "egov@edu.example" and recipients == ["oncall@edu.example"]
    assert message["Subject"] == "[FIRING:1] alertname=ServiceDown"
    body = message.get_content()
    assert "门户服务已停止" in body and "runbook_url: https://rb.example/portal" in body


def test_email_to_a_closed_port_is_a_delivery_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError, match=r"smtp 127\.0\.0\.1"):
        SENDERS["email"](receiver("email", smtp_host="127.0.0.1", smtp_port=port, to=["a@b.c"]), payload(),
                         SECRETS.__getitem__, 2.0)  # fmt: skip
