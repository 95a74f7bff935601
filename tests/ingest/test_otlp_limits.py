"""OTLP receiver hardening: deep attribute values, absurd times and numbers refuse one span, never the export."""
from __future__ import annotations

import json
from typing import Any

import pytest

from ingest import limits
from telemetry.models import Call, CallPayload
from tests.ingest.otlp_payloads import GENAI_CHAT, json_request, protobuf_request, span_dict
from tests.ingest.test_otlp_apis import pb_answer, post

pytestmark = pytest.mark.django_db
JSON = "application/json"


def kvlist(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(levels):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def array(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"intValue": "1"}
    for _ in range(levels):
        value = {"arrayValue": {"values": [value]}}
    return value


def with_attribute(body: bytes, index: int, value: dict[str, Any]) -> bytes:
    # json.dumps recurses too: splice the deep value in as text.
    request = json.loads(body)
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][index]["attributes"].append(
        {"key": "deep", "value": "__DEEP__"})
    return json.dumps(request).encode().replace(b'"__DEEP__"', _dumps(value))


def _dumps(value: dict[str, Any]) -> bytes:
    opening, node = [], value
    while "stringValue" not in node and "intValue" not in node:
        if "kvlistValue" in node:
            opening.append(('{"kvlistValue": {"values": [{"key": "k", "value": ', "}]}}"))
            node = node["kvlistValue"]["values"][0]["value"]
        else:
            opening.append(('{"arrayValue": {"values": [', "]}}"))
            node = node["arrayValue"]["values"][0]
    return ("".join(o for o, _ in opening) + json.dumps(node) + "".join(c for _, c in reversed(opening))).encode()


@pytest.mark.parametrize("deep", [kvlist(limits.MAX_DEPTH + 1), kvlist(500), kvlist(1000), array(500), array(1000)],
                         ids=["kvlist-65", "kvlist-500", "kvlist-1000", "array-500", "array-1000"])
def test_a_deep_otlp_json_attribute_refuses_its_span_only(ingest_key: str, project: Any, deep: Any) -> None:
    spans = [span_dict(attributes=GENAI_CHAT), span_dict(attributes=GENAI_CHAT)]
    response = post(with_attribute(json_request(spans), 0, deep), ingest_key, content_type=JSON)
    assert response.status_code == 200, response.content
    answer = response.json()["partialSuccess"]
    assert answer["rejectedSpans"] == "1" and "OBSERVATORY_INGEST_MAX_DEPTH" in answer["errorMessage"]
    assert list(Call.objects.filter(project=project).values_list("external_id", flat=True)) == [
        f"{spans[1]['trace_id']}:{spans[1]['span_id']}"]


def test_an_attribute_at_the_depth_limit_is_kept(ingest_key: str, project: Any) -> None:
    spans = [span_dict(attributes=GENAI_CHAT)]
    response = post(with_attribute(json_request(spans), 0, kvlist(limits.MAX_DEPTH - 1)), ingest_key,
                    content_type=JSON)
    assert response.status_code == 200 and response.json() == {}


@pytest.mark.parametrize("levels", [500, 1000, 5000])
def test_deep_json_text_in_a_protobuf_attribute_is_kept_as_text(ingest_key: str, project: Any, levels: int) -> None:
    deep = "[" * levels + "]" * levels
    span = span_dict(attributes={**GENAI_CHAT, "gen_ai.input.messages": deep, "metadata": deep})
    response = post(protobuf_request([span, span_dict(attributes=GENAI_CHAT)]), ingest_key)
    assert response.status_code == 200, response.content
    assert Call.objects.filter(project=project).count() == 2
    payload = CallPayload.objects.get(call__external_id=f"{span['trace_id']}:{span['span_id']}")
    assert payload.input[-1] == deep


