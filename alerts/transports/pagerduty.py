"""PagerDuty Events API v2 (POST OBSERVATORY_PAGERDUTY_EVENTS_URL, by default
https://events.pagerduty.com/v2/enqueue): trigger and resolve with one dedup_key per rule
instance, so PagerDuty keeps one alert per group and resolves the right one. Required fields
(routing_key, event_action, payload.summary/source/severity) from PagerDuty's Events API v2 docs."""
from __future__ import annotations

from typing import Any

from django.conf import settings

from alerts.models import Notification
from alerts.registry import RuleInvalid
from alerts.transports.base import HttpTransport, TransportError

SEVERITY = {"critical": "critical", "warning": "warning"}


class PagerDuty(HttpTransport):
    kind = "pagerduty"
    secret_fields = ("routing_key",)

    @classmethod
    def clean(cls, config: dict[str, Any], secret_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        key = str(secret_values.get("routing_key") or "").strip()
        if not key or len(key) > 64:
            raise RuleInvalid("routing_key", "the integration's routing key (32 characters)")
        return {}, {"routing_key": key}

    def notify(self, notification: Notification) -> None:
        key = self.channel.secrets().get("routing_key")
        if not key:
            raise TransportError("the channel has no routing key", disable=True)
        m = notification.message
        dedup = f"observatory-{m['instance_id']}" if m.get("instance_id") else f"observatory-test-{self.channel.id}"
        event: dict[str, Any] = {
            "routing_key": key, "event_action": "resolve" if notification.kind == "resolve" else "trigger",
            "dedup_key": dedup,
        }
        if event["event_action"] == "trigger":
            event["payload"] = {
                "summary": m.get("summary", "Observatory alert")[:1024],
                "severity": SEVERITY.get(m.get("severity", ""), "info"),
                "source": f"observatory/{m.get('project', {}).get('name', '')}"[:255],
                "component": m.get("rule", {}).get("name", "")[:255],
                "custom_details": {"group": m.get("group"), "value": m.get("value"), "threshold": m.get("threshold"),
                                   "measure": m.get("measure"), "window_seconds": m.get("window_seconds")},
            }
            if m.get("incident", {}).get("url"):
                event["links"] = [{"href": m["incident"]["url"], "text": "Observatory incident"}]
        self.post(settings.PAGERDUTY_EVENTS_URL, event)
