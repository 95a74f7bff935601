"""The base every channel kind builds on: Transport (parse the channel's config, send one
notification), HttpTransport (POST with retries and backoff honouring Retry-After on 429, 5xx and
network errors; outbound URLs checked against SSRF), TransportError(permanent=..., disable=...).
Modelled on healthchecks' hc/api/transports.py.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from django.conf import settings

from alerts.registry import RuleInvalid

if TYPE_CHECKING:
    from alerts.models import Channel, Notification

# Codes after which the channel itself is broken: the URL is gone, or the token is not valid.
DISABLING_CODES = {401, 403, 404, 410}


class TransportError(Exception):
    """permanent: retrying this notification is pointless; disable: the channel is broken (its
    reason is shown on the channel); retry_after: seconds the receiver asked us to wait."""

    def __init__(self, message: str, *, permanent: bool = False, disable: bool = False,
                 retry_after: float | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent or disable
        self.disable = disable
        self.retry_after = retry_after
        self.code = code


@dataclass
class Attempt:
    ok: bool
    response_code: int | None
    error: str
    duration_ms: int


AttemptLog = Callable[[Attempt], None]


class Transport:
    kind: ClassVar[str]
    # Names of config entries that are secrets (stored encrypted, never shown again in full).
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, channel: Channel, log: AttemptLog | None = None) -> None:
        self.channel = channel
        self.log = log or (lambda attempt: None)

    @classmethod
    def clean(cls, config: dict[str, Any], secrets: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate a channel's (config, secrets); raise RuleInvalid(field, message)."""
        return config, secrets

    def notify(self, notification: Notification) -> None:
        raise NotImplementedError


def check_url(url: str, field: str = "url") -> None:
    """http(s) only, and (unless OBSERVATORY_ALERTS_ALLOW_PRIVATE_URLS) a host that resolves to
    public addresses only: no loopback, private, link-local (cloud metadata), reserved or multicast
    address. Redirects are not followed (see _NoRedirect), so a public URL cannot bounce inward."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RuleInvalid(field, "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise RuleInvalid(field, "must be an http:// or https:// URL (at most 2,000 characters)")
    if settings.ALERTS_ALLOW_PRIVATE_URLS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RuleInvalid(field, f"the host {parts.hostname} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise RuleInvalid(field, f"{parts.hostname} resolves to {address}, a private or local address: "
                                     "refused (set OBSERVATORY_ALERTS_ALLOW_PRIVATE_URLS to allow it)")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer (an error), never followed


_opener = urllib.request.build_opener(_NoRedirect)


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class HttpTransport(Transport):
    tries = 3

    def post(self, url: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
        """POST, retrying 429, 5xx and network errors (waits honour Retry-After up to
        OBSERVATORY_ALERTS_RETRY_MAX_WAIT_SECONDS; a longer wait is left to the outbox's next try).
        Every try is logged. Raises TransportError when the last try fails."""
        try:
            check_url(url)
        except RuleInvalid as exc:
            raise TransportError(str(exc), disable=True) from None
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", "User-Agent": "Observatory-Alerts/1.0", **(headers or {})}
        base = settings.ALERTS_RETRY_BASE_SECONDS
        for attempt in range(1, self.tries + 1):
            started = time.monotonic()
            code: int | None = None
            retry_after: float | None = None
            try:
                request = urllib.request.Request(url, data=data, headers=all_headers, method="POST")
                with _opener.open(request, timeout=settings.ALERTS_HTTP_TIMEOUT_SECONDS) as response:
                    code, answer = response.status, response.read(64 * 1024)
                self.log(Attempt(True, code, "", int((time.monotonic() - started) * 1000)))
                return answer
            except urllib.error.HTTPError as exc:
                code = exc.code
                retry_after = _retry_after(exc.headers)
                detail = exc.read(300).decode(errors="replace").strip()
                error = f"HTTP {code}" + (f": {detail}" if detail else "")
            except (urllib.error.URLError, OSError) as exc:
                error = f"network error: {getattr(exc, 'reason', exc)}"
            self.log(Attempt(False, code, error[:500], int((time.monotonic() - started) * 1000)))
            transient = code is None or code == 429 or code >= 500
            if not transient:
                raise TransportError(error, disable=code in DISABLING_CODES, permanent=True, code=code)
            wait = retry_after if retry_after is not None else base * 2 ** (attempt - 1)
            if attempt == self.tries or wait > settings.ALERTS_RETRY_MAX_WAIT_SECONDS:
                raise TransportError(error, retry_after=wait, code=code)
            time.sleep(wait)
        raise AssertionError("unreachable")
