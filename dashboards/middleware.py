"""Shows times in the viewer's time zone: the browser reports it in a cookie (app.js), and Django
renders every datetime in templates in it for the length of the request."""
from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboards.context import parse_tz


class TimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.activate(ZoneInfo(parse_tz(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
