"""GET /api/v1/audit: a project's audit entries, newest first, with cursor pagination. A key with
the read scope reaches its project's log; a signed-in person must be an owner or admin of the
project's organization (?project=<id>), like the settings pages."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import ActorKind
from audit.selectors import ACTIONS, AuditFilters, InvalidCursor, audit_page, entry_dict
from observatory.api import ReadRateThrottle
from observatory.openapi import AUTH, error_headers, errors
from tenancy.auth import project_for_request
from tenancy.models import ApiKey

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class _ReadKeyOrPerson(permissions.BasePermission):
    message = "This endpoint needs a key with the 'read' scope, or a signed-in owner or admin."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope("read")
        return bool(request.user and request.user.is_authenticated)


def require_manager(request: Request, project: Any) -> None:
    """A signed-in person must manage the organization (keys already passed their scope check)."""
    from dashboards.context import MANAGE_ROLES, role_in

    if not isinstance(request.auth, ApiKey) and role_in(request.user, project) not in MANAGE_ROLES:
        raise PermissionDenied("Only owners and admins of this organization can do this.")


class _ActorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(ActorKind.values)
    label = serializers.CharField(help_text='A username (as it was then), "key obs_…" or "system:<action>"')
    user_id = serializers.IntegerField(allow_null=True)
    api_key_id = serializers.IntegerField(allow_null=True)


class _TargetSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    label = serializers.CharField()


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    organization_id = serializers.IntegerField()
    project_id = serializers.IntegerField(allow_null=True, help_text="Null for organization-wide changes")
    actor = _ActorSerializer()
    action = serializers.CharField(help_text=f"e.g. {', '.join(ACTIONS[:6])}, …")
    target = _TargetSerializer()
    before = serializers.JSONField(allow_null=True, help_text="The fields the change touched, before")
    after = serializers.JSONField(allow_null=True, help_text="The same fields after (secrets masked)")


class AuditPageSerializer(serializers.Serializer):
    data = AuditEntrySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


def _limit(raw: str | None) -> int:
    try:
        limit = int(raw) if raw not in (None, "") else DEFAULT_LIMIT
    except ValueError:
        raise ValidationError({"limit": "must be an integer"}) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": f"must be between 1 and {MAX_LIMIT}"})
    return limit


class AuditListApi(APIView):
    permission_classes = [_ReadKeyOrPerson]
    throttle_classes = [ReadRateThrottle]

    @extend_schema(
        operation_id="audit_list", summary="The project's audit log, newest first", tags=["audit"],
        parameters=[
            OpenApiParameter("project", int, description="Project id; only for signed-in users (keys imply it)"),
            OpenApiParameter("action", str, description="Only this action, e.g. api_key.revoked"),
            OpenApiParameter("actor", str, description="Only this actor label, e.g. a username"),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                       "default": DEFAULT_LIMIT}, description=f"1..{MAX_LIMIT}"),
            *error_headers((400, 404, *AUTH)),
        ],
        responses={200: AuditPageSerializer, **errors(400, 404, *AUTH, described={
            403: "The key lacks the read scope, or the signed-in person is not an owner or admin",
            404: "No such project among the signed-in person's"})},
    )
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        require_manager(request, project)
        params = request.query_params
        limit = _limit(params.get("limit"))
        filters = AuditFilters(action=params.get("action") or None, actor=params.get("actor") or None)
        try:
            rows, next_cursor = audit_page(project=project, filters=filters, cursor=params.get("cursor") or None,
                                           limit=limit)
        except InvalidCursor as exc:
            raise ValidationError({"cursor": str(exc)}) from None
        return Response({"data": [entry_dict(row) for row in rows], "next_cursor": next_cursor})
