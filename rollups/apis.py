"""Metrics API, answered from rollups only: /api/v1/metrics, /summary and /top."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from observatory.api import ReadRateThrottle
from observatory.openapi import errors
from rollups.cubes import DIMENSIONS
from rollups.selectors import MetricsError, Query, parse_measure, series, summary, top_entities, unit_of
from rollups.selectors.core import DERIVED_MEASURES, FEEDBACK_MEASURES, FLAG_MEASURES, SCORE_MEASURES, SUM_MEASURES
from rollups.signals import score_rollup_name
from telemetry.apis import PROJECT_PARAM, READ_ERRORS, TIME_DESCRIPTION, TIME_SCHEMA, _time, read_project
from telemetry.models import ScoreSource
from tenancy.auth import require_scope

_INTERVAL = re.compile(r"^(\d{1,4})(m|h|d|w)$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_POINTS = 5000
# Patterns for the schema: what the parsers below accept, so that clients (and the fuzzer) can tell.
_DIMENSION = "(?:" + "|".join(DIMENSIONS) + ")"
MEASURE_PATTERN = ("^(?:" + "|".join(sorted([*SUM_MEASURES, *DERIVED_MEASURES, *SCORE_MEASURES, *FLAG_MEASURES,
                                              *FEEDBACK_MEASURES]))
                   + r"|(?:latency|ttft|score|rating)_p[1-9]\d?(?:\.\d{1,3})?)$")

COMMON_PARAMS = [
    PROJECT_PARAM,
    OpenApiParameter("from", TIME_SCHEMA, description="Range start (default: 24 h before `to`); " + TIME_DESCRIPTION),
    OpenApiParameter("to", TIME_SCHEMA, description="Range end, exclusive (default: now)"),
    OpenApiParameter("filter", {"type": "array", "items": {"type": "string", "pattern": f"^{_DIMENSION}:"}},
                     description=(
        "`dimension:value`, repeatable; values of one dimension are OR-ed. Dimensions: " + ", ".join(DIMENSIONS)
        + ". Without a `kind` filter only model calls (llm, embedding) count.")),
]
RESPONSE_ERRORS = errors(*READ_ERRORS, described={
    400: "A bad parameter (`details` names it): an unknown measure or dimension, `from` not before `to`, a range "
         "outside the years 1-9999, an interval giving too many points"})


def _range(params: Any) -> tuple[datetime, datetime]:
    end = _time(params, "to") or datetime.now(timezone.utc)
    start = _time(params, "from") or end - timedelta(days=1)
    if start >= end:
        raise ValidationError({"from": "must be before 'to'"})
    return start, end


def _filters(params: Any) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for raw in params.getlist("filter"):
        dim, sep, value = raw.partition(":")
        if not sep or dim not in DIMENSIONS:
            raise ValidationError({"filter": f"'{raw}' is not dimension:value with a dimension among "
                                             f"{', '.join(DIMENSIONS)}"})
        filters.setdefault(dim, []).append(value)
    return filters


def _group_by(params: Any) -> tuple[str, ...]:
    raw = params.get("group_by", "")
    dims = tuple(d.strip() for d in raw.split(",") if d.strip())
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or len(dims) > 2:
        raise ValidationError({"group_by": f"up to two of {', '.join(DIMENSIONS)}"})
    return dims


def _tz(params: Any) -> str:
    name = params.get("tz", "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"tz": f"'{name}' is not an IANA time zone such as Europe/Paris"}) from None
    return name


def _interval(params: Any, start: datetime, end: datetime) -> timedelta | None:
    raw = params.get("interval")
    if not raw:
        return None
    match = _INTERVAL.match(raw)
    if not match or int(match.group(1)) == 0:
        raise ValidationError({"interval": "like 1m, 5m, 1h, 6h, 1d or 1w"})
    interval = int(match.group(1)) * _UNITS[match.group(2)]
    if (end - start) / interval > MAX_POINTS:
        raise ValidationError({"interval": f"gives more than {MAX_POINTS} points for this range; widen it"})
    return interval


def _score(measure: str, params: Any) -> str:
    """The rollup score name (or "flag:<name>") a quality measure reads; '' for other measures. With
    `source`, a score sent by clients (API, OTLP, Langfuse) under that source: `<source>:<name>`."""
    if measure.startswith("score_"):
        name, source = params.get("score", ""), params.get("source", "")
        if not name:
            raise ValidationError({"score": f"{measure} needs score=<name>, e.g. score=groundedness"})
        if source and source not in ScoreSource.values:
            raise ValidationError({"source": f"one of {', '.join(ScoreSource.values)}"})
        return score_rollup_name(source, name) if source else name[:120]
    if measure.startswith("flag_"):
        name = params.get("flag", "")
        if not name:
            raise ValidationError({"flag": f"{measure} needs flag=<name>, e.g. flag=pii.email"})
        return "flag:" + name[:115]
    return ""


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str)):
        return value
    return float(value)  # Decimal cost: JSON number (exact sums stay in the database)


class _MetricsBase(APIView):
    permission_classes = [require_scope("read")]
    throttle_classes = [ReadRateThrottle]


class MetricsApi(_MetricsBase):
    @extend_schema(
        operation_id="metrics_series", summary="A measure over time, optionally grouped", tags=["metrics"],
        parameters=[
            OpenApiParameter("measure", {"type": "string", "pattern": MEASURE_PATTERN}, required=True, description=(
                "count, errors, error_rate, tokens_input, tokens_output, tokens_cached, tokens_reasoning, "
                "tokens_total, cost, unpriced, latency_avg, latency_max, latency_pNN (e.g. latency_p95, "
                "latency_p99.9), ttft_avg, ttft_max, ttft_pNN; quality: score_avg, score_count, score_pNN "
                "(with `score`), flag_count, flag_rate, flag_evaluated (with `flag`); end-user feedback, by "
                "the time of the call it rates: feedback_count, thumbs_up, thumbs_down, thumbs_count, "
                "thumbs_up_rate, thumbs_down_rate, rating_count, rating_avg, rating_pNN")),
            OpenApiParameter("score", str, description="score name for score_* measures, e.g. groundedness, "
                                                       "toxicity.output, pii.count"),
            OpenApiParameter("source", str, enum=[*ScoreSource.values, ""], description=(
                "with `score`: read the scores clients sent with this source (API, OTLP, Langfuse), e.g. "
                "score=helpfulness&source=human; without it, the evaluators' score of that name")),
            OpenApiParameter("flag", str, description="flag name for flag_* measures, e.g. pii.email, "
                                                      "prompt_injection"),
            OpenApiParameter("interval", {"type": "string", "pattern": r"^(?:[1-9]\d{0,3}[mhdw])?$"},
                             description="1m, 5m, 1h, 1d, 1w...; omit (or empty) for one value per group; at most "
                                         f"{MAX_POINTS} points"),
            OpenApiParameter("group_by", {"type": "string", "pattern": f"^(?:{_DIMENSION}(?:,{_DIMENSION})?)?$"},
                             description="up to two dimensions, comma-separated"),
            OpenApiParameter("tz", str, description="IANA zone for day boundaries of daily intervals (default UTC)"),
            *COMMON_PARAMS,
        ],
        responses={**RESPONSE_ERRORS, 200: inline_serializer("MetricsSeries", {
            "measure": serializers.CharField(), "unit": serializers.CharField(),
            "interval": serializers.CharField(allow_null=True), "group_by": serializers.ListField(),
            "from": serializers.DateTimeField(), "to": serializers.DateTimeField(),
            "series": serializers.ListField(child=serializers.DictField())})},
    )
    def get(self, request: Request) -> Response:
        project = read_project(request)
        params = request.query_params
        measure = params.get("measure", "")
        start, end = _range(params)
        try:
            parse_measure(measure)
            query = Query(project_id=project.id, start=start, end=end, filters=_filters(params),
                          group_by=_group_by(params), interval=_interval(params, start, end), tz=_tz(params),
                          score=_score(measure, params))
            data = series(query, measure)
        except MetricsError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        except OverflowError:
            raise ValidationError({"to": "the range reaches outside the supported dates (years 1-9999)"}) from None
        for item in data:
            for point in item["points"]:
                point["value"] = _json_value(point["value"])
        return Response({"measure": measure, "unit": unit_of(measure), "interval": params.get("interval"),
                         "group_by": list(query.group_by), "from": start, "to": end, "series": data})


class MetricsSummaryApi(_MetricsBase):
    @extend_schema(operation_id="metrics_summary", summary="Headline figures for a range", tags=["metrics"],
                   parameters=COMMON_PARAMS,
                   responses={**RESPONSE_ERRORS, 200: inline_serializer("MetricsSummary", {
                       "from": serializers.DateTimeField(), "to": serializers.DateTimeField(),
                       "figures": serializers.DictField()})})
    def get(self, request: Request) -> Response:
        project = read_project(request)
        params = request.query_params
        start, end = _range(params)
        try:
            figures = summary(Query(project_id=project.id, start=start, end=end, filters=_filters(params)))
        except OverflowError:
            raise ValidationError({"to": "the range reaches outside the supported dates (years 1-9999)"}) from None
        return Response({"from": start, "to": end, "figures": {k: _json_value(v) for k, v in figures.items()}})


class MetricsTopApi(_MetricsBase):
    @extend_schema(
        operation_id="metrics_top", summary="Top users or sessions by cost, calls, errors or tokens",
        tags=["metrics"],
        parameters=[OpenApiParameter("entity", str, enum=["user", "session"], required=True),
                    OpenApiParameter("order_by", str, enum=["cost", "calls", "errors", "tokens"]),
                    OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                                     description="1..100"),
                    *COMMON_PARAMS[:3]],
        responses={**RESPONSE_ERRORS, 200: inline_serializer("MetricsTop", {
            "entity": serializers.CharField(), "rows": serializers.ListField(child=serializers.DictField())})})
    def get(self, request: Request) -> Response:
        project = read_project(request)
        params = request.query_params
        start, end = _range(params)
        entity = params.get("entity")
        order_by = params.get("order_by", "cost")
        if entity not in ("user", "session"):
            raise ValidationError({"entity": "user or session"})
        if order_by not in ("cost", "calls", "errors", "tokens"):
            raise ValidationError({"order_by": "cost, calls, errors or tokens"})
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            raise ValidationError({"limit": "must be an integer"}) from None
        if not 1 <= limit <= 100:
            raise ValidationError({"limit": "between 1 and 100"})
        try:
            rows = top_entities(project_id=project.id, entity=entity, start=start, end=end, order_by=order_by,
                                limit=limit)
        except OverflowError:
            raise ValidationError({"to": "the range reaches outside the supported dates (years 1-9999)"}) from None
        for row in rows:
            row["cost_usd"] = _json_value(row["cost_usd"])
        return Response({"entity": entity, "rows": rows})
