"""What every project page knows: the project and the viewer's role, the time range, the time
zone and the global filters, all read from the URL so a view can be shared by copying it.

`project_page` wraps a view: it finds the project among the viewer's own (404 otherwise: nobody
learns that another organization's project exists), enforces the role, and hands the view a `Page`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict

from rollups.selectors import Query
from tenancy.models import Membership, Project, Role

# Ranges offered by the picker, and the chart interval each one is drawn with (~24-100 points).
RANGES: dict[str, tuple[str, timedelta, timedelta]] = {
    "1h": ("Last hour", timedelta(hours=1), timedelta(minutes=1)),
    "24h": ("Last 24 hours", timedelta(days=1), timedelta(hours=1)),
    "7d": ("Last 7 days", timedelta(days=7), timedelta(hours=6)),
    "30d": ("Last 30 days", timedelta(days=30), timedelta(days=1)),
}
DEFAULT_RANGE = "24h"
_CUSTOM_STEPS = [timedelta(minutes=m) for m in (1, 5, 15)] + [timedelta(hours=h) for h in (1, 6)] + [
    timedelta(days=1), timedelta(days=7)]
# Global filters: the rollup dimensions, so every page (charts included) can honour them.
FILTER_DIMENSIONS = ["model", "provider", "prompt_name", "prompt_version", "feature", "team", "environment",
                     "status"]
MANAGE_ROLES = {Role.OWNER, Role.ADMIN}
TZ_COOKIE = "obs_tz"  # set by static/dashboards/app.js from the browser's Intl time zone


class BadRange(ValueError):
    pass


@dataclass(frozen=True)
class Page:
    project: Project
    role: str
    start: datetime
    end: datetime
    range_key: str
    interval: timedelta
    tz: str
    filters: dict[str, list[str]] = field(default_factory=dict)
    params: QueryDict | None = None  # the request's query string, for links that keep it

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGE_ROLES

    @property
    def range_label(self) -> str:
        if self.range_key in RANGES:
            return RANGES[self.range_key][0]
        zone = ZoneInfo(self.tz)
        return (f"{self.start.astimezone(zone):%Y-%m-%d %H:%M} – {self.end.astimezone(zone):%Y-%m-%d %H:%M}")

    def query(self, *, group_by: tuple[str, ...] = (), interval: bool = False, score: str = "",
              filters: dict[str, list[str]] | None = None) -> Query:
        return Query(project_id=self.project.id, start=self.start, end=self.end,
                     filters=self.filters if filters is None else filters, group_by=group_by,
                     interval=self.interval if interval else None, tz=self.tz, score=score)

    def previous(self) -> Page:
        """The same length of time just before this range: tiles compare against it."""
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start)

    def keep(self, **overrides: Any) -> str:
        """This page's query string with some parameters replaced (None removes one)."""
        params = self.params.copy() if self.params is not None else QueryDict(mutable=True)
        params.pop("cursor", None)  # a changed view starts from its first page
        for name, value in overrides.items():
            params.pop(name, None)
            if value is not None:
                params.setlist(name, value if isinstance(value, list) else [str(value)])
        return params.urlencode()

    @property
    def shared(self) -> str:
        """Range, global filters and a time zone named in the URL: what links to other pages carry.
        Filters are the URL's own values ("p@2" stays one value, not a prompt and a version)."""
        pairs: list[tuple[str, str]] = [("range", self.range_key)]
        if self.range_key == "custom" and self.params is not None:
            pairs += [("from", self.params.get("from", "")), ("to", self.params.get("to", ""))]
        if self.params is not None:
            pairs += [(dim, value) for dim in FILTER_DIMENSIONS for value in self.params.getlist(dim) if value]
            if self.params.get("tz"):
                pairs.append(("tz", self.tz))
        else:
            pairs += [(dim, value) for dim, values in self.filters.items() for value in values]
        return urlencode(pairs)


def parse_tz(request: HttpRequest) -> str:
    name = request.GET.get("tz") or unquote(request.COOKIES.get(TZ_COOKIE, "")) or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


