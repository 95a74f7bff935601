"""Build OTLP ExportTraceServiceRequests (protobuf messages and OTLP/JSON) for tests."""
from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

NOW_NS = time.time_ns()


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(v)) for k, v in value.items())
        return out
    return AnyValue(string_value=str(value))


def span_dict(trace_id: str | None = None, span_id: str | None = None, *, parent: str = "", name: str = "chat gpt-4o",
              attributes: dict[str, Any] | None = None, events: list[dict[str, Any]] | None = None,
              start_ns: int | None = None, duration_ms: float = 850, status: int = 0, message: str = "",
              kind: int = 3) -> dict[str, Any]:
    start = NOW_NS - 60_000_000_000 if start_ns is None else start_ns
    return {"trace_id": trace_id or new_trace_id(), "span_id": span_id or new_span_id(), "parent": parent,
            "name": name, "kind": kind, "start": start, "end": start + int(duration_ms * 1e6),
            "attributes": attributes or {}, "events": events or [], "status": status, "message": message}


def protobuf_request(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None,
                     scope: str = "tests.otlp") -> bytes:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in (resource or {}).items())
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    for s in spans:
        span = Span(trace_id=bytes.fromhex(s["trace_id"]) if _is_hex(s["trace_id"]) else s["trace_id"].encode(),
                    span_id=bytes.fromhex(s["span_id"]) if _is_hex(s["span_id"]) else s["span_id"].encode(),
                    parent_span_id=bytes.fromhex(s["parent"]) if s["parent"] else b"", name=s["name"],
                    kind=s["kind"], start_time_unix_nano=s["start"], end_time_unix_nano=s["end"],
                    status=Status(code=s["status"], message=s["message"]))
        span.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in s["attributes"].items())
        for e in s["events"]:
            event = span.events.add(name=e["name"], time_unix_nano=e.get("time", s["start"]))
            event.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in e.get("attributes", {}).items())
        ss.spans.append(span)
    return request.SerializeToString()


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
        return True
    except ValueError:
        return False


def json_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [json_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": json_value(v)} for k, v in value.items()]}}
    return {"stringValue": str(value)}


def json_request(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": k, "value": json_value(v)} for k, v in (resource or {}).items()]},
        "scopeSpans": [{"scope": {"name": "tests.otlp"}, "spans": [{
            "traceId": s["trace_id"], "spanId": s["span_id"], "parentSpanId": s["parent"], "name": s["name"],
            "kind": s["kind"], "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
            "attributes": [{"key": k, "value": json_value(v)} for k, v in s["attributes"].items()],
            "events": [{"name": e["name"], "timeUnixNano": str(e.get("time", s["start"])),
                        "attributes": [{"key": k, "value": json_value(v)} for k, v in e.get("attributes", {}).items()]}
                       for e in s["events"]],
            "status": {"code": s["status"], "message": s["message"]}} for s in spans]}]}]}).encode()


GENAI_CHAT = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 200,
    "gen_ai.usage.reasoning.output_tokens": 50, "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 512,
    "gen_ai.response.finish_reasons": ["stop"], "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.conversation.id": "conv-9", "user.id": "u-1",
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hello?"}]}]),
    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}],
                                           "finish_reason": "stop"}]),
    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
    "http.route": "/chat",
}
