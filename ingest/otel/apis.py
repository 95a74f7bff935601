"""POST /v1/traces (and its aliases): the OTLP/HTTP trace receiver. Thin: auth, body, one service call.

Answers follow the OTLP/HTTP spec rather than the native error shape: 200 with an
ExportTraceServiceResponse (partial_success names refused spans), and for failures a
google.rpc.Status body, both in the request's encoding. 429 and 503 carry Retry-After, the
only codes (with 502/504) that exporters retry.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import metrics
from ingest.body import BodyError, read_body
from ingest.otel import otlp
from ingest.otel.auth import KeyOrBasicAuthentication
from ingest.otel.services import otlp_traces_ingest
from observatory import outage
from observatory.api import KeyRateThrottle
from observatory.openapi import AUTH, error_headers, errors, required_body
from tenancy.auth import require_scope

log = logging.getLogger(__name__)
RETRY_AFTER_UNAVAILABLE = str(outage.RETRY_AFTER_SECONDS)


class IgnoreAccept(BaseContentNegotiation):
    """Exporters send any Accept header; OTLP answers in the request's encoding regardless."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


# ExportTraceServiceResponse in OTLP/JSON: `{}`, or partialSuccess when spans were refused.
EXPORT_RESPONSE_JSON = inline_serializer("OtlpExportResponse", {
    "partialSuccess": inline_serializer("OtlpPartialSuccess", {
        "rejectedSpans": serializers.CharField(help_text="int64, as a decimal string (protobuf JSON mapping)"),
        "errorMessage": serializers.CharField(),
    }, required=False),
})
OTLP_ERRORS = (400, 413, 415, *AUTH)
EXPORTED = "ExportTraceServiceResponse, in the request's encoding; partial_success names refused spans"


def _encoding(request: Any) -> str:
    # Errors found before the media type is checked are answered in JSON unless the body is protobuf.
    return otlp.media_type(request.META.get("CONTENT_TYPE")) or otlp.JSON


def otlp_error(request: Any, status: int, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    encoding = _encoding(request)
    response = HttpResponse(otlp.status_body(encoding, status, message), status=status,
                            content_type=otlp.CONTENT_TYPES[encoding])
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class OtlpTracesApi(APIView):
    authentication_classes = [KeyOrBasicAuthentication]
    permission_classes = [require_scope("ingest")]
    throttle_classes = [KeyRateThrottle]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreAccept

    @extend_schema(
        summary="OTLP/HTTP trace export (protobuf or JSON)",
        description="An ExportTraceServiceRequest as application/x-protobuf or OTLP/JSON, optionally gzip. "
                    "See docs/otel.md for the attribute mapping.",
        request={"application/x-protobuf": required_body({"type": "string", "format": "binary"}),
                 "application/json": required_body({"type": "object",
                                                    "description": "OTLP/JSON ExportTraceServiceRequest"})},
        responses={(200, "application/json"): OpenApiResponse(EXPORT_RESPONSE_JSON, description=EXPORTED),
                   (200, "application/x-protobuf"): OpenApiResponse(OpenApiTypes.BINARY, description=EXPORTED),
                   **errors(*OTLP_ERRORS, otlp=True, described={
                       400: "Undecodable body, or not an ExportTraceServiceRequest",
                       413: "Body over OBSERVATORY_INGEST_MAX_BODY_BYTES (after gunzip), or more spans than "
                            "allowed",
                       415: "Content-Type is neither application/x-protobuf nor application/json, or "
                            "Content-Encoding is neither gzip nor identity"})},
        parameters=error_headers(OTLP_ERRORS),
        tags=["ingest"],
    )
    def post(self, request: Request) -> HttpResponse:
        response = self._handle(request)
        metrics.REQUESTS.labels(str(response.status_code)).inc()
        return response

    def _handle(self, request: Request) -> HttpResponse:
        encoding = otlp.media_type(request.META.get("CONTENT_TYPE"))
        if encoding is None:
            return otlp_error(request, 415, "Content-Type must be application/x-protobuf or application/json "
                                            f"(got '{request.META.get('CONTENT_TYPE') or 'none'}').")
        try:
            body = read_body(request._request)
            result = otlp_traces_ingest(project_id=request.auth.project_id, body=body, encoding=encoding)
        except BodyError as exc:
            return otlp_error(request, exc.status, exc.message)
        except DatabaseError as exc:
            if outage.database_unavailable(exc):
                # The database is down or restarting: nothing was committed, the exporter should retry.
                outage.note(exc, "OTLP export")
                return otlp_error(request, 503, outage.MESSAGE, {"Retry-After": RETRY_AFTER_UNAVAILABLE})
            log.exception("OTLP export failed")
            return otlp_error(request, 503, "The export could not be stored; retry later.",
                              {"Retry-After": RETRY_AFTER_UNAVAILABLE})
        return HttpResponse(otlp.export_response(encoding, result.rejected, result.message()), status=200,
                            content_type=otlp.CONTENT_TYPES[encoding])

    def handle_exception(self, exc: Exception) -> Any:
        # 401/403/429 from DRF, and the 503 of a database outage met in authentication, re-shaped as google.rpc.Status with the same headers.
        response = super().handle_exception(exc)
        if isinstance(response, Response):
            error = (response.data or {}).get("error", {}) if isinstance(response.data, dict) else {}
            headers = {name: response[name] for name in ("WWW-Authenticate", "Retry-After") if response.has_header(name)}
            response = otlp_error(self.request, response.status_code, error.get("message") or str(exc), headers)
        metrics.REQUESTS.labels(str(response.status_code)).inc()
        return response
