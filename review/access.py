"""Who may do what, for pages and the API: viewers read, members review, admins and owners create
queues, rules and datasets. API keys (a project, not a person) read with the `read` scope; every
write is a person's, so it needs a signed-in member of the organization."""
from __future__ import annotations

from typing import Any

from tenancy.models import Membership, Project, Role

REVIEW_ROLES = {Role.OWNER, Role.ADMIN, Role.MEMBER}
MANAGE_ROLES = {Role.OWNER, Role.ADMIN}


def role_of(user: Any, project: Project) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    if user.is_superuser:
        return Role.OWNER
    return (Membership.objects.filter(user=user, organization_id=project.organization_id)
            .values_list("role", flat=True).first())


def can_review(role: str | None) -> bool:
    return role in REVIEW_ROLES


def can_manage(role: str | None) -> bool:
    return role in MANAGE_ROLES
