"""One error shape for every API error: {"error": {"code", "message", "details"}}."""
from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import register_converter
from django.urls.converters import PathConverter
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from observatory import outage
from tenancy.models import ApiKey

log = logging.getLogger(__name__)


class AnyIdConverter(PathConverter):
    """A client's id in a URL (`/api/v1/calls/<id>`): any characters, `/` and line breaks included.
    Django's `path` converter stops at a newline, so such an id got the HTML 404 of an unknown URL."""

    regex = r"[\s\S]+"


ANY_ID = "anyid"  # `<anyid:call_id>` in the URL patterns
register_converter(AnyIdConverter, ANY_ID)


API_PREFIXES = ("/api/", "/v1/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 (handler404) for a URL that no route matches. Under the API's prefixes, the API's
    error body: an id that a route's converter refuses (`/api/v1/queues/abc`) meets this, not a view."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"error": {"code": "not_found", "message": "No such endpoint, or an id in the URL "
                                                                       "that cannot be one (see /api/docs/)."}},
                            status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def error_response(status_code: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return Response(body, status=status_code, headers=headers)


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        parts = [f"{key}: {_message(value)}" for key, value in detail.items()]
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if outage.database_unavailable(exc):
        # Raised anywhere in the view, the key lookup in authentication included: clients retry a 503.
        view = context.get("view")
        outage.note(exc, type(view).__name__ if view is not None else "API")
        return error_response(503, "database_unavailable", outage.MESSAGE,
                              headers={"Retry-After": str(outage.RETRY_AFTER_SECONDS)})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid"
        details = exc.detail if isinstance(exc.detail, (dict, list)) else None
        if isinstance(exc, exceptions.Throttled) and code == "throttled":  # subclasses carry their own message
            message = f"Rate limit exceeded for this key. Retry in {exc.wait:.0f} s." if exc.wait else str(exc.detail)
        else:
            message = _message(exc.detail)
        response.data = {"error": {"code": code, "message": message}}
        if details is not None:
            response.data["error"]["details"] = details
    return response


class KeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (or per signed-in user). Fails open if the cache is unreachable:
    losing rate limiting for a minute beats refusing telemetry."""

    rate_setting = "OBSERVATORY_INGEST_RATE"

    def get_rate(self) -> str:
        from django.conf import settings

        return getattr(settings, self.rate_setting)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return f"throttle:{self.rate_setting}:{ident}"

    def allow_request(self, request: Any, view: Any) -> bool:
        from observatory import breaker

        try:
            return breaker.throttle.call(lambda: super(KeyRateThrottle, self).allow_request(request, view))
        except breaker.CircuitOpen:
            return True  # the cache failed moments ago: not tried again until the cool-down ends
        except Exception:  # noqa: BLE001
            log.warning("rate-limit cache unavailable; allowing requests for a while", exc_info=True)
            return True


class ReadRateThrottle(KeyRateThrottle):
    rate_setting = "OBSERVATORY_READ_RATE"


__all__ = ["error_response", "exception_handler", "KeyRateThrottle", "ReadRateThrottle", "status"]
