"""OpenAPI pieces every API shares: the project-key security schemes, the error body, and the
responses (with their headers) that the authentication, throttling and outage handling add to
each operation. The API modules import `errors()` and `error_headers()`; importing this module
also registers the authentication extensions with drf-spectacular. AutoSchema (settings'
DEFAULT_SCHEMA_CLASS) lets a hand-written request body be required."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

BEARER = "ProjectKey"
HEADER = "ProjectKeyHeader"
BASIC = "ProjectKeyBasic"
_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "obs_...",
             "description": "A project API key: `Authorization: Bearer obs_...`. Its scopes (ingest, read) "
                            "decide which endpoints it reaches; it reaches only its own project."},
    HEADER: {"type": "apiKey", "in": "header", "name": "X-API-Key",
             "description": "The same project key in `X-API-Key: obs_...`."},
    BASIC: {"type": "http", "scheme": "basic",
            "description": "Langfuse SDKs and OpenTelemetry exporters: `Authorization: Basic "
                           "base64(public:secret)` with the project key as the secret (the public part is "
                           "not checked), or as the user with an empty secret."},
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenancy.auth.ApiKeyAuthentication"
    name = [BEARER, HEADER]
    schemes = (BEARER, HEADER)

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [_SCHEMES[name] for name in self.name]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        # Any one of them will do: a list of single-scheme requirements is an OR in OpenAPI.
        return [{name: []} for name in self.schemes]


class KeyOrBasicScheme(ApiKeyScheme):
    """Registers Basic alone: the Bearer and X-API-Key definitions come from ApiKeyScheme (the
    native endpoints always use it), and drf-spectacular wants one authenticator per definition."""

    target_class = "ingest.otel.auth.KeyOrBasicAuthentication"
    name = [BASIC]
    schemes = (BEARER, HEADER, BASIC)


class _ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. payload_too_large")
    message = serializers.CharField(help_text="What went wrong and what to do, for people")
    details = serializers.JSONField(required=False, help_text="Per parameter or field, when there are any")


class ErrorSerializer(serializers.Serializer):
    """Every API error: {"error": {"code", "message", "details"}} (observatory/api.py)."""

    error = _ErrorBodySerializer()


# The google.rpc.Status body the OTLP receiver answers errors with, in the request's encoding.
OTLP_STATUS = inline_serializer("OtlpStatus", {
    "code": serializers.IntegerField(help_text="google.rpc.Code"),
    "message": serializers.CharField(),
})

DESCRIPTIONS = {
    400: "Invalid request: a bad parameter or body (`details` names it)",
    401: "No key, an unknown key or a revoked key (`WWW-Authenticate: Bearer`)",
    403: "The key lacks the scope this endpoint needs",
    404: "Not found in this project",
    409: "An evaluator's score (id `eval:...`): read-only",
    413: "Body larger than OBSERVATORY_INGEST_MAX_BODY_BYTES (after gunzip), or more items than "
         "OBSERVATORY_INGEST_MAX_EVENTS",
    415: "Unsupported Content-Type, or a Content-Encoding other than gzip",
    429: "Over the per-key rate, or too many unknown keys from this address (`too_many_unknown_keys`): "
         "wait the seconds in `Retry-After`",
    503: "The database is unavailable: nothing was stored; send the same request again after `Retry-After` "
         "seconds",
}
# Statuses every key-authenticated operation can answer, whatever it does.
AUTH = (401, 403, 429, 503)


def errors(*statuses: int, otlp: bool = False, described: dict[int, str] | None = None) -> dict[Any, OpenApiResponse]:
    """The error responses of an operation, with the shared body; `described` overrides the text of some.
    OTLP answers a google.rpc.Status in the request's encoding, JSON or protobuf."""
    texts = {**DESCRIPTIONS, **(described or {})}
    if not otlp:
        return {status: OpenApiResponse(ErrorSerializer, description=texts[status]) for status in sorted(statuses)}
    out: dict[Any, OpenApiResponse] = {}
    for status in sorted(statuses):
        out[(status, "application/json")] = OpenApiResponse(OTLP_STATUS, description=texts[status])
        out[(status, "application/x-protobuf")] = OpenApiResponse(OpenApiTypes.BINARY, description=texts[status])
    return out


def error_headers(statuses: Iterable[int]) -> list[OpenApiParameter]:
    """The headers that come with some errors: WWW-Authenticate with 401, Retry-After with 429 and 503."""
    statuses = set(statuses)
    headers = []
    if 401 in statuses:
        headers.append(OpenApiParameter("WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401],
                                        required=True, description="`Bearer realm=\"observatory\"`"))
    # An outage always says 5 s; DRF leaves it out of a 429 when the throttle cannot tell the wait.
    for status, required in ((429, False), (503, True)):
        if status in statuses:
            headers.append(OpenApiParameter("Retry-After", int, OpenApiParameter.HEADER, response=[status],
                                            required=required,
                                            description="Seconds to wait before sending the request again"))
    return headers


REQUIRED_BODY = "x-observatory-body-required"


def required_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A hand-written request schema whose body must be sent (drf-spectacular marks only serializer
    bodies with required fields as required)."""
    return {**schema, REQUIRED_BODY: True}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, plus what the shared machinery answers on every key-authenticated operation
    (401, 403, 429, 503 with their headers: tenancy/auth.py, the throttles, observatory/api.py), so that
    no API, today's or a new app's, can leave them out; and hand-written request bodies that are required."""

    def _get_request_for_media_type(self, serializer: Any, direction: str = "request") -> tuple[Any, bool]:
        if isinstance(serializer, dict) and serializer.get(REQUIRED_BODY):
            return {k: v for k, v in serializer.items() if k != REQUIRED_BODY}, True
        return super()._get_request_for_media_type(serializer, direction)

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if not self._takes_keys():
            return responses
        for status, response in errors(*AUTH).items():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(response, str(status), direction=direction)
        for header in error_headers(AUTH):
            for status in header.response:
                headers = responses[str(status)].setdefault("headers", {})
                headers.setdefault(header.name, {
                    "schema": {"type": "integer" if header.type is int else "string"},
                    "description": header.description, **({"required": True} if header.required else {})})
        return responses

    def _takes_keys(self) -> bool:
        from tenancy.auth import ApiKeyAuthentication

        return any(isinstance(a, ApiKeyAuthentication) for a in self.view.get_authenticators())


# A request body whose unknown fields are refused (400): the schema says so with
# `additionalProperties: false`, so clients and fuzzers know extras are not ignored. (No docstring:
# drf-spectacular would make it the description of every subclass.)
class ClosedSerializer(serializers.Serializer):
    pass


class ClosedSerializerScheme(OpenApiSerializerExtension):
    target_class = ClosedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
