"""The v4 payload, the robots' message formats, DingTalk signing, masked errors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from types import SimpleNamespace
from urllib.parse import unquote_plus

import pytest

from controlplane.monitoring.alerts import FIRING, RESOLVED, Alert
from controlplane.monitoring.dispatch import Notification
from controlplane.monitoring.payload import ZERO_TIME, build_payload, markdown, plain_text, without_resolved
from controlplane.monitoring.receivers import DeliveryError
from controlplane.monitoring.receivers.chat import dingtalk_body, dingtalk_sign, wecom_body
from controlplane.monitoring.receivers.webhook import send_webhook
from tests.unit.monitoring.helpers import T0, seconds

V4_KEYS = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
           "commonAnnotations", "externalURL", "alerts"}  # fmt: skip
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


def notification() -> Notification:
    labels = {"alertname": "ServiceDown", "site": "ministry", "severity": "critical"}
    one = Alert({**labels, "host": "mn-portal-1"}, {"summary": "portal stopped", "runbook_url": "https://rb/x"},
                FIRING, fired_at=T0)  # fmt: skip
    two = Alert({**labels, "host": "mn-portal-2"}, {"summary": "portal stopped"}, RESOLVED, fired_at=T0,
                resolved_at=T0 + seconds(90))  # fmt: skip
    return Notification("oncall", '{}/default:{alertname="ServiceDown"}', {"alertname": "ServiceDown"}, "notify",
                        [one], [two])  # fmt: skip


def test_the_payload_has_exactly_the_alertmanager_version_4_fields() -> None:
    payload = build_payload(notification(), "https://egov.example")
    assert set(payload) == V4_KEYS
    assert payload["version"] == "4" and payload["status"] == "firing" and payload["truncatedAlerts"] == 0
    assert all(set(alert) == ALERT_KEYS for alert in payload["alerts"])
    firing, resolved = payload["alerts"]
    assert firing["startsAt"] == "2026-03-02T08:00:00Z" and firing["endsAt"] == ZERO_TIME
    assert resolved["status"] == "resolved" and resolved["endsAt"] == "2026-03-02T08:01:30Z"
    assert payload["commonLabels"] == {"alertname": "ServiceDown", "site": "ministry", "severity": "critical"}
    assert payload["commonAnnotations"] == {"summary": "portal stopped"}
    assert firing["generatorURL"] == "https://egov.example/alerts"


def test_a_receiver_without_send_resolved_gets_only_the_firing_part() -> None:
    payload = build_payload(notification())
    assert [a["status"] for a in without_resolved(payload)["alerts"]] == ["firing"]  # type: ignore[index]
    only_resolved = build_payload(Notification("x", "k", {}, "notify", [], notification().resolved))
    assert only_resolved["status"] == "resolved" and without_resolved(only_resolved) is None


def test_chat_and_mail_texts_carry_the_summary_and_the_runbook_link() -> None:
    payload = build_payload(notification())
    text = markdown(payload)
    assert "### [FIRING:1] alertname=ServiceDown" in text
    assert "portal stopped" in text and "[https://rb/x](https://rb/x)" in text
    assert "runbook_url: https://rb/x" in plain_text(payload)
    assert wecom_body(payload) == {"msgtype": "markdown", "markdown": {"content": text}}
    body = dingtalk_body(payload)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("[FIRING:1]")


def test_wecom_content_is_cut_to_its_4096_byte_limit_without_breaking_a_character() -> None:
    alerts = [Alert({"alertname": "A", "host": f"主机-{i}"}, {"summary": "磁盘" * 40}, FIRING, fired_at=T0)
              for i in range(60)]  # fmt: skip
    many = Notification("x", "k", {}, "notify", alerts, [])
    content = wecom_body(build_payload(many))["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    content.encode("utf-8").decode("utf-8")


def test_the_dingtalk_signature_is_base64_hmac_sha256_of_timestamp_newline_secret() -> None:
    secret, stamp = "SEC0123456789abcdef", 1_700_000_000_000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest())
    sign = dingtalk_sign(secret, stamp)
    assert unquote_plus(sign) == expected.decode()
    assert "+" not in sign and "/" not in sign and "=" not in sign  # URL-encoded for the query string


def test_a_failed_webhook_error_names_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = SimpleNamespace(name="oncall", settings={"url_secret": "secret:HOOK", "token": "secret:TOKEN"})
    values = {"secret:HOOK": "http://127.0.0.1:9/hook?key=very-secret-key", "secret:TOKEN": "tok-123"}
    with pytest.raises(DeliveryError) as caught:
        send_webhook(receiver, {"alerts": []}, values.__getitem__, 1.0)
    assert "very-secret-key" not in str(caught.value) and "tok-123" not in str(caught.value)
    assert str(caught.value).startswith("http://127.0.0.1:9")


def test_payload_times_are_utc_with_a_z_whatever_the_zone_given() -> None:
    from controlplane.monitoring.payload import rfc3339

    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert rfc3339(dt.datetime(2026, 3, 2, 16, 0, tzinfo=shanghai)) == "2026-03-02T08:00:00Z"
