"""Read API: GET /api/v1/drift/runs, /api/v1/drift/runs/{id}/findings, /api/v1/drift/findings. Keys
with the read scope (their own project), or signed-in people with ?project=, like telemetry/apis.py."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from drift import selectors
from drift.models import DriftRun, Finding, Severity, Verdict
from observatory.api import ReadRateThrottle
from observatory.openapi import errors
from telemetry.apis import PROJECT_PARAM
from tenancy.auth import project_for_request, require_scope

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

# The shared error body; the schema hook adds what every key-authenticated operation can answer.
ERRORS = errors(400, 404, described={
    400: "A bad parameter (`details` names it): `limit`, `severity`, `verdict`, or `project`",
    404: "No such project among yours (signed-in requests), or no such run in the project"})
LIMIT_PARAM = OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                         "default": DEFAULT_LIMIT}, description=f"1..{MAX_LIMIT}")


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = DriftRun
        fields = ["id", "status", "created_at", "started_at", "finished_at", "ends_at", "windows", "counts", "error"]


class FindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = ["id", "run", "comparison", "signal", "group", "method", "statistic", "low", "high", "threshold",
                  "baseline_value", "current_value", "n_baseline", "n_current", "verdict", "severity", "score",
                  "baseline_start", "baseline_end", "current_start", "current_end", "details"]


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationError({"limit": "must be an integer"}) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": f"must be between 1 and {MAX_LIMIT}"})
    return limit


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise ValidationError({name: f"'{value}' is not one of {', '.join(choices)}"})
    return value


class _ReadApi(APIView):
    permission_classes = [require_scope("read")]
    throttle_classes = [ReadRateThrottle]


class RunListApi(_ReadApi):
    @extend_schema(operation_id="drift_runs_list", summary="Drift runs, newest first", tags=["drift"],
                   parameters=[PROJECT_PARAM, LIMIT_PARAM],
                   responses={200: inline_serializer("DriftRunPage", fields={"runs": RunSerializer(many=True)}),
                              **ERRORS})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        runs = selectors.runs_for(project_id=project.id)[:_limit(request)]
        return Response({"runs": RunSerializer(runs, many=True).data})


class RunFindingsApi(_ReadApi):
    @extend_schema(operation_id="drift_run_findings", summary="A run's findings, most severe first", tags=["drift"],
                   parameters=[PROJECT_PARAM, LIMIT_PARAM,
                               OpenApiParameter("verdict", str, enum=Verdict.values)],
                   responses={200: inline_serializer("DriftRunFindings", fields={
                       "run": RunSerializer(), "findings": FindingSerializer(many=True)}), **ERRORS})
    def get(self, request: Request, run_id: int) -> Response:
        project = project_for_request(request)
        run = DriftRun.objects.filter(pk=run_id, project=project).first()
        if run is None:
            raise NotFound("No such drift run in this project.")
        findings = selectors.findings_ranked(run=run)
        if verdict := _choice(request, "verdict", Verdict.values):
            findings = findings.filter(verdict=verdict)
        return Response({"run": RunSerializer(run).data,
                         "findings": FindingSerializer(findings[:_limit(request)], many=True).data})


class FindingListApi(_ReadApi):
    @extend_schema(operation_id="drift_findings_list", summary="Findings across runs, newest first", tags=["drift"],
                   parameters=[PROJECT_PARAM, LIMIT_PARAM,
                               OpenApiParameter("signal", str, description="latency, ttft, score:<name>, error_rate, "
                                                "flag:<name>, thumbs_down_rate, model_mix, error_type_mix"),
                               # _choice reads an empty value as not given; the schema says so.
                               OpenApiParameter("severity", str, enum=[*Severity.values, ""]),
                               OpenApiParameter("verdict", str, enum=[*Verdict.values, ""])],
                   responses={200: inline_serializer("DriftFindingPage", fields={
                       "findings": FindingSerializer(many=True)}), **ERRORS})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        findings = Finding.objects.filter(project=project).order_by("-id")
        if signal := request.query_params.get("signal"):
            findings = findings.filter(signal=signal)
        if severity := _choice(request, "severity", Severity.values):
            findings = findings.filter(severity=severity)
        if verdict := _choice(request, "verdict", Verdict.values):
            findings = findings.filter(verdict=verdict)
        return Response({"findings": FindingSerializer(findings[:_limit(request)], many=True).data})
