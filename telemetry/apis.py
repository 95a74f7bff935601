"""Read API: GET /api/v1/calls, /api/v1/calls/<id>, /api/v1/traces/<trace_id>."""
from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from observatory.api import ReadRateThrottle
from telemetry.models import Kind, Status
from telemetry.selectors import CallFilters, InvalidCursor, call_detail, call_list, call_list_json, trace_tree
from telemetry.serializers import CallDetailSerializer, CallPageSerializer, TraceSerializer, call_dict
from tenancy.auth import project_for_request, require_scope

_encoder = msgspec.json.Encoder(decimal_format="string")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
PROJECT_PARAM = OpenApiParameter("project", int, description="Project id; only for signed-in users (keys imply it)")


def _time(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00")) if not raw.replace(".", "").isdigit() \
            else datetime.fromtimestamp(float(raw), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise ValidationError({name: f"'{raw}' is not an ISO 8601 time or Unix seconds"}) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _choice(params: dict[str, str], name: str, choices: list[str]) -> str | None:
    value = params.get(name)
    if value is not None and value not in choices:
        raise ValidationError({name: f"'{value}' is not one of {', '.join(choices)}"})
    return value


class _ReadApi(APIView):
    permission_classes = [require_scope("read")]
    throttle_classes = [ReadRateThrottle]


class CallListApi(_ReadApi):
    @extend_schema(
        operation_id="calls_list", summary="List calls, newest first", tags=["read"],
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="start_time >= from (ISO 8601 or Unix s)"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="start_time < to"),
            *[OpenApiParameter(n, str) for n in ("model", "provider", "user_id", "session_id", "feature", "team",
                                                 "environment", "prompt_name", "prompt_version", "trace_id", "tag")],
            OpenApiParameter("status", str, enum=Status.values),
            OpenApiParameter("kind", str, enum=Kind.values),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description=f"1..{MAX_LIMIT}, default {DEFAULT_LIMIT}"),
        ],
        responses=CallPageSerializer,
    )
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        params = request.query_params
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise ValidationError({"limit": "must be an integer"}) from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError({"limit": f"must be between 1 and {MAX_LIMIT}"})
        filters = CallFilters(
            start=_time(params, "from"), end=_time(params, "to"),
            status=_choice(params, "status", Status.values), kind=_choice(params, "kind", Kind.values),
            **{name: params.get(name) for name in ("model", "provider", "user_id", "session_id", "feature", "team",
                                                   "environment", "prompt_name", "prompt_version", "trace_id",
                                                   "tag")},
        )
        cursor = params.get("cursor")
        try:
            if request.accepted_renderer.format == "json":
                # The database renders each call as JSON; Python only joins the page. The browsable
                # API (HTML) goes through call_dict and DRF.
                docs, next_cursor = call_list_json(project_id=project.id, filters=filters, cursor=cursor,
                                                   limit=limit)
                body = '{"data":[' + ",".join(docs) + '],"next_cursor":' + _encoder.encode(next_cursor).decode() + "}"
                return HttpResponse(body.encode(), content_type="application/json")
            rows, next_cursor = call_list(project_id=project.id, filters=filters, cursor=cursor, limit=limit)
        except InvalidCursor as exc:
            raise ValidationError({"cursor": str(exc)}) from None
        return Response({"data": [call_dict(row) for row in rows], "next_cursor": next_cursor})


class CallDetailApi(_ReadApi):
    @extend_schema(operation_id="calls_retrieve", summary="One call with payloads, scores and feedback",
                   tags=["read"], parameters=[PROJECT_PARAM], responses=CallDetailSerializer)
    def get(self, request: Request, call_id: str) -> Response:
        project = project_for_request(request)
        call = call_detail(project_id=project.id, external_id=call_id)
        if call is None:
            raise NotFound(f"No call with id '{call_id}' in this project.")
        return Response(CallDetailSerializer(call).data)


class TraceApi(_ReadApi):
    @extend_schema(operation_id="traces_retrieve", summary="A trace as a tree of spans", tags=["read"],
                   parameters=[PROJECT_PARAM], responses=TraceSerializer)
    def get(self, request: Request, trace_id: str) -> Response:
        project = project_for_request(request)
        tree = trace_tree(project_id=project.id, trace_id=trace_id)
        if tree is None:
            raise NotFound(f"No trace with id '{trace_id}' in this project.")
        return Response(TraceSerializer(tree).data)
