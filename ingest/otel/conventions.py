"""Map one OTLP span (with its resource and scope) onto a native `span` event.

The tables live in tables.py (one row per native field, attributes highest priority first: the
first attribute of a row that is present wins, span attributes before resource attributes), the
prompt/completion sources in content.py. A span is read in one pass over its own attributes:
each one is looked up once in the per-key tables, then the fields are assembled. What a span
takes from its resource is worked out once per resource (`ResourceInfo`), not once per span.
What no table knows goes to `metadata`, bounded. docs/otel.md is the reader's copy of the tables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ingest import limits
from ingest.otel import content
from ingest.otel.content import maybe_json, text
from ingest.otel.mapping import (
    ResourceInfo, bound_payloads, cost_of, first, kind_of, metadata_of, params_of, status_of, tags_of, to_int,
    ttft_ms, usage_of,
)
from ingest.otel.otlp import OtlpSpan
from ingest.otel.tables import (
    DETAILS_EVENT, FAMILY, FINISH_REASON_KEYS, INPUT_SOURCES, OPERATION_BY_ATTRIBUTE, OTHER, OUTPUT_SOURCES,
    PAYLOAD_FAMILIES, PAYLOAD_KEYS, RESPONSE_ID_KEYS, ROLES, SPAN_KIND_NAMES, STRING, STRING_LIMITS, TOKEN,
    attribute_role,
)

__all__ = ["Mapped", "ResourceInfo", "external_id", "span_event"]

_HEX = re.compile(r"^[0-9a-f]+$")
_HEX_DIGITS = "0123456789abcdef"
_MAX_NAME = limits.MAX_NAME


@dataclass
class Mapped:
    """A native span event, or why the span cannot be one; warnings go to partial_success."""

    event: dict[str, Any] | None = None
    error: str = ""
    warnings: list[str] = field(default_factory=list)


def external_id(trace_id: str, span_id: str) -> str:
    """The call id of a span: unique per project because span ids are unique within a trace."""
    return f"{trace_id}:{span_id}"


def _id_error(value: str, hex_length: int, what: str) -> str:
    if len(value) != hex_length or (value.strip(_HEX_DIGITS) and not _HEX.match(value)):
        return f"{what} must be {hex_length // 2} bytes ({hex_length} hex characters), got {value[:80]!r}"
    if value.count("0") == hex_length:
        return f"{what} is all zeros, which OpenTelemetry defines as invalid"
    return ""


# --- the mapping ----------------------------------------------------------------------------------

def span_event(span: OtlpSpan, resource_info: ResourceInfo | None = None) -> Mapped:
    """The native `span` event for one OTLP span. Pass the span's `ResourceInfo` when mapping many
    spans of one resource; it is worked out here otherwise."""
    if span.decode_error:
        return Mapped(error=span.decode_error)
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if not (len(trace_id) == 32 and len(span_id) == 16 and not (trace_id + span_id).strip(_HEX_DIGITS)
            and trace_id.count("0") != 32 and span_id.count("0") != 16):  # else find what is wrong
        if problem := _id_error(trace_id, 32, "traceId") or _id_error(span_id, 16, "spanId"):
            return Mapped(error=problem)
    if parent and parent.count("0") == len(parent):
        parent = ""  # an all-zero parent is "no parent"
    if parent and (len(parent) != 16 or parent.strip(_HEX_DIGITS)) and (
            problem := _id_error(parent, 16, "parentSpanId")):
        return Mapped(error=problem)
    info = resource_info if resource_info is not None else ResourceInfo(span.resource)

    # One pass over the attributes: table fields (best priority wins), indexed families, the rest.
    attrs = span.attributes
    strings: dict[str, tuple[int, Any]] = {}
    tokens: dict[str, tuple[int, int]] = {}
    families: dict[str, dict[str, Any]] = {}
    unmapped: list[tuple[str, Any]] = []
    for key, value in attrs.items():
        role = ROLES.get(key) or attribute_role(key)
        kind = role[0]
        if kind == STRING:
            if value is not None and value != "":
                held = strings.get(role[1])
                if held is None or role[2] < held[0]:
                    strings[role[1]] = (role[2], value)
        elif kind == TOKEN:
            if (number := to_int(value)) is not None:
                held = tokens.get(role[1])
                if held is None or role[2] < held[0]:
                    tokens[role[1]] = (role[2], number)
        elif kind == FAMILY:
            family = families.get(role[1])
            if family is None:
                family = families[role[1]] = {}
            family[role[2]] = value
        elif kind == OTHER:
            unmapped.append((key, value))

    result = Mapped()
    warnings = result.warnings
    event: dict[str, Any] = {"type": "span", "id": f"{trace_id}:{span_id}", "trace_id": trace_id,
                             "name": span.name}
    if parent:
        event["parent_id"] = f"{trace_id}:{parent}"
    over = len(span.name) > _MAX_NAME or info.over
    for name, (_, value) in strings.items():
        event[name] = value = value if type(value) is str else text(value)
        if len(value) > STRING_LIMITS[name]:
            over = True
    for name, value in info.strings.items():
        if name not in strings:
            event[name] = value
    feature = event.get("feature")
    if feature is not None and feature.startswith("unknown_service"):
        del event["feature"]  # the SDK's placeholder when no service.name was configured
    if "operation" not in event:
        for key, table in OPERATION_BY_ATTRIBUTE:
            if isinstance(attrs.get(key), str) and attrs[key] in table:
                event["operation"] = table[attrs[key]]
                break
    if over:
        truncated = [name for name, limit in STRING_LIMITS.items() if len(event.get(name, "")) > limit]
        for name in truncated:
            event[name] = event[name][: STRING_LIMITS[name]]
        if truncated:
            warnings.append(f"cut to the column size: {', '.join(truncated)}")

    usage = {name: number for name, (_, number) in tokens.items()}
    if usage or "langfuse.observation.usage_details" in attrs:
        usage = usage_of(attrs, usage, warnings)
    cache_write = usage.pop("cache_write_input_tokens", None)
    if usage:
        event["usage"] = usage
    event["kind"] = kind_of(attrs, event.get("model", ""), usage)
    if (cost := cost_of(attrs)) is not None:
        event["cost_usd"] = cost

    if span.start_ns:
        event["timestamp"] = span.start_ns / 1e9
    if span.end_ns:
        event["end_time"] = span.end_ns / 1e9
    if (ttft := ttft_ms(span, attrs)) is not None and ttft <= limits.MAX_LATENCY_MS:
        event["time_to_first_token_ms"] = ttft

    metadata: dict[str, Any] = {}
    status_of(span, attrs, event, metadata)
    if "prompt_name" in event or "prompt_version" in event:
        event["prompt"] = {k: event.pop(f"prompt_{k}") for k in ("name", "version") if f"prompt_{k}" in event}

    details: dict[str, Any] = {}
    event_inputs: list[Any] = []
    event_outputs: list[Any] = []
    if span.events:
        for e in span.events:
            if e.name == DETAILS_EVENT:
                details = e.attributes
        event_inputs, event_outputs = content.event_messages(span)
    for name, sources, found in (("input", INPUT_SOURCES, event_inputs), ("output", OUTPUT_SOURCES, event_outputs)):
        if not span.events and PAYLOAD_KEYS[name].isdisjoint(attrs) and not (
                families and any(prefix in families for prefix in PAYLOAD_FAMILIES[name])):
            continue  # no source of this payload on the span
        value = content.payload(sources, attrs, families, found, details)
        if value is not None:
            event[name] = value
    if (documents := content.context(families)) is not None:
        event["context"] = documents
    if params := params_of(attrs, families, event.get("model", "")):
        event["params"] = params
    if tags := tags_of(attrs):
        event["tags"] = tags

    if span.kind in SPAN_KIND_NAMES:
        metadata["otel.span_kind"] = SPAN_KIND_NAMES[span.kind]
    if span.scope_name:
        metadata["otel.scope"] = span.scope_name + (f"@{span.scope_version}" if span.scope_version else "")
    if cache_write is not None:
        metadata["usage.cache_write_input_tokens"] = cache_write
    finish = maybe_json(first(FINISH_REASON_KEYS, attrs))
    if finish is not None:
        metadata["finish_reasons"] = finish if isinstance(finish, list) else [finish]
    if (response_id := first(RESPONSE_ID_KEYS, attrs)) is not None:
        metadata["response_id"] = text(response_id)
    metadata_of(info, attrs, families, unmapped, metadata, event)
    event["metadata"] = metadata
    bound_payloads(event, warnings)
    result.event = event
    return result
