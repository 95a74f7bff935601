"""The Apprise channel against a real local receiver: Apprise's own json:// and ntfy:// plugins
pointed at loopback, asserting on what arrived; mentions in untrusted text defanged; the secret URL
stored encrypted; SSRF checks on URLs that name a host; failures logged and left for a later round."""
from __future__ import annotations

import json
from typing import Any

import pytest

from alerts import services
from alerts.delivery import notification_send
from alerts.models import Channel, DeliveryAttempt
from alerts.registry import RuleInvalid
from tests.alerts.conftest import Received
from tests.alerts.test_transports import _notification

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private")]


def _channel(project: Any, url: str) -> Channel:
    channel, shown = services.channel_create(project=project, actor=None, kind="apprise", name="long tail",
                                             secrets={"url": url})
    assert shown == {}
    return channel


def test_json_plugin_posts_the_summary_with_the_incident_link(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    target = url.replace("http://", "json://") + "/apprise"
    channel = _channel(project, target)
    row = Channel.objects.values("config", "secret_token").get(pk=channel.pk)
    assert row["config"] == {"service": "JSON"} and "127.0.0.1" not in row["secret_token"]  # encrypted
    notification = notification_send(notification=_notification(channel, group={"model": "@everyone"},
                                                                 summary="@everyone [model=x] critical: p95"))
    assert notification.status == "sent", notification.last_error
    request = received.requests[0]
    assert request["path"] == "/apprise"
    body = json.loads(request["body"])
    assert "@everyone" not in body["message"] and "@\u200beveryone [model=x] critical: p95" in body["message"]
    assert "http://observatory.example/projects/1/alerts/incidents/7" in body["message"]
    assert body["type"] == "failure" and body["title"].startswith("[Observatory]")
    assert DeliveryAttempt.objects.get(notification=notification).ok


def test_ntfy_plugin_publishes_to_a_topic_on_a_local_server(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    channel = _channel(project, url.replace("http://", "ntfy://") + "/alerts-topic")
    notification = notification_send(notification=_notification(channel, kind="resolve", type="alert.resolved",
                                                                 summary="p95 [model=gpt-4o] resolved"))
    assert notification.status == "sent", notification.last_error
    body = json.loads(received.requests[0]["body"])
    assert body["topic"] == "alerts-topic" and "p95 [model=gpt-4o] resolved" in body["message"]


def test_a_refusing_receiver_is_logged_and_retried_later(project: Any, receiver: tuple[str, Received]) -> None:
    url, received = receiver
    received.responses = [(500, {}, b"down")] * 2
    channel = _channel(project, url.replace("http://", "json://"))
    notification = notification_send(notification=_notification(channel))
    notification.refresh_from_db()
    assert notification.status == "pending" and len(received.requests) == 2
    errors = list(DeliveryAttempt.objects.filter(notification=notification).values_list("ok", "error"))
    assert [ok for ok, _ in errors] == [False, False] and all("500" in error for _, error in errors), errors


@pytest.mark.parametrize("url", ["json://127.0.0.1:9/x", "ntfy://localhost/topic", "json://169.254.169.254/x",
                                 "workflows://10.0.0.8:443/abc/def/?signature=sig"])
def test_urls_naming_a_private_host_are_refused(project: Any, url: str, settings: Any) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = False
    with pytest.raises(RuleInvalid) as caught:
        _channel(project, url)
    assert caught.value.field == "url" and "private or local" in str(caught.value)


def test_services_addressed_by_token_are_accepted_and_nonsense_is_refused(project: Any, settings: Any) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = False
    assert _channel(project, "discord://123456789/abcdefghijklmnop").config == {"service": "Discord"}
    for bad in ("", "nonsense://x", "https://"):
        with pytest.raises(RuleInvalid) as caught:
            _channel(project, bad)
        assert caught.value.field == "url"


def test_owners_add_an_apprise_channel_in_the_form_and_send_a_test(owner_client: Any, project: Any,
                                                                   receiver: tuple[str, Received]) -> None:
    url, received = receiver
    target = url.replace("http://", "json://") + "/from-the-form"
    response = owner_client.post(f"/projects/{project.id}/alerts/channels/new",
                                 {"kind": "apprise", "name": "team chat", "url": target})
    assert response.status_code == 302, response.content.decode()[-1500:]
    page = owner_client.get(response["Location"]).content.decode()
    assert "Apprise" in page and "JSON" in page and target not in page and "from-the-form" not in page
    channel = Channel.objects.get()
    response = owner_client.post(f"/projects/{project.id}/alerts/channels/{channel.id}/test", follow=True)
    assert "Test notification sent" in response.content.decode()
    assert json.loads(received.requests[0]["body"])["type"] == "info" and received.requests[0]["path"] == "/from-the-form"
