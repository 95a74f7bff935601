"""Writes for tenancy: organizations, projects, members and API keys."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import SYSTEM, audit_record, changed
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


# Every write below records an audit entry (audit.services.audit_record) in its own transaction.
# `actor` is the person (or API key) making the change; management commands and automatic
# actions leave the default, SYSTEM, or name themselves ("system:<command>").


def organization_create(*, name: str, owner: AbstractBaseUser | None = None, slug: str | None = None,
                        actor: Any = None) -> Organization:
    with transaction.atomic():
        org = Organization.objects.create(name=name, slug=slug or slugify(name)[:100] or "org")
        if owner is not None:
            Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
        audit_record(actor=actor or owner or SYSTEM, action="organization.created", organization=org,
                     target_type="organization", target_id=org.pk, target_label=org.name,
                     after={"name": org.name, "slug": org.slug,
                            "owner": owner.get_username() if owner is not None else None})
    return org


def membership_set(*, organization: Organization, user: AbstractBaseUser, role: str,
                   actor: Any = SYSTEM) -> Membership:
    """Give `user` this role, adding them if needed (commands, fixtures; no role rules applied)."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    with transaction.atomic():
        previous = (Membership.objects.select_for_update().filter(organization=organization, user=user)
                    .values_list("role", flat=True).first())
        membership, _ = Membership.objects.update_or_create(
            organization=organization, user=user, defaults={"role": role}
        )
        if previous != role:
            audit_record(actor=actor, action="membership.added" if previous is None else "membership.role_changed",
                         organization=organization, target_type="membership", target_id=membership.pk,
                         target_label=user.get_username(), before=None if previous is None else {"role": previous},
                         after={"role": role} if previous is not None else {"user": user.get_username(),
                                                                             "role": role})
    return membership


def _free_slug(organization: Organization, name: str) -> str:
    """The name's slug, numbered (support-bot-2) when the organization already has it."""
    base = slugify(name)[:90] or "project"
    taken = set(Project.objects.filter(organization=organization, slug__startswith=base)
                .values_list("slug", flat=True))
    return next(slug for n in range(1, len(taken) + 2) if (slug := base if n == 1 else f"{base}-{n}") not in taken)


def project_create(*, organization: Organization, name: str, slug: str | None = None,
                   actor: Any = SYSTEM) -> Project:
    with transaction.atomic():
        project = Project.objects.create(organization=organization, name=name,
                                         slug=slug or _free_slug(organization, name))
        audit_record(actor=actor, action="project.created", organization=organization, project=project,
                     target_type="project", target_id=project.pk, target_label=project.name,
                     after={"name": project.name, "slug": project.slug})
    return project


def project_settings_update(*, project: Project, actor: Any = SYSTEM, **values: Any) -> Project:
    """Change a project's own fields (name, slug), only those given."""
    with transaction.atomic():
        stored = Project.objects.select_for_update().get(pk=project.pk)
        before = {name: getattr(stored, name) for name in values}
        for name, value in values.items():
            setattr(project, name, value)
        project.save(update_fields=list(values))
        old, new = changed(before, values)
        if new:
            audit_record(actor=actor, action="project.settings_changed", organization=project.organization_id,
                         project=project, target_type="project", target_id=project.pk, target_label=project.name,
                         before=old, after=new)
    return project


def _key_label(api_key: ApiKey) -> str:
    return f"{api_key.prefix}… ({api_key.name or 'unnamed'})"


