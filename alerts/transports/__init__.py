"""Channel kinds: one small module each on the base in base.py; TRANSPORTS maps kind → class."""
from __future__ import annotations

from alerts.transports.apprise import AppriseTransport
from alerts.transports.base import Transport, TransportError
from alerts.transports.email import Email
from alerts.transports.pagerduty import PagerDuty
from alerts.transports.slack import Slack
from alerts.transports.webhook import Webhook

TRANSPORTS: dict[str, type[Transport]] = {t.kind: t for t in (Email, Slack, Webhook, PagerDuty, AppriseTransport)}

__all__ = ["TRANSPORTS", "Transport", "TransportError"]
