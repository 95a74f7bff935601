"""The conventions table: each convention's attributes land on the same native fields."""
from __future__ import annotations

import json
from typing import Any

from ingest.otel import otlp
from ingest.otel.conventions import ResourceInfo, span_event
from tests.ingest.otlp_payloads import NOW_NS, protobuf_request, span_dict


def mapped(attributes: dict[str, Any], *, events: list[dict[str, Any]] | None = None,
           resource: dict[str, Any] | None = None, **span: Any) -> dict[str, Any]:
    body = protobuf_request([span_dict(attributes=attributes, events=events, **span)], resource)
    result = span_event(otlp.decode(body, otlp.PROTOBUF)[0])
    assert result.event is not None, result.error
    return result.event


def test_older_genai_names_and_indexed_prompts_of_openllmetry() -> None:
    event = mapped({
        "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-sonnet-4-5", "llm.request.type": "chat",
        "gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 20,
        "gen_ai.usage.cache_creation.input_tokens": 7,
        "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "Be kind.",
        "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "Hi",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Hello",
        "gen_ai.completion.0.finish_reason": "stop",
        "traceloop.association.properties.user_id": "u-7", "traceloop.association.properties.session_id": "s-7",
        "traceloop.entity.name": "answer",
    })
    assert (event["provider"], event["model"], event["kind"], event["operation"]) == (
        "Anthropic", "claude-sonnet-4-5", "llm", "chat")
    assert event["usage"] == {"input_tokens": 100, "output_tokens": 20}
    assert event["metadata"]["usage.cache_write_input_tokens"] == 7
    assert event["input"] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    assert event["output"] == [{"role": "assistant", "content": "Hello", "finish_reason": "stop"}]
    assert (event["user_id"], event["session_id"]) == ("u-7", "s-7")


def test_traceloop_workflow_spans_are_chains_with_entity_io() -> None:
    event = mapped({"traceloop.span.kind": "workflow", "traceloop.entity.input": json.dumps({"q": "why"}),
                    "traceloop.entity.output": json.dumps("because")}, name="pipeline.workflow", kind=1)
    assert (event["kind"], event["input"], event["output"]) == ("chain", {"q": "why"}, "because")
    assert "model" not in event and "usage" not in event


def test_openinference_llm_span() -> None:
    event = mapped({
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1", "llm.provider": "openai",
        "llm.token_count.prompt": 50, "llm.token_count.completion": 10, "llm.token_count.total": 60,
        "llm.token_count.prompt_details.cache_read": 20, "llm.token_count.completion_details.reasoning": 4,
        "llm.invocation_parameters": json.dumps({"temperature": 0.5}),
        "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "2+2?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "calc",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"x": 2}',
        "input.value": '{"messages": []}', "input.mime_type": "application/json",
        "session.id": "s-1", "tag.tags": ["a", "b"], "metadata": json.dumps({"tenant": "acme"}),
    }, events=[{"name": "First Token Stream Event", "time": NOW_NS - 60_000_000_000 + 120_000_000}])
    assert (event["kind"], event["model"], event["provider"], event["operation"]) == ("llm", "gpt-4.1", "openai",
                                                                                      "chat")
    assert event["usage"] == {"input_tokens": 50, "output_tokens": 10, "total_tokens": 60,
                              "cached_input_tokens": 20, "reasoning_tokens": 4}
    assert event["input"] == [{"role": "user", "content": "2+2?"}]
    assert event["output"] == [{"role": "assistant", "tool_calls": [{"id": None, "name": "calc",
                                                                     "arguments": {"x": 2}}]}]
    assert event["params"] == {"temperature": 0.5}
    assert event["time_to_first_token_ms"] == 120
    assert (event["session_id"], event["tags"], event["metadata"]["tenant"]) == ("s-1", ["a", "b"], "acme")


def test_langfuse_generation_attributes() -> None:
    start = NOW_NS - 60_000_000_000
    event = mapped({
        "langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o",
        "langfuse.observation.usage_details": json.dumps({"input": 80, "input_cached_tokens": 20, "output": 10}),
        "langfuse.observation.cost_details": json.dumps({"input": 0.001, "output": 0.002}),
        "langfuse.observation.input": json.dumps([{"role": "user", "content": "Hi"}]),
        "langfuse.observation.output": "Hello", "langfuse.observation.prompt.name": "greeter",
        "langfuse.observation.prompt.version": 3, "langfuse.user.id": "u-2", "langfuse.session.id": "s-2",
        "langfuse.environment": "staging", "langfuse.release": "r-5", "langfuse.trace.tags": ["x"],
        "langfuse.observation.metadata.region": '"eu"', "langfuse.trace.metadata.plan": '"pro"',
        "langfuse.observation.completion_start_time": json.dumps(
            __import__("datetime").datetime.fromtimestamp((start + 300_000_000) / 1e9,
                                                          __import__("datetime").timezone.utc).isoformat()),
        "langfuse.observation.level": "ERROR", "langfuse.observation.status_message": "upstream 500",
    }, start_ns=start)
    assert (event["kind"], event["model"]) == ("llm", "gpt-4o")
    assert event["usage"] == {"input_tokens": 100, "output_tokens": 10, "cached_input_tokens": 20}
    assert event["cost_usd"] == 0.003
    assert event["prompt"] == {"name": "greeter", "version": "3"}
    assert (event["user_id"], event["session_id"], event["environment"], event["release"]) == (
        "u-2", "s-2", "staging", "r-5")
    assert event["input"] == [{"role": "user", "content": "Hi"}] and event["output"] == "Hello"
    assert event["metadata"]["region"] == "eu" and event["metadata"]["trace.plan"] == "pro"
    assert abs(event["time_to_first_token_ms"] - 300) < 0.01
    assert event["status"] == "error" and event["error"]["message"] == "upstream 500"


