"""Signed webhooks (Standard Webhooks, standardwebhooks.com): headers webhook-id (the
notification's delivery id, the same on every retry), webhook-timestamp and webhook-signature
(v1,<base64 HMAC-SHA256 of "id.timestamp.body">), signed by the `standardwebhooks` package so a
receiver using it verifies us byte for byte. The body is {type, timestamp, data}."""
from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timezone
from typing import Any

import standardwebhooks

from alerts.models import Notification
from alerts.registry import RuleInvalid
from alerts.transports.base import HttpTransport, TransportError, check_url


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Webhook(HttpTransport):
    kind = "webhook"
    secret_fields = ("url", "secret")

    @classmethod
    def clean(cls, config: dict[str, Any], secret_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        url = str(secret_values.get("url") or "")
        check_url(url)
        secret = secret_values.get("secret") or new_secret()
        try:
            standardwebhooks.Webhook(secret)
        except Exception:
            raise RuleInvalid("secret", "a whsec_… secret (base64 after the prefix)") from None
        return {}, {"url": url, "secret": secret}

    def notify(self, notification: Notification) -> None:
        values = self.channel.secrets()
        if not values.get("url"):
            raise TransportError("the channel has no URL", disable=True)
        now = datetime.now(timezone.utc)
        body = json.dumps({"type": notification.message.get("type", "alert"), "timestamp": now.isoformat(),
                           "data": notification.message}, separators=(",", ":"))
        msg_id = f"msg_{notification.delivery_id.hex}"
        signature = standardwebhooks.Webhook(values["secret"]).sign(msg_id, now, body)
        self.post(values["url"], body.encode(), {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                                                 "webhook-signature": signature})
