"""Slack incoming webhooks with Block Kit: one short line, the figures, a link to the incident."""
from __future__ import annotations

from typing import Any

from alerts.models import Notification
from alerts.transports.base import HttpTransport, TransportError, check_url

ICON = {"trigger": ":rotating_light:", "resolve": ":white_check_mark:", "test": ":wave:"}


def escape(text: str) -> str:
    """Slack's mrkdwn control characters (rule names and group values are untrusted)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Slack(HttpTransport):
    kind = "slack"
    secret_fields = ("url",)

    @classmethod
    def clean(cls, config: dict[str, Any], secret_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        url = str(secret_values.get("url") or "")
        check_url(url)
        return {}, {"url": url}

    def notify(self, notification: Notification) -> None:
        url = self.channel.secrets().get("url")
        if not url:
            raise TransportError("the channel has no URL", disable=True)
        m = notification.message
        headline = f"{ICON.get(notification.kind, '')} {escape(m.get('summary', 'Observatory alert'))}"
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
        if m.get("incident", {}).get("url"):
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"<{m['incident']['url']}|Open the incident> · {escape(m.get('project', {}).get('name', ''))}"}]})
        self.post(url, {"text": m.get("summary", "Observatory alert"), "blocks": blocks})
