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
        api_key = api_key_by_raw(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown API key. Check the key, or create one for the project.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed(f"API key {api_key.prefix}… was revoked. Create a new key.")
        api_key_touch(api_key=api_key)
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
    """The one project this request may touch."""
    if isinstance(request.auth, ApiKey):
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
