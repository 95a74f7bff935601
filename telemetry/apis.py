"""Read API: GET /api/v1/calls, /api/v1/calls/<id>, /api/v1/traces/<trace_id>; and the clients'
corrections: PATCH and DELETE /api/v1/scores/<id> and /api/v1/feedback/<id>."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.body import BodyError, read_body
from observatory.api import KeyRateThrottle, ReadRateThrottle, error_response
from observatory.openapi import ClosedSerializer, errors
from telemetry import edits
from telemetry.models import Kind, Status
from telemetry.selectors import CallFilters, InvalidCursor, call_detail, call_list, call_list_json, trace_tree
from telemetry.serializers import (
    CallDetailSerializer,
    CallPageSerializer,
    FeedbackSerializer,
    ScoreSerializer,
    TraceSerializer,
    call_dict,
)
from tenancy.auth import project_for_request, require_scope
from tenancy.models import Project

_encoder = msgspec.json.Encoder(decimal_format="string")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
PROJECT_PARAM = OpenApiParameter("project", int, description="Project id; for signed-in people (a key implies its "
                                                              "project; the read APIs refuse another id with a key)")
# Read endpoints answer 400 for a bad parameter (or a signed-in request without ?project=) and 404
# for a project the signed-in person cannot see, besides what every key-authenticated call can get
# (401, 403, 429, 503: added to each operation by observatory.openapi.AutoSchema).
READ_ERRORS = (400, 404)
TIME_DESCRIPTION = ("ISO 8601 (an offset is read as that instant; one no time zone has, past ±14:00, is a 400) "
                    "or Unix seconds; empty means not given")
# What _time() accepts. Within it, a time outside the years 1-9999 once in UTC is still a 400.
TIME_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"},
                         {"type": "number", "minimum": 0, "maximum": 253402300799},
                         {"type": "string", "maxLength": 0}]}


def _time(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00")) if not raw.replace(".", "").isdigit() \
            else datetime.fromtimestamp(float(raw), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise ValidationError({name: f"'{raw}' is not an ISO 8601 time or Unix seconds"}) from None
    return utc_time(value, name)


MAX_UTC_OFFSET = timedelta(hours=14)  # the farthest any time zone is from UTC (Kiribati, UTC+14)


def utc_time(value: datetime, name: str) -> datetime:
    """`value` in UTC (naive means UTC). PostgreSQL refuses offsets past ±15:59, which Python
    accepts (up to ±23:59): an offset no zone has, or a time UTC cannot hold, is a 400 here."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValidationError({name: f"offset {value:%z} is not one of a time zone: use -12:00 to +14:00, or Z"})
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError({name: f"'{value.isoformat()}' is outside the years 1 to 9999 in UTC"}) from None


def read_project(request: Request) -> Project:
    """The project a read reaches (tenancy.auth.project_for_request refuses a key's `?project=`
    naming another project, for every API)."""
    return project_for_request(request)


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
            OpenApiParameter("from", TIME_SCHEMA, description="start_time >= from; " + TIME_DESCRIPTION),
            OpenApiParameter("to", TIME_SCHEMA, description="start_time < to; " + TIME_DESCRIPTION),
            *[OpenApiParameter(n, str) for n in ("model", "provider", "user_id", "session_id", "feature", "team",
                                                 "environment", "prompt_name", "prompt_version", "trace_id", "tag")],
            OpenApiParameter("status", str, enum=Status.values),
            OpenApiParameter("kind", str, enum=Kind.values),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                       "default": DEFAULT_LIMIT}, description=f"1..{MAX_LIMIT}"),
        ],
        responses={200: CallPageSerializer, **errors(*READ_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        project = read_project(request)
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
                   tags=["read"], parameters=[PROJECT_PARAM],
                   responses={200: CallDetailSerializer, **errors(*READ_ERRORS, described={
                       404: "No call with this id in the project"})})
    def get(self, request: Request, call_id: str) -> Response:
        project = read_project(request)
        call = call_detail(project_id=project.id, external_id=call_id)
        if call is None:
            raise NotFound(f"No call with id '{call_id}' in this project.")
        return Response(CallDetailSerializer(call).data)


class TraceApi(_ReadApi):
    @extend_schema(operation_id="traces_retrieve", summary="A trace as a tree of spans", tags=["read"],
                   parameters=[PROJECT_PARAM],
                   responses={200: TraceSerializer, **errors(*READ_ERRORS, described={
                       404: "No span with this trace id in the project"})})
    def get(self, request: Request, trace_id: str) -> Response:
        project = read_project(request)
        tree = trace_tree(project_id=project.id, trace_id=trace_id)
        if tree is None:
            raise NotFound(f"No trace with id '{trace_id}' in this project.")
        return Response(TraceSerializer(tree).data)


class ReadOnlyScore(APIException):
    status_code = 409
    default_code = "read_only"


def _refusal(exc: edits.EditError) -> APIException:
    if isinstance(exc, edits.NotFound):
        return NotFound(str(exc))
    if isinstance(exc, edits.ReadOnly):
        return ReadOnlyScore(str(exc))
    return ValidationError({exc.field or "body": str(exc)})


class ScorePatchSerializer(ClosedSerializer):
    value = serializers.FloatField(required=False, allow_null=True, min_value=-1e12, max_value=1e12)
    label = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=100)
    comment = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    metadata = serializers.DictField(required=False, allow_null=True, help_text="Replaces the stored metadata")


