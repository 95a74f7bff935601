"""Security edges shared by pages and the API: the client's address behind proxies, the sign-in
lockout page (django-axes), per-address limits on unknown API keys and password-reset mail, and
`Cache-Control: private` on everything a signed-in person or a key sees.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from drf_spectacular.views import SpectacularRedocView
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str | None:
    """The address of whoever sent the request. With TRUSTED_PROXY_COUNT = 0 (the default) that is
    REMOTE_ADDR and nothing a client writes can change it. Behind N proxies that each append to
    X-Forwarded-For, the client is the N-th entry from the right: entries further left were written
    by the client itself and are not trusted. Used by axes (AXES_CLIENT_IP_CALLABLE) and by the
    unknown-key limit, so both agree on who "one address" is.

    Why not django-ipware (what axes would use by default): it is not installed, axes silently falls
    back to REMOTE_ADDR without it, and these ten lines are the whole of what we need."""
    remote = request.META.get("REMOTE_ADDR") or None  # None: a request built in code (force_login)
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    # Fewer entries than proxies: the request did not come through all of them; trust only the socket.
    return hops[-count] if len(hops) >= count else remote


# --- Sign-in lockout (django-axes) ---------------------------------------------------------------


def cooloff_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the sign-in page again, with the reason and when to come back, as 429.
    Every attempt during a lockout counts as a failure and starts the cool-off again
    (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so the wait is always the whole cool-off."""
    minutes = cooloff_minutes()
    response = render(request, "registration/login.html",
                      {"locked_out": True, "cooloff_minutes": minutes,
                       "next": request.POST.get("next") or request.GET.get("next") or ""},
                      status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


# --- Per-address limits ------------------------------------------------------------------------


class AddressLimit(SimpleRateThrottle):
    """Failures per client address over a sliding window, on DRF's SimpleRateThrottle (the limiter
    the API already uses; same cache, same circuit breaker). Unlike a request throttle it is asked
    twice: `wait()` before the work, without counting, and `record()` after a failure, so only
    failures use up the allowance. A cache outage fails open: a limit lost for a minute beats a 500."""

    def __init__(self, name: str, rate: str | None) -> None:
        self.name = name
        self.rate = rate or None
        if self.rate:
            self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        return self.rate

    def get_cache_key(self, request: Any, view: Any = None) -> str:
        return f"throttle:{self.name}:{client_ip(request) or 'unknown'}"

    def _load(self, request: Any) -> None:
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        from observatory import breaker

        try:
            return breaker.throttle.call(fn)
        except breaker.CircuitOpen:
            return None
        except Exception:  # noqa: BLE001  (redis errors have no common base we import here)
            log.warning("%s limit: cache unavailable; not limiting for a while", self.name, exc_info=True)
            return None

    def retry_after(self, request: Any) -> int | None:
        """Seconds until this address may try again, or None when it is under its limit."""
        if not self.rate:
            return None

        def check() -> int | None:
            self._load(request)
            if len(self.history) < self.num_requests:
                return None
            # Newest first: the address is under its limit again once this failure leaves the window.
            return max(1, math.ceil(self.history[self.num_requests - 1] + self.duration - self.now))

        return self._guarded(check)

    def record(self, request: Any) -> None:
        if not self.rate:
            return

        def add() -> None:
            self._load(request)
            self.history.insert(0, self.now)
            self.cache.set(self.key, self.history, self.duration)

        self._guarded(add)


def unknown_key_limit() -> AddressLimit:
    return AddressLimit("unknown-key", settings.OBSERVATORY_UNKNOWN_KEY_RATE)


def password_reset_limit() -> AddressLimit:
    return AddressLimit("password-reset", settings.OBSERVATORY_PASSWORD_RESET_RATE)


# --- Password reset ----------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, limited per address: each request may send a mail, so an unlimited form
    lets anyone mail-bomb a known address (and burns the SMTP quota). axes does not see this form:
    it never calls authenticate()."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = password_reset_limit()
        wait = limit.retry_after(request)
        if wait is not None:
            response = render(request, self.template_name,
                              {"form": self.get_form(), "throttled_minutes": max(1, math.ceil(wait / 60))},
                              status=429)
            response["Retry-After"] = str(wait)
            return response
        limit.record(request)
        return super().post(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Setting a new password through the mailed link lifts the account's sign-in lockout: whoever
    holds the mailbox is the owner, and "reset your password" is what the lockout page offers.
    The failures made against this account go (from every address); an address locked by failures
    against other accounts stays locked."""

    def form_valid(self, form: Any) -> HttpResponse:
        from axes.utils import reset

        response = super().form_valid(form)
        reset(username=self.user.get_username())
        return response


# --- API documentation pages under the CSP -----------------------------------------------------


class RedocView(SpectacularRedocView):
    """drf-spectacular's ReDoc page without its Google Fonts link (the policy allows styles from
    this origin only, and an air-gapped install cannot reach them anyway). Swagger UI needs no
    override: SpectacularSwaggerSplitView serves its start-up script as a file."""

    template_name = "api/redoc.html"


# --- Cache-Control -----------------------------------------------------------------------------


class PrivateCacheMiddleware:
    """Nothing a signed-in person or an API key sees may be kept by a shared cache (a proxy, a CDN):
    `Cache-Control: private` on every authenticated response, set here so a new page cannot forget.
    Signed-in HTML pages also get `no-store`: they show end users' prompts and answers, and an API
    key once, which must not stay in the browser's disk cache or come back with Back after sign-out.
    The pages are cheap to render again (rollups), so nothing is lost."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        try:
            # DRF sets request.user on the underlying request when a key (KeyUser) or a session authenticates.
            user = getattr(request, "user", None)
            signed_in = user is not None and user.is_authenticated
        except Exception:  # noqa: BLE001  (the session's database is down: the 503 page stands as it is)
            return response
        if not signed_in:
            return response
        if response.get("Content-Type", "").startswith("text/html") and getattr(user, "pk", None) is not None:
            patch_cache_control(response, private=True, no_store=True)
        else:
            patch_cache_control(response, private=True)
        return response