def api_key_create(
    *, project: Project, scopes: list[str], name: str = "", created_by: AbstractBaseUser | None = None,
    actor: Any = None,
) -> IssuedKey:
    """`actor` defaults to `created_by`, else SYSTEM. Neither the raw key nor its hash is audited."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(Scope.values)}; got {scopes!r}")
    raw_key = KEY_PREFIX + secrets.token_urlsafe(30)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            project=project,
            name=name,
            prefix=raw_key[:12],
            hashed_key=hash_key(raw_key),
            scopes=sorted(set(scopes)),
            created_by=created_by,
        )
        audit_record(actor=actor or created_by or SYSTEM, action="api_key.created",
                     organization=project.organization_id, project=project, target_type="api_key",
                     target_id=api_key.pk, target_label=_key_label(api_key),
                     after={"name": api_key.name, "prefix": api_key.prefix, "scopes": api_key.scopes})
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey, actor: Any = SYSTEM) -> ApiKey:
    with transaction.atomic():
        # Locked and re-read: two revocations at once record one entry.
        fresh = ApiKey.objects.select_for_update().select_related("project").get(pk=api_key.pk)
        if fresh.revoked_at is None:
            fresh.revoked_at = timezone.now()
            fresh.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="api_key.revoked", organization=fresh.project.organization_id,
                         project=fresh.project_id, target_type="api_key", target_id=fresh.pk,
                         target_label=_key_label(fresh), before={"revoked_at": None},
                         after={"revoked_at": fresh.revoked_at})
        api_key.revoked_at = fresh.revoked_at
    return api_key


def api_key_rename(*, api_key: ApiKey, name: str, actor: Any = SYSTEM) -> ApiKey:
    with transaction.atomic():
        before = ApiKey.objects.select_for_update().filter(pk=api_key.pk).values_list("name", flat=True).get()
        api_key.name = name
        api_key.save(update_fields=["name"])
        if before != name:
            audit_record(actor=actor, action="api_key.renamed", organization=api_key.project.organization_id,
                         project=api_key.project_id, target_type="api_key", target_id=api_key.pk,
                         target_label=_key_label(api_key), before={"name": before}, after={"name": name})
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, throttled to one write per key per LAST_USED_RESOLUTION."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


# --- Members: the role rules of the settings page ------------------------------------------------
# Owners and admins manage members; only owners grant or take away the owner role; an organization
# always keeps an owner; nobody changes their own role or removes themselves (no accidental lock-out).


class MembershipError(ValueError):
    """A membership change the rules refuse; the message says why, for the page."""


class MembershipForbidden(MembershipError):
    """Refused because of who is asking (an admin touching the owner role), not what was asked."""


@dataclass(frozen=True)
class MemberAdded:
    membership: Membership
    created_user: bool  # a new account, with no password yet
    needs_password: bool  # the person has never set a password: send them a set-password email


def _actor_role(actor: AbstractBaseUser, organization: Organization) -> str | None:
    if actor.is_superuser:  # as dashboards.context.role_in: superusers act as owners everywhere
        return Role.OWNER
    return Membership.objects.filter(user=actor, organization=organization).values_list("role", flat=True).first()


def _require_manager(actor: AbstractBaseUser, organization: Organization) -> str:
    role = _actor_role(actor, organization)
    if role not in (Role.OWNER, Role.ADMIN):
        raise MembershipForbidden("Only owners and admins can manage members.")
    return role


def _lock(membership: Membership) -> tuple[Membership, int]:
    """The membership, fresh, and how many owners its organization has, all rows locked until
    commit: two owners demoting each other at the same moment must not leave the organization
    without one. Owners are locked first, in id order, so concurrent changes cannot deadlock."""
    owners = list(Membership.objects.select_for_update()
                  .filter(organization_id=membership.organization_id, role=Role.OWNER)
                  .order_by("pk").values_list("pk", flat=True))
    fresh = Membership.objects.select_for_update(of=("self",)).select_related("user").get(pk=membership.pk)
    return fresh, len(owners)


def user_find_or_invite(*, identifier: str) -> tuple[AbstractBaseUser, bool]:
    """(user, created): the account with this username or email, or a new account for an email.
    New accounts get an unusable password; the caller sends the set-password email."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    user_model = get_user_model()
    identifier = identifier.strip()
    found = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: identifier}).first()
    if found is not None:
        return found, False
    by_email = list(user_model._default_manager.filter(email__iexact=identifier)[:2])
    if len(by_email) > 1:
        raise MembershipError(f"Several accounts use {identifier}; give the username instead.")
    if by_email:
        return by_email[0], False
    try:
        validate_email(identifier)
    except ValidationError:
        raise MembershipError(f"No account is called {identifier!r}. To invite someone new, give their "
                              "email address.") from None
    email = user_model._default_manager.normalize_email(identifier)
    # The email is the username: the set-password email names it and people remember it.
    username, n = email.lower(), 1
    while user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__iexact": username}).exists():
        n += 1
        username = f"{email.lower()}-{n}"
    user = user_model._default_manager.create_user(username, email, None)  # None: unusable password
    return user, True