class FeedbackPatchSerializer(ClosedSerializer):
    thumbs = serializers.ChoiceField(["up", "down"], required=False, allow_null=True)
    rating = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    comment = serializers.CharField(required=False, allow_null=True, allow_blank=True)


# PATCH reads a body (400, 413, 415 for a Content-Encoding other than gzip); both find the id (404).
_PATCH_ERRORS = errors(400, 403, 404, 413, 415, described={
    400: "Invalid body (`details` names the field), or the change would leave a score without value and label, "
         "feedback without thumbs and rating",
    403: "The key lacks the ingest scope (signed-in people cannot edit through the API)",
    404: "No such id in this project"})
_DELETE_ERRORS = errors(403, 404, described={403: _PATCH_ERRORS[403].description, 404: "No such id in this project"})
_READ_ONLY = errors(409)


class _EditApi(APIView):
    """PATCH and DELETE of one signal (score or feedback) by the client's id. Rollups follow the
    change once the signal fold runs, which the service asks for."""

    permission_classes = [require_scope("ingest")]
    throttle_classes = [KeyRateThrottle]
    changes: type[edits.ScoreChanges] | type[edits.FeedbackChanges]

    def _edit(self, request: Request, update: Callable[..., Any], external_id: str) -> Any:
        try:
            changes = edits.changes_parse(read_body(request._request), self.changes)
            return update(project_id=project_for_request(request).id, external_id=external_id, changes=changes)
        except edits.EditError as exc:
            raise _refusal(exc) from None

    def _delete(self, request: Request, delete: Callable[..., None], external_id: str) -> Response:
        try:
            delete(project_id=project_for_request(request).id, external_id=external_id)
        except edits.EditError as exc:
            raise _refusal(exc) from None
        return Response(status=204)

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, BodyError):
            return error_response(exc.status, exc.code, exc.message)
        return super().handle_exception(exc)


class ScoreEditApi(_EditApi):
    changes = edits.ScoreChanges

    @extend_schema(operation_id="scores_update", summary="Change a score you sent (value, label, comment, metadata)",
                   tags=["edit"], request=ScorePatchSerializer,
                   responses={200: ScoreSerializer, **_PATCH_ERRORS, **_READ_ONLY})
    def patch(self, request: Request, score_id: str) -> Response:
        return Response(ScoreSerializer(self._edit(request, edits.score_update, score_id)).data)

    @extend_schema(operation_id="scores_destroy", summary="Delete a score you sent", tags=["edit"],
                   responses={204: None, **_DELETE_ERRORS, **_READ_ONLY})
    def delete(self, request: Request, score_id: str) -> Response:
        return self._delete(request, edits.score_delete, score_id)


class FeedbackEditApi(_EditApi):
    changes = edits.FeedbackChanges

    @extend_schema(operation_id="feedback_update", summary="Change feedback (thumbs, rating, comment)",
                   tags=["edit"], request=FeedbackPatchSerializer,
                   responses={200: FeedbackSerializer, **_PATCH_ERRORS})
    def patch(self, request: Request, feedback_id: str) -> Response:
        return Response(FeedbackSerializer(self._edit(request, edits.feedback_update, feedback_id)).data)

    @extend_schema(operation_id="feedback_destroy", summary="Delete feedback", tags=["edit"],
                   responses={204: None, **_DELETE_ERRORS})
    def delete(self, request: Request, feedback_id: str) -> Response:
        return self._delete(request, edits.feedback_delete, feedback_id)
