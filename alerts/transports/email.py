"""Email through Django's mail backend (OBSERVATORY_EMAIL_*; the console until SMTP is set),
text and HTML, to a list of addresses."""
from __future__ import annotations

import smtplib
import time
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.forms import ValidationError
from django.template.loader import render_to_string

from alerts.models import Notification
from alerts.registry import RuleInvalid
from alerts.transports.base import Attempt, Transport, TransportError

MAX_ADDRESSES = 20


class Email(Transport):
    kind = "email"

    @classmethod
    def clean(cls, config: dict[str, Any], secret_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        raw = config.get("to", [])
        if not isinstance(raw, (str, list)) or not all(isinstance(a, str) for a in (raw if isinstance(raw, list) else [])):
            raise RuleInvalid("to", "a list of email addresses, or one string of comma-separated addresses")
        addresses = [a.strip() for a in (raw.split(",") if isinstance(raw, str) else raw) if a.strip()]
        if not addresses or len(addresses) > MAX_ADDRESSES:
            raise RuleInvalid("to", f"one to {MAX_ADDRESSES} email addresses")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise RuleInvalid("to", f"'{address}' is not an email address") from None
        return {"to": addresses}, {}

    def notify(self, notification: Notification) -> None:
        m = notification.message
        context = {"m": m, "kind": notification.kind}
        message = EmailMultiAlternatives(
            subject=f"[Observatory] {m.get('summary', 'Alert')}"[:250],
            body=render_to_string("alerts/email_notification.txt", context),
            to=self.channel.config.get("to", []), connection=get_connection(fail_silently=False),
            headers={"X-Observatory-Delivery": str(notification.delivery_id)})
        message.attach_alternative(render_to_string("alerts/email_notification.html", context), "text/html")
        started = time.monotonic()
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            self.log(Attempt(False, None, f"recipients refused: {exc}"[:500], int((time.monotonic() - started) * 1000)))
            raise TransportError(f"recipients refused: {exc}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.log(Attempt(False, None, f"SMTP error: {exc}"[:500], int((time.monotonic() - started) * 1000)))
            raise TransportError(f"SMTP error: {exc}") from None
        self.log(Attempt(True, None, "", int((time.monotonic() - started) * 1000)))
