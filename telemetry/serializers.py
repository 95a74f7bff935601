"""Output shapes of the read API (also the OpenAPI schema)."""
from __future__ import annotations

from datetime import timezone
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from telemetry.models import Call, Feedback, PendingCall, Score


def _usd(value: Any) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def call_dict(call: Call | dict[str, Any]) -> dict[str, Any]:
    """A call as the API shows it, from a model instance or a `values()` row. Built by hand:
    DRF's field machinery cost ~150 us per row, which dominated listing thousands of calls.
    CallSerializer declares the same shape for the OpenAPI schema and delegates its output here."""
    c = call if isinstance(call, dict) else {name: getattr(call, name) for name in _FIELDS}
    return {
        "id": c["external_id"], "trace_id": c["trace_id"], "parent_id": c["parent_id"], "kind": c["kind"],
        "name": c["name"], "start_time": _iso(c["start_time"]), "end_time": _iso(c["end_time"]),
        "latency_ms": c["latency_ms"], "ttft_ms": c["ttft_ms"], "provider": c["provider"], "model": c["model"],
        "operation": c["operation"], "status": c["status"],
        "error": ({"type": c["error_type"], "message": c["error_message"]}
                  if c["error_type"] or c["error_message"] else None),
        "usage": {"input_tokens": c["input_tokens"], "output_tokens": c["output_tokens"],
                  "cached_input_tokens": c["cached_input_tokens"], "reasoning_tokens": c["reasoning_tokens"],
                  "total_tokens": c["total_tokens"]},
        "cost": {"input_usd": _usd(c["cost_input_usd"]), "output_usd": _usd(c["cost_output_usd"]),
                 "total_usd": _usd(c["cost_total_usd"]), "source": c["cost_source"]},
        "prompt": ({"name": c["prompt_name"], "version": c["prompt_version"]}
                   if c["prompt_name"] or c["prompt_version"] else None),
        "user_id": c["user_id"], "session_id": c["session_id"], "feature": c["feature"], "team": c["team"],
        "environment": c["environment"], "release": c["release"], "params": c["params"], "tags": c["tags"],
        "metadata": c["metadata"], "received_at": _iso(c["received_at"]),
    }


_FIELDS = ["external_id", "trace_id", "parent_id", "kind", "name", "start_time", "end_time", "latency_ms", "ttft_ms",
           "provider", "model", "operation", "status", "error_type", "error_message", "input_tokens",
           "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens", "cost_input_usd",
           "cost_output_usd", "cost_total_usd", "cost_source", "prompt_name", "prompt_version", "user_id",
           "session_id", "feature", "team", "environment", "release", "params", "tags", "metadata", "received_at"]


