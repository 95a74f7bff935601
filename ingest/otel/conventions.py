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
    ResourceInfo,
    bound_payloads,
    cost_of,
    first,
    kind_of,
    metadata_of,
    params_of,
    status_of,
    tags_of,
    to_int,
    ttft_ms,
    usage_of,
)
from ingest.otel.otlp import OtlpSpan
from ingest.otel.tables import (
    DETAILS_EVENT,
    FAMILY,
    FINISH_REASON_KEYS,
    INPUT_SOURCES,
    KNOWN,
    OPERATION_BY_ATTRIBUTE,
    OUTPUT_SOURCES,
    PAYLOAD_FAMILIES,
    READS_COST,
    READS_FINISH,
    READS_FIRST_TOKEN,
    READS_INPUT,
    READS_LEVEL,
    READS_OUTPUT,
    READS_PARAMS,
    READS_RESPONSE_ID,
    READS_TAGS,
    READS_USAGE_DETAILS,
    RESPONSE_ID_KEYS,
    ROLES,
    SPAN_KIND_NAMES,
    STRING,
    STRING_LIMITS,
    TOKEN,
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
    # The JSON of the event's params, metadata, input, output or context when the mapping made it
    # while bounding them, so that items.span_item need not encode them again.
    encoded: dict[str, bytes] = field(default_factory=dict)


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
    hex_ids = span.hex_ids  # protobuf ids need no hex check (the strip is a good part of this one)
    if not (len(trace_id) == 32 and len(span_id) == 16 and (hex_ids or not (trace_id + span_id).strip(_HEX_DIGITS))
            and trace_id.count("0") != 32 and span_id.count("0") != 16):  # else find what is wrong
        if problem := _id_error(trace_id, 32, "traceId") or _id_error(span_id, 16, "spanId"):
            return Mapped(error=problem)
    if parent and parent.count("0") == len(parent):
        parent = ""  # an all-zero parent is "no parent"
    if parent and (len(parent) != 16 or not hex_ids and parent.strip(_HEX_DIGITS)) and (
            problem := _id_error(parent, 16, "parentSpanId")):
        return Mapped(error=problem)
    info = resource_info if resource_info is not None else ResourceInfo(span.resource)

    # One pass over the attributes: table fields (best priority wins), indexed families, the bits of
    # the steps below that have something to read (tables.READS), the rest.
    attrs = span.attributes
    strings: dict[str, Any] = {}
    string_rank: dict[str, int] = {}
    usage: dict[str, int] = {}
    token_rank: dict[str, int] = {}
    families: dict[str, dict[str, Any]] = {}
    unmapped: list[tuple[str, Any]] = []
    reads = 0
    for key, value in attrs.items():
        role = ROLES.get(key) or attribute_role(key)
        kind = role[0]
        if kind == STRING:
            if value is not None and value != "":
                name = role[1]
                if name not in strings or role[2] < string_rank[name]:
                    strings[name] = value
                    string_rank[name] = role[2]
        elif kind == TOKEN:
            if (number := to_int(value)) is not None:
                name = role[1]
                if name not in usage or role[2] < token_rank[name]:
                    usage[name] = number
                    token_rank[name] = role[2]
        elif kind == KNOWN:
            reads |= role[1]
        elif kind == FAMILY:
            family = families.get(role[1])
            if family is None:
                family = families[role[1]] = {}
            family[role[2]] = value
        else:
            unmapped.append((key, value))

    result = Mapped()
    warnings = result.warnings
    event: dict[str, Any] = {"type": "span", "id": f"{trace_id}:{span_id}", "trace_id": trace_id,
                             "name": span.name}
    if parent:
        event["parent_id"] = f"{trace_id}:{parent}"
    over = len(span.name) > _MAX_NAME or info.over
    for name, value in strings.items():
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

    if usage or reads & READS_USAGE_DETAILS:
        usage = usage_of(attrs, usage, warnings)
    cache_write = usage.pop("cache_write_input_tokens", None)
    if usage:
        event["usage"] = usage
    event["kind"] = kind_of(attrs, event.get("model", ""), usage, reads)
    if reads & READS_COST and (cost := cost_of(attrs)) is not None:
        event["cost_usd"] = cost

    if span.start_ns:
        event["timestamp"] = span.start_ns / 1e9
    if span.end_ns:
        event["end_time"] = span.end_ns / 1e9
    if (reads & READS_FIRST_TOKEN or span.events) and (ttft := ttft_ms(span, attrs)) is not None \
            and ttft <= limits.MAX_LATENCY_MS:
        event["time_to_first_token_ms"] = ttft

    metadata: dict[str, Any] = {}
    if span.events or reads & READS_LEVEL or span.status_code == 2 or "error_type" in event:
        status_of(span, attrs, event, metadata)
    else:
        event["status"] = "ok"  # what status_of finds when nothing can say otherwise
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
    for name, sources, found, bit in (("input", INPUT_SOURCES, event_inputs, READS_INPUT),
                                      ("output", OUTPUT_SOURCES, event_outputs, READS_OUTPUT)):
        if not span.events and not reads & bit and not (
                families and any(prefix in families for prefix in PAYLOAD_FAMILIES[name])):
            continue  # no source of this payload on the span
        value = content.payload(sources, attrs, families, found, details)
        if value is not None:
            event[name] = value
    if families and (documents := content.context(families)) is not None:
        event["context"] = documents
    if families or reads & READS_PARAMS or "gen_ai.request.model" in attrs:
        params, encoded = params_of(attrs, families, event.get("model", ""), reads)
        if params:
            event["params"] = params
            if encoded is not None:
                result.encoded["params"] = encoded
    if reads & READS_TAGS and (tags := tags_of(attrs)):
        event["tags"] = tags

    if span.kind in SPAN_KIND_NAMES:
        metadata["otel.span_kind"] = SPAN_KIND_NAMES[span.kind]
    if span.scope_name:
        metadata["otel.scope"] = span.scope_name + (f"@{span.scope_version}" if span.scope_version else "")
    if cache_write is not None:
        metadata["usage.cache_write_input_tokens"] = cache_write
    if reads & READS_FINISH:
        finish = maybe_json(first(FINISH_REASON_KEYS, attrs))
        if finish is not None:
            metadata["finish_reasons"] = finish if isinstance(finish, list) else [finish]
    if reads & READS_RESPONSE_ID and (response_id := first(RESPONSE_ID_KEYS, attrs)) is not None:
        metadata["response_id"] = text(response_id)
    encoded = metadata_of(info, attrs, families, unmapped, metadata, event, reads)
    if encoded is not None:
        result.encoded["metadata"] = encoded
    event["metadata"] = metadata
    bound_payloads(event, warnings, result.encoded)
    result.event = event
    return result
