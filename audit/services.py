"""Write audit entries: `audit_record`, called by every service that changes configuration, inside
the transaction of the change (a change rolled back leaves no entry; an entry never describes a
change that did not happen)."""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models.options import Options
from django.utils import timezone

from audit.models import ActorKind, AuditEntry

SYSTEM = "system"  # the actor of management commands and automatic actions without a better name
MASK = "••••••"
# Keys whose values are never stored, whatever the caller passes (an API key's hash, a password...).
_SECRET_KEY = re.compile(r"(^|_)(hash|hashed_key|raw_key|secret|password|passwd|token|authorization|api_key)$",
                         re.IGNORECASE)
# A project key anywhere in a string (tenancy.services.KEY_PREFIX + 40 url-safe characters).
_RAW_KEY = re.compile(r"obs_[A-Za-z0-9_-]{20,}")
_URL_SECRET_PARAM = re.compile(r"([?&](?:key|api_key|apikey|token|access_token|secret|password)=)[^&#]*",
                               re.IGNORECASE)


class NotInTransaction(RuntimeError):
    """audit_record outside a transaction: the entry could outlive a change that failed, or miss one."""


def _actor_fields(actor: Any) -> dict[str, Any]:
    """A user, an ApiKey, a key-authenticated request's user (tenancy.auth.KeyUser), or a string:
    "system" or "system:<action>" for automatic actions (None means "system")."""
    from tenancy.models import ApiKey

    if actor is None or isinstance(actor, str):
        label = actor or SYSTEM
        if label != SYSTEM and not label.startswith(f"{SYSTEM}:"):
            label = f"{SYSTEM}:{label}"
        return {"actor_kind": ActorKind.SYSTEM, "actor_label": label[:255]}
    api_key = getattr(actor, "api_key", None) if not isinstance(actor, ApiKey) else actor
    if isinstance(api_key, ApiKey):
        return {"actor_kind": ActorKind.API_KEY, "actor_api_key_id": api_key.pk,
                "actor_label": f"key {api_key.prefix}… ({api_key.name or 'unnamed'})"[:255]}
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) is not None:
        return {"actor_kind": ActorKind.USER, "actor_user_id": actor.pk, "actor_label": actor.get_username()[:255]}
    return {"actor_kind": ActorKind.SYSTEM, "actor_label": SYSTEM}


def mask_url(url: str) -> str:
    """A URL without the credentials it may carry (user:password@, ?key=...)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    return _URL_SECRET_PARAM.sub(lambda m: m.group(1) + MASK, urlunsplit(parts._replace(netloc=netloc)))


def scrub(value: Any) -> Any:
    """`value` as JSON-safe data with secrets masked: values under secret-looking keys, project
    keys inside any string, credentials inside URLs."""
    if isinstance(value, dict):
        return {str(k): (MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else scrub(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [scrub(v) for v in items]
    if isinstance(value, str):
        value = _RAW_KEY.sub(MASK, value)
        return mask_url(value) if "://" in value else value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(getattr(value, "_meta", None), Options):  # a model instance: its label and id
        return f"{value} (#{value.pk})"
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))  # Decimal, dates, UUIDs: as strings


def audit_record(*, actor: Any, action: str, organization: Any, project: Any = None, target_type: str = "",
                 target_id: Any = "", target_label: str = "", before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry. Call it inside the transaction that makes the change (transaction.atomic),
    after the change succeeded. `organization` and `project` are instances or ids; `before` and
    `after` hold the fields the change touched (None for a creation or a deletion)."""
    if not connection.in_atomic_block:
        raise NotInTransaction(f"audit_record({action!r}) must run inside the transaction of the change")
    org_id = getattr(organization, "pk", organization)
    project_id = getattr(project, "pk", project)
    if org_id is None and project is not None:
        org_id = getattr(project, "organization_id", None)
    return AuditEntry.objects.create(
        at=timezone.now(), organization_id=org_id, project_id=project_id, action=action[:64],
        target_type=target_type[:64], target_id=str(target_id)[:64], target_label=str(target_label)[:255],
        before=scrub(before) if before is not None else None, after=scrub(after) if after is not None else None,
        **_actor_fields(actor))


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, from each side (JSON-compared, so 1 and 1.0 are equal)."""
    keys = [k for k in dict.fromkeys([*before, *after]) if scrub(before.get(k)) != scrub(after.get(k))]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
