"""POST /api/v1/ingest: the native batch endpoint. Thin: auth, body, one service call."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import metrics, openapi
from ingest.body import BodyError, read_body
from ingest.services import batch_ingest
from observatory.api import KeyRateThrottle, error_response
from observatory.openapi import errors, required_body
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


class _ChangedSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField()
    type = serializers.CharField()
    changes = _ItemErrorSerializer(many=True, help_text="What was stored differently from what was sent "
                                                        "(a payload over the limit, truncated)")


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Accepted events stored with a change, listed in changed_items")
    duplicate_items = _DuplicateSerializer(many=True)
    rejected_items = _RejectedSerializer(many=True)
    changed_items = _ChangedSerializer(many=True)


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
        description="202 when every event was stored (or was a duplicate), 207 when some were refused, 422 "
                    "when every event was refused: `rejected_items` names each refused event and every error "
                    "of it. An input, output or context over OBSERVATORY_INGEST_MAX_PAYLOAD_BYTES is stored "
                    "truncated (the call is kept) and listed in `changed_items`. Optionally "
                    "`Content-Encoding: gzip`.",
        request={"application/json": required_body(openapi.REQUEST)},
        responses={202: IngestResultSerializer, 207: IngestResultSerializer, 422: IngestResultSerializer,
                   **errors(400, 413, 415, described={
                       400: "The body is not JSON, not {\"events\": [...]}, or not valid gzip",
                       413: "Body over OBSERVATORY_INGEST_MAX_BODY_BYTES (after gunzip), or more events than "
                            "OBSERVATORY_INGEST_MAX_EVENTS",
                       415: "Content-Type is not application/json, or Content-Encoding is neither gzip nor "
                            "identity"})},
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
