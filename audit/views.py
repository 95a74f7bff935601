"""The audit log page under project settings: owners and admins only (members and viewers 403,
strangers 404, as every settings change), newest first, filtered by action and actor, keyset pages."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from audit.selectors import ACTIONS, AuditFilters, InvalidCursor, audit_page, diff
from dashboards.context import Page, project_page
from dashboards.views.common import render_page

PAGE_SIZE = 50


@project_page(manage=True)
def audit_log(request: HttpRequest, page: Page) -> HttpResponse:
    action = request.GET.get("action", "")[:64]
    actor = request.GET.get("actor", "")[:255]
    filters = AuditFilters(action=action or None, actor=actor or None)
    cursor_error = None
    try:
        rows, next_cursor = audit_page(project=page.project, filters=filters, cursor=request.GET.get("cursor"),
                                       limit=PAGE_SIZE)
    except InvalidCursor as exc:
        cursor_error = f"That page link is not valid ({exc}): showing the newest entries."
        rows, next_cursor = audit_page(project=page.project, filters=filters, limit=PAGE_SIZE)
    context = {
        "entries": [{"e": entry, "diff": diff(entry)} for entry in rows],
        "actions": sorted(set(ACTIONS) | ({action} if action else set())),
        "action": action, "actor": actor, "filtered": bool(action or actor),
        "next_cursor": next_cursor, "first_page": not request.GET.get("cursor"), "cursor_error": cursor_error,
    }
    response = render_page(request, page, "audit/audit_log.html", context, active="settings", title="Audit log",
                           toolbar=False, charts=False)
    add_never_cache_headers(response)  # who changed what: not for shared caches
    return response