def _iso(value: Any) -> str | None:
    """UTC with microseconds and a Z, always: the same text PostgreSQL gives for listed calls."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CallSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    usage = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    prompt = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = ["id", "trace_id", "parent_id", "kind", "name", "start_time", "end_time", "latency_ms", "ttft_ms",
                  "provider", "model", "operation", "status", "error", "usage", "cost", "prompt", "user_id",
                  "session_id", "feature", "team", "environment", "release", "params", "tags", "metadata",
                  "received_at"]

    def to_representation(self, call: Call) -> dict[str, Any]:
        return call_dict(call)

    @extend_schema_field({"type": "object", "properties": {k: {"type": "integer", "nullable": True} for k in (
        "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens")}})
    def get_usage(self, call: Call) -> dict[str, int | None]:
        return {"input_tokens": call.input_tokens, "output_tokens": call.output_tokens,
                "cached_input_tokens": call.cached_input_tokens, "reasoning_tokens": call.reasoning_tokens,
                "total_tokens": call.total_tokens}

    @extend_schema_field({"type": "object", "properties": {
        "input_usd": {"type": "string", "nullable": True}, "output_usd": {"type": "string", "nullable": True},
        "total_usd": {"type": "string", "nullable": True},
        "source": {"type": "string", "enum": ["provided", "computed", "unknown"]}}})
    def get_cost(self, call: Call) -> dict[str, Any]:
        def fmt(value: Any) -> str | None:
            return None if value is None else format(value.normalize(), "f")

        return {"input_usd": fmt(call.cost_input_usd), "output_usd": fmt(call.cost_output_usd),
                "total_usd": fmt(call.cost_total_usd), "source": call.cost_source}

    @extend_schema_field({"type": "object", "nullable": True,
                          "properties": {"name": {"type": "string"}, "version": {"type": "string"}}})
    def get_prompt(self, call: Call) -> dict[str, str] | None:
        if not call.prompt_name and not call.prompt_version:
            return None
        return {"name": call.prompt_name, "version": call.prompt_version}

    @extend_schema_field({"type": "object", "nullable": True,
                          "properties": {"type": {"type": "string"}, "message": {"type": "string"}}})
    def get_error(self, call: Call) -> dict[str, str] | None:
        if not call.error_type and not call.error_message:
            return None
        return {"type": call.error_type, "message": call.error_message}


class ScoreSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")

    class Meta:
        model = Score
        fields = ["id", "name", "value", "label", "source", "comment", "metadata", "created_at"]


class FeedbackSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    thumbs = serializers.SerializerMethodField()
    user_id = serializers.CharField(source="end_user_id")

    class Meta:
        model = Feedback
        fields = ["id", "thumbs", "rating", "comment", "user_id", "metadata", "created_at"]

    @extend_schema_field({"type": "string", "enum": ["up", "down"], "nullable": True})
    def get_thumbs(self, fb: Feedback) -> str | None:
        return None if fb.thumbs is None else ("up" if fb.thumbs > 0 else "down")


class CallDetailSerializer(CallSerializer):
    input = serializers.SerializerMethodField()
    output = serializers.SerializerMethodField()
    context = serializers.SerializerMethodField()
    scores = ScoreSerializer(many=True, read_only=True)
    feedback = FeedbackSerializer(many=True, read_only=True)
    processed = serializers.SerializerMethodField()
    flags = serializers.SerializerMethodField()
    evaluation = serializers.SerializerMethodField()
    redaction = serializers.SerializerMethodField()

    class Meta(CallSerializer.Meta):
        fields = [*CallSerializer.Meta.fields, "input", "output", "context", "scores", "feedback", "processed",
                  "flags", "evaluation", "redaction"]

    def to_representation(self, call: Call) -> dict[str, Any]:
        out = call_dict(call)
        out.update(input=self.get_input(call), output=self.get_output(call), context=self.get_context(call),
                   scores=ScoreSerializer(call.scores.all(), many=True).data,
                   feedback=FeedbackSerializer(call.feedback.all(), many=True).data,
                   processed=self.get_processed(call), flags=self.get_flags(call),
                   evaluation=self.get_evaluation(call), redaction=self.get_redaction(call))
        return out

    def _payload(self, call: Call, name: str) -> Any:
        payload = getattr(call, "payload", None) if hasattr(call, "payload") else None
        return getattr(payload, name, None) if payload else None

    @extend_schema_field({"description": "A string or chat messages, as sent"})
    def get_input(self, call: Call) -> Any:
        return self._payload(call, "input")

    @extend_schema_field({"description": "A string or chat messages, as sent"})
    def get_output(self, call: Call) -> Any:
        return self._payload(call, "output")

    @extend_schema_field({"description": "Retrieved context, as sent"})
    def get_context(self, call: Call) -> Any:
        return self._payload(call, "context")

    def get_processed(self, call: Call) -> bool:
        return not PendingCall.objects.filter(call_id=call.id).exists()

    # Written by the evaluators (quality/), read through their reverse relations.
    @extend_schema_field({"type": "array", "items": {"type": "object"},
                          "description": "Violations found by the evaluators: name, severity, evaluator, detail"})
    def get_flags(self, call: Call) -> list[dict[str, Any]]:
        return [{"name": f.name, "severity": f.severity, "evaluator": f.evaluator, "detail": f.detail}
                for f in call.flags.all()]  # type: ignore[attr-defined]

    @extend_schema_field({"type": "object", "nullable": True,
                          "description": "Scoring state: status (done, partial, skipped), evaluators that ran, "
                                         "errors by evaluator, evaluated_at; null until evaluated"})
    def get_evaluation(self, call: Call) -> dict[str, Any] | None:
        state = getattr(call, "evaluation", None) if hasattr(call, "evaluation") else None
        if state is None:
            return None
        return {"status": state.status, "evaluators": state.evaluators, "errors": state.errors,
                "evaluated_at": state.evaluated_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    @extend_schema_field({"type": "string", "description": "PII redaction mode in force at ingest: off, mask, drop"})
    def get_redaction(self, call: Call) -> str:
        return self._payload(call, "redaction") or "off"


class CallPageSerializer(serializers.Serializer):
    data = CallSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class SpanNodeSerializer(serializers.Serializer):
    span = CallSerializer(source="call")
    children = serializers.ListField(child=serializers.DictField())

    def to_representation(self, node: dict[str, Any]) -> dict[str, Any]:
        return {"span": call_dict(node["call"]),
                "children": [self.to_representation(child) for child in node["children"]]}


class TraceSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    name = serializers.CharField()
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField()
    span_count = serializers.IntegerField()
    roots = SpanNodeSerializer(many=True)
