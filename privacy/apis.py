"""End users' data over the API: GET /api/v1/end-users/<user_id>/export (a JSON document, streamed),
DELETE /api/v1/end-users/<user_id> (202: erased by a worker; follow the status URL) and
GET /api/v1/erasures/<id> (the request's status and rows removed per table).

Who: a key of the project (read scope to export, ingest scope to erase: the key that writes a
user's data may remove it), or a signed-in owner or admin of its organization (?project=<id>)."""
from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.apis import require_manager
from observatory.api import KeyRateThrottle, ReadRateThrottle, error_response
from observatory.openapi import AUTH, error_headers, errors
from privacy.models import Erasure, ErasureStatus
from privacy.services import end_user_export, erasure_request
from tenancy.auth import project_for_request
from tenancy.models import ApiKey

PROJECT_PARAM = OpenApiParameter("project", int, description="Project id; only for signed-in users (keys imply it)")


def _scope(scope: str) -> type[permissions.BasePermission]:
    class KeyScopeOrPerson(permissions.BasePermission):
        message = f"This endpoint needs a key with the '{scope}' scope, or a signed-in owner or admin."

        def has_permission(self, request: Request, view: Any) -> bool:
            if isinstance(request.auth, ApiKey):
                return request.auth.has_scope(scope)
            return bool(request.user and request.user.is_authenticated)

    return KeyScopeOrPerson


def _errors(**described: str) -> dict[Any, Any]:
    texts = {400: "A bad parameter, such as ?project= missing for a signed-in request",
             403: "The key lacks the scope, or the signed-in person is not an owner or admin",
             404: "No such project among the signed-in person's",
             503: "The database or the task queue is unreachable; see Retry-After"}
    texts.update({int(name[1:]): text for name, text in described.items()})
    return errors(400, 404, *AUTH, described=texts)


HEADERS = error_headers((400, 404, *AUTH))


class ErasureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(ErasureStatus.values)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    rows_removed = serializers.DictField(child=serializers.IntegerField(), help_text="Per table, so far")
    error = serializers.CharField(allow_blank=True)
    status_url = serializers.CharField()


def erasure_dict(erasure: Erasure, project_id: int | None = None) -> dict[str, Any]:
    url = reverse("erasure-status", args=[erasure.pk])
    return {"id": erasure.pk, "status": erasure.status, "created_at": erasure.created_at,
            "finished_at": erasure.finished_at, "rows_removed": erasure.counts or {}, "error": erasure.error,
            "status_url": url + (f"?project={project_id}" if project_id else "")}


class EndUserExportApi(APIView):
    permission_classes = [_scope("read")]
    throttle_classes = [ReadRateThrottle]

    @extend_schema(operation_id="end_users_export", tags=["end users"], parameters=[PROJECT_PARAM, *HEADERS],
                   summary="Everything about one end user: their calls with payloads, scores and feedback",
                   responses={(200, "application/json"): OpenApiTypes.OBJECT, **_errors()})
    def get(self, request: Request, user_id: str) -> Any:
        project = project_for_request(request)
        require_manager(request, project)
        response = StreamingHttpResponse(end_user_export(project=project, user_id=user_id),
                                         content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="end-user-export-project-{project.id}.json"'
        response["Cache-Control"] = "private, no-store"
        return response


class EndUserEraseApi(APIView):
    permission_classes = [_scope("ingest")]
    throttle_classes = [KeyRateThrottle]

    @extend_schema(operation_id="end_users_erase", tags=["end users"], parameters=[PROJECT_PARAM, *HEADERS],
                   summary="Erase everything about one end user (in a worker; follow status_url)",
                   request=None, responses={202: ErasureSerializer, **_errors()})
    def delete(self, request: Request, user_id: str) -> Response:
        project = project_for_request(request)
        require_manager(request, project)
        actor = request.auth if isinstance(request.auth, ApiKey) else request.user
        erasure = erasure_request(project=project, user_id=user_id, actor=actor)
        erasure.refresh_from_db()
        if erasure.status == ErasureStatus.FAILED:  # the task could not be queued: nothing was erased
            return error_response(503, "queue_unavailable", erasure.error, headers={"Retry-After": "30"})
        body = erasure_dict(erasure, None if isinstance(request.auth, ApiKey) else project.id)
        return Response(body, status=202, headers={"Location": body["status_url"]})


class ErasureStatusApi(APIView):
    permission_classes = [_scope("ingest")]
    throttle_classes = [ReadRateThrottle]

    @extend_schema(operation_id="erasures_retrieve", tags=["end users"], parameters=[PROJECT_PARAM, *HEADERS],
                   summary="An erasure request's status and rows removed per table",
                   responses={200: ErasureSerializer, **_errors(e404="No such erasure in this project")})
    def get(self, request: Request, erasure_id: int) -> Response:
        project = project_for_request(request)
        require_manager(request, project)
        erasure = Erasure.objects.filter(pk=erasure_id, project=project).first()
        if erasure is None:
            raise NotFound("No such erasure in this project.")
        return Response(erasure_dict(erasure, None if isinstance(request.auth, ApiKey) else project.id))
