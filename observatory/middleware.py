"""Edge checks that apply to every request before any view runs."""
from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulMiddleware:
    """A NUL (%00) in the path or query string can never match stored data, and PostgreSQL refuses
    it in any text parameter (a 500 if it got that far): answer 400 here instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.GET
        if "\x00" in request.path or any("\x00" in key or any("\x00" in v for v in values)
                                         for key, values in query.lists()):
            return JsonResponse({"error": {"code": "invalid_character",
                                           "message": "The URL contains a NUL character (%00); remove it."}},
                                status=400)
        return self.get_response(request)


class ServerTimingMiddleware:
    """`Server-Timing: app;dur=<ms>` on every response: the time spent in Django, visible in the
    browser's developer tools and read by bench/pages.py."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


class DatabaseUnavailableMiddleware:
    """A database outage met by a page (or any non-DRF view) answers 503 with Retry-After, not a 500:
    a small page that needs no database, or the API's error body under /api/ and /v1/. DRF views
    answer theirs in observatory.api.exception_handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.template.loader import render_to_string

        from observatory import outage

        if not outage.database_unavailable(exception):
            return None
        outage.note(exception, request.path)
        response: HttpResponse
        if request.path.startswith(("/api/", "/v1/")):
            response = JsonResponse({"error": {"code": "database_unavailable", "message": outage.MESSAGE}}, status=503)
        else:
            # No request context: its processors (the signed-in user, the project list) need the database.
            response = HttpResponse(render_to_string("503.html", {"retry_after": outage.RETRY_AFTER_SECONDS}),
                                    status=503)
        response["Retry-After"] = str(outage.RETRY_AFTER_SECONDS)
        return response
