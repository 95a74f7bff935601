"""Reads for tenancy: key lookup and which projects a person may see."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from tenancy.models import ApiKey, Organization, Project, Role
from tenancy.services import hash_key


def api_key_by_raw(raw_key: str) -> ApiKey | None:
    return ApiKey.objects.select_related("project").filter(hashed_key=hash_key(raw_key)).first()


def projects_for_user(user: AbstractBaseUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.select_related("organization").all()
    return Project.objects.select_related("organization").filter(organization__memberships__user=user)


def organizations_creating_projects(user: AbstractBaseUser) -> QuerySet[Organization]:
    """The organizations where `user` may create projects: owners and admins (superusers: all)."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all().order_by("name")
    return Organization.objects.filter(memberships__user=user, memberships__role__in=[Role.OWNER, Role.ADMIN]
                                       ).distinct().order_by("name")