def test_deprecated_genai_events_carry_content() -> None:
    event = mapped({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}, events=[
        {"name": "gen_ai.system.message", "attributes": {"content": "Be brief."}},
        {"name": "gen_ai.user.message", "attributes": {"content": "Hi"}},
        {"name": "gen_ai.choice", "attributes": {"index": 0, "finish_reason": "stop",
                                                 "message": json.dumps({"content": "Hello"})}},
    ])
    assert event["input"] == [{"content": "Be brief.", "role": "system"}, {"content": "Hi", "role": "user"}]
    assert event["output"] == [{"content": "Hello", "role": "assistant", "finish_reason": "stop"}]


def test_errors_from_status_and_exception_events() -> None:
    event = mapped({"error.type": "RateLimitError"}, status=2, message="429 from provider", events=[
        {"name": "exception", "attributes": {"exception.type": "openai.RateLimitError", "exception.message": "slow",
                                             "exception.stacktrace": "Traceback..."}}])
    assert event["status"] == "error"
    assert event["error"] == {"type": "RateLimitError", "message": "429 from provider"}
    assert event["metadata"]["exception.stacktrace"] == "Traceback..."
    handled = mapped({}, status=1, events=[{"name": "exception", "attributes": {"exception.type": "KeyError"}}])
    assert handled["status"] == "ok"


def test_cached_tokens_counted_apart_are_added_back() -> None:
    event = mapped({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.cache_read.input_tokens": 90,
                    "gen_ai.request.model": "claude"})
    assert event["usage"]["input_tokens"] == 100 and event["usage"]["cached_input_tokens"] == 90


def test_unknown_service_is_not_a_feature() -> None:
    event = mapped({}, resource={"service.name": "unknown_service:python", "telemetry.sdk.name": "opentelemetry"})
    assert "feature" not in event and event["kind"] == "other"
    assert "telemetry.sdk.name" not in event["metadata"]


def test_the_first_attribute_of_a_row_wins_whatever_the_order_and_the_span_beats_the_resource() -> None:
    event = mapped({"llm.request.model_name": "asked", "gen_ai.response.model": "answered", "gen_ai.system": "",
                    "llm.provider": "openai", "enduser.id": "u-2", "user.id": "u-1",
                    "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.input_tokens": "not a number"},
                   resource={"user.id": "u-resource", "session.id": "s-resource", "service.name": "shop"})
    assert (event["model"], event["provider"], event["user_id"]) == ("answered", "openai", "u-1")
    assert (event["session_id"], event["feature"]) == ("s-resource", "shop")
    assert event["usage"]["input_tokens"] == 7  # an unreadable count gives way to the next attribute
    assert "resource.service.name" not in event["metadata"]  # already the feature


def test_spans_of_one_resource_map_the_same_with_a_shared_resource_info() -> None:
    resource = {"service.name": "shop", "service.version": "2.1", "deployment.environment": "prod",
                "host.name": "web-1", "telemetry.sdk.name": "opentelemetry"}
    body = protobuf_request([span_dict(attributes={"gen_ai.request.model": "m", "observatory.feature": "search"}),
                             span_dict(attributes={"gen_ai.operation.name": "execute_tool", "custom": [1, 2]})],
                            resource)
    spans = otlp.decode(body, otlp.PROTOBUF)
    info = ResourceInfo(spans[0].resource)
    for span in spans:
        assert span_event(span, info) == span_event(span)
    first, second = (span_event(span, info).event or {} for span in spans)
    assert (first["feature"], first["release"], first["environment"]) == ("search", "2.1", "prod")
    assert first["metadata"]["resource.service.name"] == "shop"
    assert second["feature"] == "shop" and second["metadata"]["custom"] == [1, 2]
    assert second["metadata"]["resource.host.name"] == "web-1"


def test_values_over_the_column_size_are_cut_with_a_warning() -> None:
    body = protobuf_request([span_dict(name="n" * 300, attributes={"gen_ai.request.model": "m" * 250,
                                                                    "user.id": "u"})])
    result = span_event(otlp.decode(body, otlp.PROTOBUF)[0])
    assert result.event is not None
    assert (len(result.event["name"]), len(result.event["model"]), result.event["user_id"]) == (255, 200, "u")
    assert result.warnings == ["cut to the column size: name, model"]


def test_bad_ids_are_refused_with_the_reason() -> None:
    def error(**ids: str) -> str:
        body = protobuf_request([span_dict(**ids)])
        return span_event(otlp.decode(body, otlp.PROTOBUF)[0]).error

    assert error(trace_id="00" * 16) == "traceId is all zeros, which OpenTelemetry defines as invalid"
    assert error(span_id="ab" * 4).startswith("spanId must be 8 bytes (16 hex characters)")
    assert error(parent="ab" * 4).startswith("parentSpanId must be 8 bytes")
    assert error(parent="00" * 8) == ""  # an all-zero parent means no parent
