"""POST /api/v1/ingest: the native batch endpoint. Thin: auth, body, one service call."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import metrics
from ingest.body import BodyError, read_body
from ingest.services import batch_ingest
from observatory.api import KeyRateThrottle, error_response
from tenancy.auth import ApiKeyAuthentication, require_scope


class _ItemErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class _RejectedSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField(allow_null=True)
    type = serializers.CharField(allow_null=True)
    errors = _ItemErrorSerializer(many=True)


class _DuplicateSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField()
    type = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    duplicate_items = _DuplicateSerializer(many=True)
    rejected_items = _RejectedSerializer(many=True)


class IngestRequestSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.DictField(), help_text=(
        "Events, each with a `type`: call, span, feedback or score. Field reference: docs/api.md."))


EXAMPLE = {"events": [
    {"type": "call", "id": "req-1", "trace_id": "t-1", "timestamp": "2026-11-22T10:00:00Z", "latency_ms": 840,
     "provider": "openai", "model": "gpt-4o-mini", "input": [{"role": "user", "content": "Hi"}],
     "output": "Hello!", "usage": {"input_tokens": 12, "output_tokens": 3}, "user_id": "u-42",
     "feature": "chat", "prompt": {"name": "greeter", "version": 3}},
    {"type": "feedback", "call_id": "req-1", "thumbs": "up"},
    {"type": "score", "call_id": "req-1", "name": "helpfulness", "value": 0.9, "source": "judge"},
]}


class IngestApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [require_scope("ingest")]
    throttle_classes = [KeyRateThrottle]

    @extend_schema(
        operation_id="ingest_events",
        summary="Send a batch of telemetry events",
        request=IngestRequestSerializer,
        responses={202: IngestResultSerializer, 207: IngestResultSerializer,
                   400: OpenApiResponse(description="Body is not JSON or not {\"events\": [...]}"),
                   401: OpenApiResponse(description="Missing, unknown or revoked key"),
                   403: OpenApiResponse(description="Key lacks the ingest scope"),
                   413: OpenApiResponse(description="Body or batch over the limit"),
                   415: OpenApiResponse(description="Not application/json, or unsupported Content-Encoding"),
                   429: OpenApiResponse(description="Rate limit; see Retry-After")},
        examples=[OpenApiExample("A call with feedback and a score", value=EXAMPLE, request_only=True)],
        tags=["ingest"],
    )
    def post(self, request: Request) -> Response:
        response = self._handle(request)
        metrics.REQUESTS.labels(str(response.status_code)).inc()
        return response

    def _handle(self, request: Request) -> Response:
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return error_response(415, "unsupported_media_type",
                                  f"Content-Type must be application/json (got '{content_type or 'none'}').")
        try:
            body = read_body(request._request)
            result = batch_ingest(project_id=request.auth.project_id, body=body)
        except BodyError as exc:
            return error_response(exc.status, exc.code, exc.message)
        return Response(result.as_dict(), status=result.status_code)

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)
        metrics.REQUESTS.labels(str(response.status_code)).inc()
        return response
