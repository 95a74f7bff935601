"""The Langfuse public endpoints a Langfuse SDK needs to send to Observatory (see docs/otel.md).

Traces arrive on `POST /api/public/otel/v1/traces` (the OTLP receiver); this module serves scores
(create, which replaces a score re-sent with its id, and delete), the legacy batch ingestion
(scores only), and the health and project look-ups the SDK makes.
"""
from __future__ import annotations

from typing import Any

import msgspec
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import limits, metrics
from ingest.body import BodyError, read_body
from ingest.otel.auth import KeyOrBasicAuthentication
from ingest.otel.langfuse import SOURCES, scores_ingest
from observatory.api import KeyRateThrottle, error_response
from observatory.openapi import errors, required_body
from telemetry import edits
from tenancy.auth import require_scope


def _json_body(request: Request) -> Any:
    body = read_body(request._request)
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BodyError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None


def _too_many(count: int) -> BodyError:
    return BodyError(413, "too_many_events", f"{count} items in one request; the limit is {limits.MAX_EVENTS} "
                                             "(OBSERVATORY_INGEST_MAX_EVENTS).")


# The Langfuse score body (Langfuse's ScoreBody); other fields are kept in the score's metadata or ignored.
SCORE_BODY = {"type": "object", "required": ["traceId", "name"], "properties": {
    "id": {"type": "string", "nullable": True,
           "description": "Upsert key: a score re-sent with a stored id replaces it"},
    "traceId": {"type": "string", "minLength": 1},
    "observationId": {"type": "string", "nullable": True},
    "name": {"type": "string", "minLength": 1, "maxLength": limits.MAX_DIMENSION},
    "value": {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
    "dataType": {"type": "string", "nullable": True, "description": "NUMERIC, CATEGORICAL or BOOLEAN (then `value` is read as "
                                                  "true/false)"},
    "source": {"type": "string", "nullable": True, "description": f"{', '.join(SOURCES)}; anything else is read as API"},
    "comment": {"type": "string", "nullable": True},
    "metadata": {"nullable": True},
}, "description": "Scores the body does not allow (no traceId, a bad value) are refused one by one (207)"}
BODY_ERRORS = (400, 413, 415)
_BODY_DESCRIPTIONS = {400: "The body is not JSON (or not the expected shape)",
                      413: "Body over OBSERVATORY_INGEST_MAX_BODY_BYTES (after gunzip), or more items than "
                           "OBSERVATORY_INGEST_MAX_EVENTS",
                      415: "Content-Encoding is neither gzip nor identity"}
_MESSAGE = inline_serializer("LangfuseMessage", {"message": serializers.CharField()})
_SCORES_PARTIAL = inline_serializer("LangfuseScoresPartial", {
    "accepted": serializers.IntegerField(), "rejected": serializers.IntegerField(),
    "errors": serializers.ListField(child=inline_serializer("LangfuseScoreError", {
        "message": serializers.CharField()}))})
_INGESTION_ITEM = {"type": "object", "required": ["type"], "properties": {
    "id": {"type": "string"}, "type": {"type": "string", "description": "Only score-create is stored"},
    "timestamp": {"type": "string"}, "body": SCORE_BODY}}


class _LangfuseApi(APIView):
    authentication_classes = [KeyOrBasicAuthentication]
    permission_classes = [require_scope("ingest")]
    throttle_classes = [KeyRateThrottle]


class LangfuseScoresApi(_LangfuseApi):
    @extend_schema(operation_id="langfuse_scores_create", summary="Langfuse-compatible: create scores",
                   request={"application/json": required_body({"oneOf": [
                       SCORE_BODY, {"type": "array", "items": SCORE_BODY, "maxItems": limits.MAX_EVENTS}]})},
                   responses={202: _MESSAGE, 207: _SCORES_PARTIAL,
                              **errors(*BODY_ERRORS, described=_BODY_DESCRIPTIONS)},
                   tags=["langfuse"])
    def post(self, request: Request) -> Response:
        try:
            payload = _json_body(request)
            scores = payload if isinstance(payload, list) else [payload]
            if len(scores) > limits.MAX_EVENTS:
                raise _too_many(len(scores))
            result = scores_ingest(project_id=request.auth.project_id, scores=scores)
        except BodyError as exc:
            return error_response(exc.status, exc.code, exc.message)
        metrics.REQUESTS.labels("202" if not result.rejected else "207").inc()
        if not result.rejected:
            return Response({"message": "Accepted"}, status=202)
        errors = [{"message": f"score {r['id'] or '#' + str(r['index'])}: "
                              + "; ".join(e["message"] if e["field"] == "$" else f"{e['field']}: {e['message']}"
                                          for e in r["errors"])} for r in result.rejected]
        return Response({"accepted": result.accepted + len(result.duplicates), "rejected": len(result.rejected),
                         "errors": errors}, status=207)


class LangfuseScoreApi(_LangfuseApi):
    @extend_schema(operation_id="langfuse_scores_delete", summary="Langfuse-compatible: delete a score",
                   responses={200: _MESSAGE, **errors(404, 409, described={
                       404: "No score with this id in the project"})},
                   tags=["langfuse"])
    def delete(self, request: Request, score_id: str) -> Response:
        try:
            edits.score_delete(project_id=request.auth.project_id, external_id=score_id)
        except edits.NotFound as exc:
            raise NotFound(str(exc)) from None
        except edits.ReadOnly as exc:
            return error_response(409, "read_only", str(exc))
        # Langfuse answers 200 with this message; its SDKs accept any 2xx.
        return Response({"message": "Score deleted successfully"})


class LangfuseIngestionApi(_LangfuseApi):
    """The batch endpoint of older Langfuse SDKs: `score-create` events are stored; traces and
    observations must come over OTLP (Langfuse SDK v3 or later), so other event types are refused."""

    @extend_schema(operation_id="langfuse_ingestion", summary="Langfuse-compatible batch (score-create only)",
                   request={"application/json": required_body({"type": "object", "required": ["batch"], "properties": {
                       "batch": {"type": "array", "items": _INGESTION_ITEM, "maxItems": limits.MAX_EVENTS}}})},
                   responses={207: inline_serializer("LangfuseIngestionResult", {
                       "successes": serializers.ListField(child=serializers.DictField()),
                       "errors": serializers.ListField(child=serializers.DictField())}),
                       **errors(*BODY_ERRORS, described=_BODY_DESCRIPTIONS)},
                   tags=["langfuse"])
    def post(self, request: Request) -> Response:
        try:
            payload = _json_body(request)
            batch = payload.get("batch") if isinstance(payload, dict) else None
            if not isinstance(batch, list):
                raise BodyError(400, "invalid_body", 'The body must be {"batch": [...]}.')
            if len(batch) > limits.MAX_EVENTS:
                raise _too_many(len(batch))
        except BodyError as exc:
            return error_response(exc.status, exc.code, exc.message)
        successes: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        scores: list[Any] = []
        ids: list[str] = []
        for event in batch:
            event_id = str(event.get("id") if isinstance(event, dict) else "")
            if isinstance(event, dict) and event.get("type") == "score-create":
                scores.append(event.get("body"))
                ids.append(event_id)
            else:
                kind = event.get("type") if isinstance(event, dict) else None
                errors.append({"id": event_id, "status": 400, "error": "unsupported_event_type",
                               "message": f"'{kind}' events are not supported by Observatory; send traces over "
                                          "OTLP (Langfuse SDK v3 or later)."})
        if scores:
            result = scores_ingest(project_id=request.auth.project_id, scores=scores)
            refused = {r["index"]: r for r in result.rejected}
            for index, event_id in enumerate(ids):
                if index in refused:
                    errors.append({"id": event_id, "status": 400, "error": "invalid_score",
                                   "message": "; ".join(e["message"] for e in refused[index]["errors"])})
                else:
                    successes.append({"id": event_id, "status": 201})
        metrics.REQUESTS.labels("207").inc()
        return Response({"successes": successes, "errors": errors}, status=207)


class LangfuseHealthApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="langfuse_health", summary="Langfuse-compatible health check",
                   responses=inline_serializer("LangfuseHealth", {"status": serializers.CharField(),
                                                                  "version": serializers.CharField()}),
                   tags=["langfuse"])
    def get(self, request: Request) -> Response:
        return Response({"status": "OK", "version": "observatory"})


class LangfuseProjectsApi(_LangfuseApi):
    """`Langfuse.auth_check()` reads the key's project here."""

    @extend_schema(operation_id="langfuse_projects", summary="Langfuse-compatible: the key's project",
                   responses={200: inline_serializer("LangfuseProjects", {
                       "data": serializers.ListField(child=serializers.DictField())})},
                   tags=["langfuse"])
    def get(self, request: Request) -> Response:
        project = request.auth.project
        organization = project.organization
        return Response({"data": [{"id": str(project.id), "name": project.name, "metadata": {},
                                   "organization": {"id": str(organization.id), "name": organization.name}}]})
