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