@pytest.mark.parametrize("start", ["9" * 400, "-1", str(2**64)])
def test_an_impossible_start_time_refuses_its_span(ingest_key: str, project: Any, start: str) -> None:
    spans = [span_dict(attributes=GENAI_CHAT), span_dict(attributes=GENAI_CHAT)]
    request = json.loads(json_request(spans))
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = start
    response = post(json.dumps(request).encode(), ingest_key, content_type=JSON)
    assert response.status_code == 200, response.content
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert Call.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("start_ns", [1, 2**64 - 10**12])  # 1970 and 2554, the last nanosecond OTLP holds
def test_a_span_outside_the_time_window_is_refused_and_said(ingest_key: str, project: Any, start_ns: int) -> None:
    spans = [span_dict(attributes=GENAI_CHAT, start_ns=start_ns), span_dict(attributes=GENAI_CHAT)]
    answer = pb_answer(post(protobuf_request(spans), ingest_key))
    assert answer.partial_success.rejected_spans == 1
    assert "outside the accepted window" in answer.partial_success.error_message
    assert Call.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("tokens", [-5, 2**31, 2**40])
def test_a_token_count_out_of_range_is_left_out_and_said(ingest_key: str, project: Any, tokens: int) -> None:
    attributes = {**GENAI_CHAT, "gen_ai.usage.input_tokens": tokens}
    del attributes["gen_ai.usage.cache_read.input_tokens"]
    span = span_dict(attributes=attributes)
    answer = pb_answer(post(protobuf_request([span]), ingest_key))
    assert answer.partial_success.rejected_spans == 0
    assert f"input_tokens {tokens} is not a token count" in answer.partial_success.error_message
    call = Call.objects.get(project=project)
    assert call.input_tokens is None and call.output_tokens == 300


@pytest.mark.parametrize("cost", [-1.0, 2e6, float("inf"), float("nan")])
def test_a_cost_out_of_range_refuses_the_span_and_says_why(ingest_key: str, project: Any, cost: float) -> None:
    spans = [span_dict(attributes={**GENAI_CHAT, "gen_ai.usage.cost": cost}), span_dict(attributes=GENAI_CHAT)]
    answer = pb_answer(post(protobuf_request(spans), ingest_key))
    assert answer.partial_success.rejected_spans == 1
    assert "cost_usd" in answer.partial_success.error_message
    assert Call.objects.filter(project=project).count() == 1


def test_an_infinite_parameter_is_kept_as_text_not_null(ingest_key: str, project: Any) -> None:
    span = span_dict(attributes={**GENAI_CHAT, "gen_ai.request.temperature": float("inf"),
                                 "custom.ratio": float("nan")})
    assert post(protobuf_request([span]), ingest_key).status_code == 200
    call = Call.objects.get(project=project)
    assert call.params["temperature"] == "inf" and call.metadata["custom.ratio"] == "nan"


def test_a_first_token_after_the_span_ended_refuses_it_and_says_why(ingest_key: str, project: Any) -> None:
    span = span_dict(attributes={**GENAI_CHAT, "gen_ai.response.time_to_first_chunk": 5.0}, duration_ms=850)
    answer = pb_answer(post(protobuf_request([span, span_dict(attributes=GENAI_CHAT)]), ingest_key))
    assert answer.partial_success.rejected_spans == 1
    assert "time_to_first_token_ms" in answer.partial_success.error_message


def _ld(field: int, payload: bytes) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while n > 0x7F:
            out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
        return out + bytes([n])
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def test_a_protobuf_kvlist_past_the_parsers_limit_is_400_with_a_message(ingest_key: str) -> None:
    value = _ld(1, b"x")  # AnyValue.string_value; built by hand, the protobuf library cannot build it
    for _ in range(1000):
        value = _ld(6, _ld(1, _ld(1, b"k") + _ld(2, value)))  # kvlist_value { values { key, value } }
    span = _ld(1, b"\x01" * 16) + _ld(2, b"\x02" * 8) + _ld(9, _ld(1, b"deep") + _ld(2, value))
    response = post(_ld(1, _ld(2, _ld(2, span))), ingest_key)
    assert response.status_code == 400 and b"not a protobuf ExportTraceServiceRequest" in response.content
