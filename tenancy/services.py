"""Writes for tenancy: organizations, projects, members and API keys."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from tenancy.models import ApiKey, Membership, Organization, Project, Role, Scope

KEY_PREFIX = "obs_"
# last_used_at is a hint for people, not an audit log: write it at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(raw_key: str) -> str:
    # Keys are 240 random bits, so a fast hash is safe; a slow KDF would cost every request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def organization_create(*, name: str, owner: AbstractBaseUser | None = None, slug: str | None = None) -> Organization:
    with transaction.atomic():
        org = Organization.objects.create(name=name, slug=slug or slugify(name)[:100] or "org")
        if owner is not None:
            Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    return org


def membership_set(*, organization: Organization, user: AbstractBaseUser, role: str) -> Membership:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


def project_create(*, organization: Organization, name: str, slug: str | None = None) -> Project:
    return Project.objects.create(organization=organization, name=name, slug=slug or slugify(name)[:100] or "project")


def api_key_create(
    *, project: Project, scopes: list[str], name: str = "", created_by: AbstractBaseUser | None = None
) -> IssuedKey:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(Scope.values)}; got {scopes!r}")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(30)
    api_key = ApiKey.objects.create(
        project=project,
        name=name,
        prefix=raw_key[:12],
        hashed_key=hash_key(raw_key),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, throttled to one write per key per LAST_USED_RESOLUTION."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
