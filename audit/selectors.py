"""Read the audit log: a project's entries (and its organization's, such as members and roles),
newest first, with keyset pagination on (at, id)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from audit.models import AuditEntry

# The actions the services record (docs/audit.md); the page offers them as a filter. Others may
# appear (apps added later record their own); the filter accepts any name.
ACTIONS = [
    "organization.created", "project.created", "project.settings_changed",
    "api_key.created", "api_key.revoked", "api_key.renamed",
    "membership.added", "membership.role_changed", "membership.removed",
    "retention.changed", "price.override_set", "price.override_deleted", "price.changed",
    "evaluator.changed", "judge.created", "judge.changed", "judge.deleted",
    "end_user.erased",
]


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None
    actor: str | None = None  # the actor label as shown (a username, "key obs_…", "system:…")
    start: datetime | None = None
    end: datetime | None = None


def encode_cursor(entry: AuditEntry) -> str:
    return base64.urlsafe_b64encode(f"{entry.at.isoformat()}|{entry.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, entry_id = raw.partition("|")
        return datetime.fromisoformat(at), int(entry_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor("not a cursor returned by this API; start again without one") from None


def entries_for_project(*, project: Any, filters: AuditFilters | None = None) -> QuerySet[AuditEntry]:
    """Entries about this project, and those about its organization as a whole (no project)."""
    filters = filters or AuditFilters()
    qs = AuditEntry.objects.filter(Q(project_id=project.id)
                                   | Q(project__isnull=True, organization_id=project.organization_id))
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor:
        qs = qs.filter(actor_label=filters.actor)
    if filters.start:
        qs = qs.filter(at__gte=filters.start)
    if filters.end:
        qs = qs.filter(at__lt=filters.end)
    return qs.order_by("-at", "-id")


def audit_page(*, project: Any, filters: AuditFilters | None = None, cursor: str | None = None,
               limit: int = 50) -> tuple[list[AuditEntry], str | None]:
    """(entries, next cursor or None), newest first."""
    qs = entries_for_project(project=project, filters=filters)
    if cursor:
        at, entry_id = _decode_cursor(cursor)
        qs = qs.filter(Q(at__lt=at) | Q(at=at, id__lt=entry_id))
    rows = list(qs[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


def diff(entry: AuditEntry) -> list[dict[str, Any]]:
    """The entry's fields as rows {field, before, after, changed} for display (values untouched:
    templates escape them)."""
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    rows = []
    for name in dict.fromkeys([*before, *after]):
        rows.append({"field": name, "before": before.get(name), "after": after.get(name),
                     "had_before": name in before, "has_after": name in after,
                     "changed": before.get(name) != after.get(name)})
    return rows


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "at": entry.at.isoformat(), "organization_id": entry.organization_id,
        "project_id": entry.project_id,
        "actor": {"kind": entry.actor_kind, "label": entry.actor_label, "user_id": entry.actor_user_id,
                  "api_key_id": entry.actor_api_key_id},
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id, "label": entry.target_label},
        "before": entry.before, "after": entry.after,
    }
