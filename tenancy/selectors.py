"""Reads for tenancy: key lookup and which projects a person may see."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from tenancy.models import ApiKey, Project
from tenancy.services import hash_key


def api_key_by_raw(raw_key: str) -> ApiKey | None:
    return ApiKey.objects.select_related("project").filter(hashed_key=hash_key(raw_key)).first()


def projects_for_user(user: AbstractBaseUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.select_related("organization").all()
    return Project.objects.select_related("organization").filter(organization__memberships__user=user)
