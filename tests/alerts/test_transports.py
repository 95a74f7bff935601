"""Each transport against a real local receiver: what arrives (payloads, headers), the webhook's
signature verified with the standardwebhooks package, email through a real SMTP server on
loopback; retries on 429 (Retry-After) and 5xx; a 410 disables the channel; SSRF refusals."""
from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from aiosmtpd.controller import Controller

from alerts import services
from alerts.delivery import notification_send
from alerts.models import Channel, DeliveryAttempt, Notification
from alerts.registry import RuleInvalid
from alerts.transports.base import check_url
from tests.alerts.conftest import Received
from tests.processes import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private")]
XSS = '<script>alert(1)</script> & <b>'


def _notification(channel: Channel, kind: str = "trigger", **message: Any) -> Notification:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    base = {"type": "alert.triggered" if kind != "resolve" else "alert.resolved",
            "summary": f"{XSS} [model=gpt-4o] critical: latency_p95 = 2500 (threshold 1000)",
            "project": {"id": channel.project_id, "name": "Support bot"}, "rule": {"id": 1, "name": XSS},
            "instance_id": 42, "incident": {"id": 7, "url": "http://observatory.example/projects/1/alerts/incidents/7"},
            "severity": "critical", "state": "firing", "group": {"model": "gpt-4o"}, "measure": "latency_p95",
            "value": 2500.0, "threshold": 1000.0, "window_seconds": 300, "at": now.isoformat(), "note": ""}
    base.update(message)
    return Notification.objects.create(project_id=channel.project_id, channel=channel, kind=kind, message=base,
                                       next_attempt_at=now, claimed_at=now)


def test_webhook_is_signed_by_the_standard_and_verifies(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    channel, shown = services.channel_create(project=project, actor=None, kind="webhook", name="hook",
                                             secrets={"url": url + "/hook"})
    secret = shown["secret"]
    assert secret.startswith("whsec_")
    assert secret not in str(Channel.objects.values_list("config", "secret_token").get(pk=channel.pk)[0])
    notification = notification_send(notification=_notification(channel))
    assert notification.status == "sent"
    request = received.requests[0]
    payload = standardwebhooks.Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "alert.triggered" and set(payload) == {"type", "timestamp", "data"}
    assert payload["data"]["group"] == {"model": "gpt-4o"} and payload["data"]["value"] == 2500.0
    assert request["headers"]["webhook-id"] == f"msg_{notification.delivery_id.hex}"
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(request["body"].replace(b"2500", b"2600"), request["headers"])


def test_retries_keep_the_delivery_id_and_honour_retry_after(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    received.responses = [(429, {"Retry-After": "1"}, b"slow down"), (503, {}, b"")]
    channel, shown = services.channel_create(project=project, actor=None, kind="webhook", name="hook",
                                             secrets={"url": url})
    import time

    started = time.monotonic()
    notification = notification_send(notification=_notification(channel))
    assert time.monotonic() - started >= 1.0  # waited the Retry-After
    assert notification.status == "sent" and notification.attempts == 3
    ids = {r["headers"]["webhook-id"] for r in received.requests}
    assert len(received.requests) == 3 and len(ids) == 1
    log = list(DeliveryAttempt.objects.filter(notification=notification).order_by("at")
               .values_list("ok", "response_code"))
    assert log == [(False, 429), (False, 503), (True, 200)]


def test_exhausted_retries_leave_the_row_for_a_later_round(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    received.responses = [(500, {}, b"")] * 3
    channel, _ = services.channel_create(project=project, actor=None, kind="slack", name="ops", secrets={"url": url})
    notification = notification_send(notification=_notification(channel))
    notification.refresh_from_db()
    assert notification.status == "pending" and notification.claimed_at is None
    assert notification.next_attempt_at > notification.created_at
    channel.refresh_from_db()
    assert channel.enabled


def test_a_410_disables_the_channel_with_the_reason(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    received.responses = [(410, {}, b"channel_is_archived")]
    channel, _ = services.channel_create(project=project, actor=None, kind="slack", name="ops", secrets={"url": url})
    notification = notification_send(notification=_notification(channel))
    assert notification.status == "failed" and len(received.requests) == 1
    channel.refresh_from_db()
    assert "410" in channel.disabled_reason and "channel_is_archived" in channel.disabled_reason


def test_slack_block_kit_is_short_escaped_and_links_the_incident(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    channel, _ = services.channel_create(project=project, actor=None, kind="slack", name="ops", secrets={"url": url})
    notification_send(notification=_notification(channel))
    body = received.json()
    text = body["blocks"][0]["text"]["text"]
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp;" in text
    assert "http://observatory.example/projects/1/alerts/incidents/7|Open the incident" in \
        body["blocks"][1]["elements"][0]["text"]


def test_pagerduty_triggers_and_resolves_with_one_dedup_key(project: Any, receiver: tuple[str, Received],
                                                            settings: Any) -> None:
    url, received = receiver
    settings.PAGERDUTY_EVENTS_URL = url + "/v2/enqueue"
    received.responses = [(202, {}, b'{"status":"success"}')] * 2
    channel, _ = services.channel_create(project=project, actor=None, kind="pagerduty", name="on-call",
                                         secrets={"routing_key": "R" * 32})
    notification_send(notification=_notification(channel))
    notification_send(notification=_notification(channel, kind="resolve"))
    trigger, resolve = received.json(0), received.json(1)
    assert received.requests[0]["path"] == "/v2/enqueue"
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "observatory-42"
    assert trigger["routing_key"] == "R" * 32
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "observatory/Support bot"
    assert trigger["payload"]["summary"].endswith("critical: latency_p95 = 2500 (threshold 1000)")


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


@pytest.fixture
def smtp(settings: Any) -> Iterator[_Inbox]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


def test_email_goes_through_a_real_smtp_server_as_text_and_html(project: Any, smtp: _Inbox) -> None:
    channel, _ = services.channel_create(project=project, actor=None, kind="email", name="finance",
                                         config={"to": "a@example.com, b@example.com"})
    notification = notification_send(notification=_notification(channel))
    assert notification.status == "sent"
    (recipients, message), = smtp.messages
    assert sorted(recipients) == ["a@example.com", "b@example.com"]
    assert "latency_p95 = 2500" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Incident: http://observatory.example/projects/1/alerts/incidents/7" in text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_send_test_service_uses_the_same_path(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    channel, shown = services.channel_create(project=project, actor=None, kind="webhook", name="hook",
                                             secrets={"url": url})
    notification = services.channel_test(channel=channel, actor=None)
    assert notification.status == "sent" and notification.kind == "test"
    payload = standardwebhooks.Webhook(shown["secret"]).verify(received.requests[0]["body"],
                                                               received.requests[0]["headers"])
    assert payload["type"] == "alert.test"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.0.0.8/x",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "ftp://example.com/x",
                                 "javascript:alert(1)"])
def test_private_and_non_http_urls_are_refused(url: str, settings: Any) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = False
    with pytest.raises(RuleInvalid) as caught:
        check_url(url)
    assert caught.value.field == "url"


def test_a_channel_whose_host_turned_private_is_disabled_not_called(project: Any, receiver: tuple[str, Received],
                                                                     settings: Any) -> None:
    url, received = receiver
    channel, _ = services.channel_create(project=project, actor=None, kind="slack", name="ops", secrets={"url": url})
    settings.ALERTS_ALLOW_PRIVATE_URLS = False
    notification = notification_send(notification=_notification(channel))
    assert notification.status == "failed" and not received.requests
    channel.refresh_from_db()
    assert "private or local address" in channel.disabled_reason
