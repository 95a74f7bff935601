"""Change events through the alerts app's channels: a new version and a label move reach a
subscribed signed webhook (verified with the standardwebhooks package) and Slack, through the
alerts outbox, at a local HTTP receiver; unsubscribed channels and other kinds hear nothing."""
from __future__ import annotations

import json
from typing import Any

import pytest
import standardwebhooks

from alerts import services as alert_services
from alerts.delivery import notifications_deliver_due
from alerts.models import Notification
from prompts.services import label_move
from tests.alerts.conftest import Received, allow_private, receiver  # noqa: F401 (fixtures)
from tests.conftest import Api
from tests.prompts.conftest import OWNER
from tests.prompts.test_apis import _send

pytestmark = pytest.mark.django_db


def test_a_new_version_and_a_label_move_reach_the_subscribed_channels(
        project: Any, greeting: Any, writer: Api, member_client: Any, receiver: tuple[str, Received],  # noqa: F811
        allow_private: None) -> None:  # noqa: F811
    url, received = receiver
    hook, shown = alert_services.channel_create(project=project, actor=None, kind="webhook", name="hook",
                                                secrets={"url": url + "/hook"})
    slack, _ = alert_services.channel_create(project=project, actor=None, kind="slack", name="ops",
                                             secrets={"url": url + "/slack"})
    quiet, _ = alert_services.channel_create(project=project, actor=None, kind="slack", name="quiet",
                                             secrets={"url": url + "/quiet"})
    mail, _ = alert_services.channel_create(project=project, actor=None, kind="email", name="mail",
                                            config={"to": ["a@example.com"]})

    assert _send(writer, "put", "/api/v1/prompt-subscriptions", {"channels": [mail.pk]}).status_code == 400  # not webhook/Slack
    member = member_client.put(f"/api/v1/prompt-subscriptions?project={project.pk}",
                               data=json.dumps({"channels": [hook.pk]}), content_type="application/json")
    assert member.status_code == 403  # members do not choose where events go
    answer = _send(writer, "put", "/api/v1/prompt-subscriptions", {"channels": [hook.pk, slack.pk]})
    assert answer.status_code == 200, answer.content
    assert {c["name"]: c["subscribed"] for c in answer.json()["data"]} == {"hook": True, "ops": True, "quiet": False}
    # A channel subscribed to rollbacks only hears nothing below.
    assert _send(writer, "put", "/api/v1/prompt-subscriptions",
                 {"channels": [hook.pk, slack.pk, quiet.pk], "kinds": []}).status_code == 200
    from prompts.models import EventSubscription

    EventSubscription.objects.filter(channel_id=quiet.pk).update(kinds=["rollback"])

    created = _send(writer, "post", "/api/v1/prompts/greeting/versions",
                    {"prompt": "Hey {{name}}", "commit_message": "short"})
    assert created.status_code == 201, created.content
    label_move(prompt=greeting, label="production", version=greeting.versions.get(version=3), actor=OWNER,
               reason="canary won")
    assert notifications_deliver_due() == 4  # two events × two channels
    assert not Notification.objects.filter(channel=quiet).exists()

    hooks = [r for r in received.requests if r["path"] == "/hook"]
    payloads = [standardwebhooks.Webhook(shown["secret"]).verify(r["body"], r["headers"]) for r in hooks]
    assert sorted(p["type"] for p in payloads) == ["prompt.label_moved", "prompt.version_created"]
    moved = next(p for p in payloads if p["type"] == "prompt.label_moved")["data"]
    assert moved["data"]["label"] == "production" and moved["data"]["from_version"] == 1
    assert moved["data"]["to_version"] == 3 and moved["data"]["reason"] == "canary won"
    assert moved["incident"]["url"].endswith(f"/projects/{project.pk}/prompts/{greeting.pk}/")
    tampered = next(r for r in hooks if b"canary" in r["body"])
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(shown["secret"]).verify(tampered["body"].replace(b"canary", b"vandal"),
                                                         tampered["headers"])
    slack_texts = sorted(json.loads(r["body"])["text"] for r in received.requests if r["path"] == "/slack")
    assert slack_texts == ["greeting: 'production' moved from v1 to v3 by owner (canary won)",
                           f"greeting: version 3 created by {created.json()['author']} (short)"]


def test_owners_choose_the_channels_on_the_prompts_page(project: Any, owner_client: Any, member_client: Any,
                                                        allow_private: None) -> None:  # noqa: F811
    hook, _ = alert_services.channel_create(project=project, actor=None, kind="webhook", name="hook",
                                            secrets={"url": "http://127.0.0.1:9/hook"})
    slack, _ = alert_services.channel_create(project=project, actor=None, kind="slack", name="ops",
                                             secrets={"url": "http://127.0.0.1:9/slack"})
    page = owner_client.get(f"/projects/{project.pk}/prompts/").content.decode()
    assert 'data-testid="prompt-events"' in page and f'id="event-channel-{hook.pk}"' in page
    url = f"/projects/{project.pk}/prompts/events"
    assert member_client.post(url, {"channel": [str(hook.pk)]}).status_code == 403
    assert owner_client.post(url, {"channel": [str(slack.pk), "999999", "x"]}).status_code == 302
    from prompts.models import EventSubscription

    assert list(EventSubscription.objects.values_list("channel_id", flat=True)) == [slack.pk]
    assert f'value="{slack.pk}" id="event-channel-{slack.pk}" checked' in owner_client.get(
        f"/projects/{project.pk}/prompts/").content.decode()
