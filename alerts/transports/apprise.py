"""Apprise channels for the long tail (Discord, Teams workflows, Telegram, ntfy, Gotify, Matrix, plain
JSON...): one Apprise URL (https://github.com/caronc/apprise/wiki) kept encrypted. We use the
`apprise` library rather than writing a transport per service: it knows 100+ services' APIs.

SSRF: a URL naming a network host of its own (json://host, ntfy://host/topic, workflows://host/…:
the plugin's template has a `host`) is checked like our http(s) URLs, when saved and before every
send; services addressed by ids or tokens (discord://id/token, tgram://token/chat) talk to their
vendor's fixed public API. Apprise is imported when a channel is used, not when the web starts.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlunsplit

from django.conf import settings

from alerts.models import Notification
from alerts.registry import RuleInvalid
from alerts.transports.base import Attempt, Transport, TransportError, check_url

ZERO_WIDTH_SPACE = "\u200b"
TRIES = 2


def _plugin(url: str) -> Any:
    import apprise  # noqa: PLC0415 - 1-2 MB of plugins, loaded only where a channel is used

    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def check_host(plugin: Any, field: str = "url") -> None:
    """The SSRF check for plugins whose URL names the host they connect to."""
    host = getattr(plugin, "host", None)
    if not host or "host" not in getattr(plugin, "template_tokens", {}):
        return
    secure = bool(getattr(plugin, "secure", False))
    port = getattr(plugin, "port", None)
    check_url(urlunsplit(("https" if secure else "http", f"{host}:{port}" if port else host, "/", "", "")), field)


def defang(text: str) -> str:
    """Untrusted text (group values come from clients) must not ping people: '@everyone' and
    '@here' in Discord, '@channel' in Mattermost are broken by a zero-width space after the @."""
    return text.replace("@", "@" + ZERO_WIDTH_SPACE)


class AppriseTransport(Transport):
    kind = "apprise"
    secret_fields = ("url",)

    @classmethod
    def clean(cls, config: dict[str, Any], secret_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        url = str(secret_values.get("url") or "").strip()
        plugin = _plugin(url) if url and len(url) <= 2000 else None
        if plugin is None:
            raise RuleInvalid("url", "an Apprise URL of a supported service, e.g. discord://webhook_id/token, "
                                     "ntfy://host/topic or json://host/path")
        check_host(plugin)
        # What may be shown: the service (never the URL, which carries tokens).
        return {"service": str(getattr(plugin, "service_name", "") or url.split("://", 1)[0])}, {"url": url}

    def notify(self, notification: Notification) -> None:
        import apprise  # noqa: PLC0415

        url = self.channel.secrets().get("url")
        plugin = _plugin(url) if url else None
        if plugin is None:
            raise TransportError("the channel has no valid Apprise URL", disable=True)
        try:
            check_host(plugin)
        except RuleInvalid as exc:
            raise TransportError(str(exc), disable=True) from None
        m = notification.message
        title = defang(f"[Observatory] {m.get('summary', 'Observatory alert')}")[:250]
        body = defang(m.get("summary", "Observatory alert"))
        if m.get("incident", {}).get("url"):
            body += f"\n{m['incident']['url']}"
        kind = {"resolve": apprise.NotifyType.SUCCESS, "test": apprise.NotifyType.INFO}.get(
            notification.kind, apprise.NotifyType.FAILURE if m.get("severity") == "critical" else apprise.NotifyType.WARNING)
        sender = apprise.Apprise()
        sender.add(plugin)
        for attempt in range(1, TRIES + 1):
            started = time.monotonic()
            # Apprise answers True/False and logs why; capture its log to keep the reason.
            with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
                ok = sender.notify(body=body, title=title, notify_type=kind, body_format=apprise.NotifyFormat.TEXT)
            duration = int((time.monotonic() - started) * 1000)
            if ok:
                self.log(Attempt(True, None, "", duration))
                return
            error = (" ".join(line.strip() for line in captured.getvalue().splitlines() if line.strip())
                     or "the service refused the notification")[:500]
            self.log(Attempt(False, None, error, duration))
            if attempt < TRIES:
                time.sleep(settings.ALERTS_RETRY_BASE_SECONDS)
        # Apprise does not tell a bad token from an outage: leave the row for a later outbox round.
        raise TransportError(error)