# Custom ranges stay within these years: the pages step back a whole range (comparisons) and
# out to bucket edges, which past year 1 or 9999 is an OverflowError, not a page.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)


def _local(raw: str, zone: ZoneInfo, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
        parsed = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
        utc = parsed.astimezone(timezone.utc)
    except ValueError:
        raise BadRange(f"'{name}' must be a date and time like 2026-11-20T09:00") from None
    except OverflowError:
        utc = EARLIEST - timedelta(days=1) if parsed.year < 2000 else LATEST + timedelta(days=1)
    if not EARLIEST <= utc <= LATEST:
        raise BadRange(f"'{name}' must be between {EARLIEST.year} and {LATEST.year}")
    return parsed


def parse_range(params: QueryDict, tz: str, now: datetime | None = None) -> tuple[str, datetime, datetime, timedelta]:
    """(range key, start, end, chart interval). Presets end at the next whole minute, so repeated
    loads within a minute show the same figures."""
    now = now or datetime.now(timezone.utc)
    key = params.get("range") or DEFAULT_RANGE
    if key == "custom":
        zone = ZoneInfo(tz)
        start = _local(params.get("from", ""), zone, "from")
        end = _local(params.get("to", ""), zone, "to")
        if start >= end:
            raise BadRange("the range must start before it ends")
        if end - start > timedelta(days=400):
            raise BadRange("a custom range can cover at most 400 days")
        span = end - start
        step = next((s for s in _CUSTOM_STEPS if span / s <= 120), _CUSTOM_STEPS[-1])
        if step < timedelta(hours=1) and now - start > timedelta(hours=47):
            step = timedelta(hours=1)  # minute buckets are kept 48 h (OBSERVATORY_ROLLUP_MINUTE_HOURS)
        return key, start.astimezone(timezone.utc), end.astimezone(timezone.utc), step
    if key not in RANGES:
        raise BadRange(f"unknown range '{key}'; use one of {', '.join(RANGES)} or custom")
    _, span, step = RANGES[key]
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return key, end - span, end, step


def parse_filters(params: QueryDict) -> dict[str, list[str]]:
    filters = {dim: values for dim in FILTER_DIMENSIONS if (values := [v for v in params.getlist(dim) if v])}
    # The toolbar offers a version as "<prompt>@<version>" (a version belongs to its prompt): filter
    # on both. A plain version (an older link, or the API's style) still filters on the version alone.
    versions = []
    for value in filters.get("prompt_version", []):
        name, at, version = value.rpartition("@")
        if at and name and version:
            if name not in filters.setdefault("prompt_name", []):
                filters["prompt_name"].append(name)
            value = version
        versions.append(value)
    if versions:
        filters["prompt_version"] = versions
    return filters


def role_in(user: Any, project: Project) -> str | None:
    if user.is_superuser:
        return Role.OWNER
    return (Membership.objects.filter(user=user, organization_id=project.organization_id)
            .values_list("role", flat=True).first())


def project_page(manage: bool = False) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: sign-in, membership (404 for strangers), role (403 for changes by viewers
    and members), then `view(request, page, **kwargs)`."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, project_id: int, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            project = Project.objects.select_related("organization").filter(pk=project_id).first()
            role = role_in(request.user, project) if project else None
            if project is None or role is None:
                raise Http404("No such project among yours.")
            if manage and role not in MANAGE_ROLES:
                raise PermissionDenied("Only owners and admins of this organization can change its settings.")
            tz = parse_tz(request)
            try:
                key, start, end, interval = parse_range(request.GET, tz)
            except BadRange as exc:
                key, start, end, interval = parse_range(QueryDict(), tz)
                request.range_error = str(exc)  # type: ignore[attr-defined]
            page = Page(project=project, role=role, start=start, end=end, range_key=key, interval=interval,
                        tz=tz, filters=parse_filters(request.GET), params=request.GET)
            request.page = page  # type: ignore[attr-defined]  # for the toolbar and nav templates
            return view(request, page, **kwargs)

        return wrapper

    return decorate