def membership_add(*, organization: Organization, identifier: str, role: str,
                   actor: AbstractBaseUser) -> MemberAdded:
    if role not in Role.values:
        raise MembershipError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    with transaction.atomic():
        actor_role = _require_manager(actor, organization)
        if role == Role.OWNER and actor_role != Role.OWNER:
            raise MembershipForbidden("Only owners can make someone an owner.")
        user, created = user_find_or_invite(identifier=identifier)
        existing = Membership.objects.filter(organization=organization, user=user).select_related("user").first()
        if existing is not None:
            raise MembershipError(f"{user.get_username()} is already a member ({existing.get_role_display()}); "
                                  "change their role in the list.")
        try:
            with transaction.atomic():
                membership = Membership.objects.create(organization=organization, user=user, role=role)
        except IntegrityError:  # added by someone else a moment ago
            raise MembershipError(f"{user.get_username()} is already a member.") from None
        audit_record(actor=actor, action="membership.added", organization=organization, target_type="membership",
                     target_id=membership.pk, target_label=user.get_username(),
                     after={"user": user.get_username(), "role": role, "new_account": created})
    return MemberAdded(membership=membership, created_user=created, needs_password=not user.has_usable_password())


def membership_role_change(*, membership: Membership, role: str, actor: AbstractBaseUser) -> Membership:
    if role not in Role.values:
        raise MembershipError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    with transaction.atomic():
        actor_role = _require_manager(actor, membership.organization)
        if membership.user_id == actor.pk:
            raise MembershipError("You cannot change your own role; ask another owner.")
        membership, owners = _lock(membership)
        if role == membership.role:
            return membership
        if Role.OWNER in (role, membership.role) and actor_role != Role.OWNER:
            raise MembershipForbidden("Only owners can grant or take away the owner role.")
        if membership.role == Role.OWNER and owners <= 1:
            raise MembershipError("The last owner cannot be demoted; make someone else an owner first.")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(actor=actor, action="membership.role_changed", organization=membership.organization_id,
                     target_type="membership", target_id=membership.pk, target_label=membership.user.get_username(),
                     before={"role": before}, after={"role": role})
    return membership


def membership_remove(*, membership: Membership, actor: AbstractBaseUser) -> None:
    with transaction.atomic():
        actor_role = _require_manager(actor, membership.organization)
        if membership.user_id == actor.pk:
            raise MembershipError("You cannot remove yourself; ask another owner or admin.")
        membership, owners = _lock(membership)
        if membership.role == Role.OWNER:
            if actor_role != Role.OWNER:
                raise MembershipForbidden("Only owners can remove an owner.")
            if owners <= 1:
                raise MembershipError("The last owner cannot be removed; make someone else an owner first.")
        audit_record(actor=actor, action="membership.removed", organization=membership.organization_id,
                     target_type="membership", target_id=membership.pk, target_label=membership.user.get_username(),
                     before={"user": membership.user.get_username(), "role": membership.role})
        membership.delete()


def project_retention_update(*, project: Project, payload_days: int | None, call_days: int | None,
                             hour_rollup_days: int | None, day_rollup_days: int | None,
                             actor: Any = SYSTEM) -> Project:
    """None means the installation default (settings.RETENTION_DEFAULTS). The next purge applies it."""
    values = {"payload_days": payload_days, "call_days": call_days, "hour_rollup_days": hour_rollup_days,
              "day_rollup_days": day_rollup_days}
    with transaction.atomic():
        # Re-read under a lock: the entry's "before" is what this change replaced, not a stale copy.
        current = Project.objects.select_for_update().get(pk=project.pk)
        before = {name: getattr(current, f"retention_{name}") for name in values}
        for name, value in values.items():
            setattr(project, f"retention_{name}", value)
        # Only these columns: a concurrent rename in the admin must not be overwritten.
        project.save(update_fields=["retention_payload_days", "retention_call_days", "retention_hour_rollup_days",
                                    "retention_day_rollup_days"])
        old, new = changed(before, values)
        if new:
            audit_record(actor=actor, action="retention.changed", organization=project.organization_id,
                         project=project, target_type="project", target_id=project.pk, target_label=project.name,
                         before=old, after=new)
    return project
