"""Mapped spans become native items without the JSON round trip, and exactly as parse_item makes them."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest

from ingest import limits
from ingest.otel import otlp
from ingest.otel.conventions import span_event
from ingest.otel.items import span_item
from ingest.otel.mapping import Budget, fill, params_of
from ingest.otel.services import _strip_nul, spans_to_items
from ingest.validation import Item, parse_item
from tests.ingest.otlp_payloads import GENAI_CHAT, NOW_NS, json_request, protobuf_request, span_dict

RECEIVED = datetime.now(timezone.utc)  # span_item checks the time window against the clock
START = NOW_NS - 60_000_000_000

# One span of each shape the conventions tests cover, plus the cases span_item leaves to parse_item.
SPANS: list[dict[str, Any]] = [
    span_dict(attributes=GENAI_CHAT),
    span_dict(attributes={**GENAI_CHAT, "gen_ai.usage.cost": 0.0123, "langfuse.observation.prompt.name": "greeter",
                          "langfuse.observation.prompt.version": 3, "langfuse.trace.tags": ["a", "b"]}),
    span_dict(name="invoke_agent support", kind=1, attributes={"gen_ai.operation.name": "invoke_agent",
                                                               "user.id": "u-1", "session.id": "s-1"}),
    span_dict(name="execute_tool lookup", kind=1, attributes={"gen_ai.operation.name": "execute_tool",
                                                              "gen_ai.tool.name": "lookup", "custom": [1, 2.5]}),
    span_dict(attributes={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1", "llm.provider": "OpenAI",
                          "llm.token_count.prompt": 50, "llm.token_count.completion": 10,
                          "llm.invocation_parameters": json.dumps({"temperature": 0.5}),
                          "llm.input_messages.0.message.role": "user",
                          "llm.input_messages.0.message.content": "2+2?", "tag.tags": ["x"],
                          "metadata": json.dumps({"tenant": "acme", "n": 1})},
              events=[{"name": "First Token Stream Event", "time": START + 120_000_000}]),
    span_dict(attributes={"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "doc A",
                          "retrieval.documents.0.document.score": 0.9}),
    span_dict(attributes={"langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o",
                          "langfuse.observation.usage_details": json.dumps({"input": 80, "output": 10}),
                          "langfuse.observation.cost_details": json.dumps({"input": 1e-7, "output": 2e-7}),
                          "langfuse.observation.input": json.dumps([{"role": "user", "content": "Hi"}]),
                          "langfuse.observation.output": "Hello", "langfuse.observation.metadata.region": '"eu"',
                          "langfuse.observation.level": "ERROR", "langfuse.observation.status_message": "boom"}),
    span_dict(attributes={"error.type": "RateLimitError"}, status=2, message="429", events=[
        {"name": "exception", "attributes": {"exception.type": "RateLimitError", "exception.stacktrace": "Tb"}}]),
    span_dict(attributes={"gen_ai.system": "openai"}, events=[
        {"name": "gen_ai.user.message", "attributes": {"content": "Hi"}},
        {"name": "gen_ai.choice", "attributes": {"message": json.dumps({"content": "Hello"})}}]),
    span_dict(name="n" * 300, attributes={"gen_ai.request.model": "m" * 250, "big": "z" * 5000}),
    span_dict(attributes={"user.id": "café ☕", "note": "line\nbreak \"quoted\" \\ back"}),
    # Left to parse_item: it refuses or changes these.
    span_dict(duration_ms=-5),  # end before start
    span_dict(attributes={"note": "a\x00b"}),  # NUL: stripped by the receiver on the JSON path
    span_dict(attributes={"user.id": "a\x00b"}),
    span_dict(attributes={"note": "a literal \\u0000"}),
    span_dict(start_ns=0),  # no start time
]


def mapped_spans(body: bytes, encoding: str = otlp.PROTOBUF) -> list[Any]:
    return [span_event(span) for span in otlp.decode(body, encoding)]


def plain(item: Item) -> tuple[Any, ...]:
    row = {k: bytes(v) if isinstance(v, msgspec.Raw) else v for k, v in item.row.items()}
    return item.index, item.type, item.id, row, [(e.field, e.message) for e in item.errors]


def json_item(index: int, event: dict[str, Any]) -> Item:
    return parse_item(index, msgspec.Raw(msgspec.json.encode(event)), RECEIVED)


def test_span_item_makes_the_row_parse_item_makes() -> None:
    fast = 0
    for body, encoding in ((protobuf_request(SPANS), otlp.PROTOBUF), (json_request(SPANS), otlp.JSON)):
        for index, result in enumerate(mapped_spans(body, encoding)):
            assert result.event is not None, result.error
            item = span_item(index, result.event, result.encoded)
            if item is not None:
                fast += 1
                expected = json_item(index, result.event)
                assert plain(item) == plain(expected)
                assert [type(v) for v in item.row.values()] == [type(v) for v in expected.row.values()]
    assert fast == 2 * (len(SPANS) - 5)


def test_what_span_item_does_not_vouch_for_is_left_to_parse_item() -> None:
    results = mapped_spans(protobuf_request(SPANS[-5:]))
    assert [span_item(0, r.event, r.encoded) for r in results] == [None] * 5
    event = mapped_spans(protobuf_request([span_dict(attributes=GENAI_CHAT)]))[0].event
    for change in ({"kind": "robot"}, {"usage": {"input_tokens": -1}}, {"usage": {"input_tokens": 1, "cached": 1}},
                   {"usage": {"input_tokens": 1, "cached_input_tokens": 2}}, {"cost_usd": float("nan")},
                   {"cost_usd": 2e6}, {"tags": [""]}, {"model": "m" * 201}, {"id": None}, {"unknown": 1},
                   {"timestamp": "2026-01-01T00:00:00Z"}, {"time_to_first_token_ms": -1.0},
                   {"prompt": {"version": 3}}, {"error": {"type": 1}}, {"params": ["a"]}):
        assert span_item(0, {**event, **change}) is None, change


def test_the_encodings_handed_over_are_those_of_the_event() -> None:
    for result in mapped_spans(protobuf_request(SPANS)):
        assert result.encoded, result.event
        for name, data in result.encoded.items():
            assert data == msgspec.json.encode(result.event[name])


def test_spans_to_items_gives_the_items_of_the_json_path() -> None:
    spans = otlp.decode(protobuf_request(SPANS + [span_dict(span_id="abc")]), otlp.PROTOBUF)
    items, warnings = spans_to_items(spans, RECEIVED)
    assert len(items) == len(spans)
    for index, span in enumerate(spans):
        result = span_event(span)
        if result.event is None:
            assert items[index].errors[0].message == result.error
            continue
        raw = msgspec.json.encode(result.event)  # the JSON path, as the receiver took it for every span
        if b"\\u0000" in raw:
            raw = msgspec.json.encode(_strip_nul(result.event))
        assert plain(items[index]) == plain(parse_item(index, msgspec.Raw(raw), RECEIVED))
    assert sum("NUL characters removed" in w for w in warnings) == 3
    assert items[11].errors[0].message == "is before timestamp"
    assert b'"note":"ab"' in bytes(items[12].row["metadata"])


@pytest.mark.parametrize("limit", [40, 120, 300, 2000])
def test_fill_adds_what_a_budget_adds(limit: int) -> None:
    rng = random.Random(limit)
    for _ in range(300):
        entries = [(rng.choice(["k", "key", "é", "a\"b", f"k{rng.randint(0, 9)}"]),
                    rng.choice([1, 2.5, True, None, "x" * rng.randint(0, 60), "\n" * 5, ["a", 1], {"b": "c"},
                                "y" * 2000]))
                   for _ in range(rng.randint(0, 6))]
        sized = [("resource.host.name", "web-1", len("resource.host.name") + 7 + 6)] * rng.randint(0, 1)
        start = rng.choice([{}, {"otel.scope": "s"}])
        budget_target = dict(start)
        budget = Budget(budget_target, limit)
        for key, value in entries:
            budget.add(key, value)
        for key, value, size in sized:
            budget.add_sized(key, value, size)
        target = dict(start)
        data, dropped = fill(target, entries, sized, limit)
        assert (target, list(target), dropped) == (budget_target, list(budget_target), budget.dropped)
        assert data is None or data == msgspec.json.encode(target)


def test_large_metadata_still_goes_through_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_METADATA_BYTES", 2048)
    attributes = {f"custom.attr_{i}": "z" * 300 for i in range(10)}
    result = mapped_spans(protobuf_request([span_dict(attributes=attributes)]))[0]
    assert result.event is not None and "metadata" not in result.encoded
    assert 0 < result.event["metadata"]["observatory.dropped_attributes"] < 10
    item = span_item(0, result.event, result.encoded)
    assert item is not None and plain(item) == plain(json_item(0, result.event))


def test_params_are_bounded_as_a_budget_bounds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_METADATA_BYTES", 400)
    for params in ({"temperature": 0.2, "max_tokens": 1024}, {f"p{i}": "x" * 30 for i in range(12)},
                   {"stop_sequences": ["a"] * 3, "seed": 7}, {"stream": True, "top_p": 1.0}, {"x": "y" * 2000}):
        out, data = params_of({}, {"gen_ai.request.": {"model": "m", **params}}, "m")
        expected: dict[str, Any] = {}
        budget = Budget(expected, 400 - 256)
        for key, value in params.items():
            budget.add(key, value)
        assert (out, list(out)) == (expected, list(expected))
        assert data is None or data == msgspec.json.encode(out)
