"""How API requests prove who they are and which project they reach.

A project key (`Authorization: Bearer obs_...` or `X-API-Key: obs_...`) reaches only its own
project. A signed-in person (browsable API) names a project with `?project=<id>` and must be a
member of its organization.
"""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from tenancy.models import ApiKey, Project
from tenancy.selectors import api_key_by_raw, projects_for_user
from tenancy.services import api_key_touch


class KeyUser:
    """The request.user of a key-authenticated request: a project, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"key {self.api_key.prefix}"


class UnknownKeysThrottled(exceptions.Throttled):
    default_code = "too_many_unknown_keys"


def key_lookup(request: Request, raw_key: str, unknown_message: str) -> ApiKey:
    """The active key for `raw_key`, with unknown keys limited per client address.

    Once an address has sent OBSERVATORY_UNKNOWN_KEY_RATE unknown keys, every key it sends is
    refused with 429 until the window moves on, before the key is even looked up: a guesser learns
    nothing more, and a flood of made-up keys costs one cache read each, not a database query.
    The price is that a good client behind the same address is refused too for that minute; the
    alternative (checking the key first and refusing only unknown ones) would leave the lookup,
    the oracle, open to the guesser. Revoked keys do not count: they are known, their client is
    misconfigured rather than guessing, and it gets its own 401 message."""
    from observatory.security import unknown_key_limit  # not at import: it pulls in drf-spectacular's views

    limit = unknown_key_limit()
    wait = limit.retry_after(request)
    if wait is not None:
        raise UnknownKeysThrottled(wait=wait, detail=(
            f"Too many unknown API keys from your address. Retry in {wait} s, with a valid key."))
    api_key = api_key_by_raw(raw_key)
    if api_key is None:
        limit.record(request)
        raise exceptions.AuthenticationFailed(unknown_message)
    if not api_key.is_active:
        raise exceptions.AuthenticationFailed(f"API key {api_key.prefix}… was revoked. Create a new key.")
    api_key_touch(api_key=api_key)
    return api_key


def _raw_key_from(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
        return None
    return (request.META.get("HTTP_X_API_KEY") or "").strip() or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[KeyUser, ApiKey] | None:
        raw_key = _raw_key_from(request)
        if raw_key is None:
            header = request.META.get("HTTP_AUTHORIZATION", "")
            if header and not header.lower().startswith(("bearer ", "basic ")):
                raise exceptions.AuthenticationFailed(
                    "Unsupported Authorization scheme: send 'Authorization: Bearer <project key>'."
                )
            return None
        api_key = key_lookup(request, raw_key, "Unknown API key. Check the key, or create one for the project.")
        return KeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when no key was sent.
        return 'Bearer realm="observatory"'


def require_scope(scope: str) -> type[permissions.BasePermission]:
    class HasScope(permissions.BasePermission):
        message = f"This endpoint needs a key with the '{scope}' scope."

        def has_permission(self, request: Request, view: Any) -> bool:
            if isinstance(request.auth, ApiKey):
                return request.auth.has_scope(scope)
            # People (session auth) may read, never ingest as a project.
            return scope == "read" and bool(request.user and request.user.is_authenticated)

    HasScope.__name__ = f"HasScope_{scope}"
    return HasScope


def project_for_request(request: Request) -> Project:
    """The one project this request may touch. With a key, `?project=` (meant for signed-in people)
    may only name the key's own project: naming another is a client's mistake to report, not to
    answer with the key's project as if it had been asked for."""
    if isinstance(request.auth, ApiKey):
        raw = request.query_params.get("project")
        if raw is not None and raw != str(request.auth.project_id):
            try:
                int(raw)
            except ValueError:
                raise exceptions.ValidationError({"project": f"'{raw}' is not a project id"}) from None
            raise exceptions.PermissionDenied(
                f"this key reaches project {request.auth.project_id} only; leave `project` out")
        return request.auth.project
    raw = request.query_params.get("project")
    if not raw:
        raise exceptions.ValidationError({"project": "Signed-in requests must name a project: ?project=<id>."})
    try:
        project_id = int(raw)
    except ValueError:
        raise exceptions.ValidationError({"project": f"'{raw}' is not a project id."}) from None
    project = projects_for_user(request.user).filter(pk=project_id).first()
    if project is None:
        raise exceptions.NotFound("No such project, or you are not a member of its organization.")
    return project
