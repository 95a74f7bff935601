"""A mapped span as a native ingest `Item`, without encoding it to JSON and parsing it back.

The conventions module builds events within the native limits, so sending each one through
`ingest.validation.parse_item` (msgspec encode, typed decode, then `_call_row`) mostly re-checked
what was already known, at ~15 µs a span, a fifth of the receiver's own Python time. `span_item`
builds the same row from the event dict in about half that, and takes the JSON the mapping already
made of params, metadata and payloads. It handles only the plain case: when anything is missing,
of an unexpected type, out of range or holds a NUL character, it returns None and the caller takes
`parse_item`, so every refusal and its message stays that of POST /api/v1/ingest.
tests/ingest/test_otlp_items.py checks that both give the same rows.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, get_args

import msgspec
from msgspec.inspect import FloatType, StrType, UnionType, type_info

from ingest import limits
from ingest.schema import CallEvent, CallKind, ErrorInfo, PromptRef, Usage
from ingest.validation import Item

_encode = msgspec.json.encode
_fromtimestamp = datetime.fromtimestamp
_time = time.time
_UTC = timezone.utc
_EMPTY_OBJECT = msgspec.Raw(b"{}")
_COST_QUANTUM = Decimal(1).scaleb(-limits.COST_DECIMALS)


def _schema_bounds() -> tuple[dict[str, int], float]:
    """From the schema itself, so the two cannot drift: the plain string fields of a call with their
    maximum length, and the upper bound of `timestamp` / `end_time`."""
    strings: dict[str, int] = {}
    timestamp_max = 0.0
    for f in type_info(CallEvent).fields:  # type: ignore[attr-defined]
        if isinstance(f.type, StrType) and f.type.max_length is not None:
            strings[f.name] = f.type.max_length
        elif f.name == "timestamp" and isinstance(f.type, UnionType):
            timestamp_max = next(t.le for t in f.type.types if isinstance(t, FloatType))
    return strings, timestamp_max


_STRING_LIMITS, _MAX_TIMESTAMP = _schema_bounds()
_STRINGS = ("trace_id", "parent_id", "name", "provider", "model", "operation", "user_id", "session_id", "feature",
            "team", "environment", "release")
assert tuple(_STRING_LIMITS) == _STRINGS, "CallEvent's string fields changed: update span_item"
_LIMITS = tuple(_STRING_LIMITS.values())
_SHORTEST_LIMIT = min(_LIMITS + (limits.MAX_ID,))
_FIELDS = frozenset(f.name for f in msgspec.structs.fields(CallEvent)) | {"type"}
_USAGE_FIELDS = frozenset(f.name for f in msgspec.structs.fields(Usage))
_ERROR_FIELDS = frozenset(f.name for f in msgspec.structs.fields(ErrorInfo))
_PROMPT_FIELDS = frozenset(f.name for f in msgspec.structs.fields(PromptRef))
_KINDS = frozenset(get_args(CallKind))
_STATUSES = (None, "ok", "error")
# Rows start as a copy of this: cheaper than a 35-key dict display, which grows the dict three times.
_ROW = dict.fromkeys(("external_id", "trace_id", "parent_id", "kind", "name", "start_time", "end_time", "latency_ms",
                      "ttft_ms", "provider", "model", "operation", "status", "error_type", "error_message",
                      "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens",
                      "cost_usd", "prompt_name", "prompt_version", "user_id", "session_id", "feature", "team",
                      "environment", "release", "params", "tags", "metadata", "input", "output", "context"))


def _object(value: Any, data: bytes | None) -> msgspec.Raw | None:
    """params / metadata as `_encode_object` stores them; None when parse_item would refuse them."""
    if value is None:
        return _EMPTY_OBJECT
    if type(value) is not dict:
        return None
    if not value:
        return _EMPTY_OBJECT
    if data is None:
        data = _encode(value)
    if len(data) > limits.MAX_METADATA_BYTES or b"\\u0000" in data:
        return None
    return msgspec.Raw(data)


def span_item(index: int, event: dict[str, Any], encoded: dict[str, bytes] | None = None) -> Item | None:
    """The Item `parse_item` makes of `event` (a native call or span event, as a dict, with its
    timestamp and end_time as float seconds), or None when the event is not plainly valid.
    `encoded` may hold the JSON of params, metadata, input, output or context, already made by the
    caller (conventions.Mapped.encoded)."""
    event_type = event.get("type")
    if (event_type != "span" and event_type != "call") or not _FIELDS.issuperset(event):
        return None
    get = event.get
    ident = get("id")
    strings = [get(name, "") for name in _STRINGS]
    strings.append(ident)
    try:
        text = "".join(strings)  # a TypeError unless every one is a str
    except TypeError:
        return None
    if not ident or (max(map(len, strings)) > _SHORTEST_LIMIT and (len(ident) > limits.MAX_ID or any(
            len(value) > limit for value, limit in zip(strings, _LIMITS, strict=False)))):  # ident, last, has MAX_ID
        return None
    trace_id, parent_id, name, provider, model, operation, user_id, session_id, feature, team, environment, \
        release, _ = strings
    kind = get("kind", "llm")
    status = get("status")
    if type(kind) is not str or kind not in _KINDS or status not in _STATUSES:
        return None

    # Times: float seconds, as the mapping sends them; the JSON path parses them back to the same float.
    # Outside the accepted window (limits.MAX_AGE_DAYS ...), parse_item words the refusal.
    start, end = get("timestamp"), get("end_time")
    now = _time()
    earliest, latest = max(0.0, now - limits.MAX_AGE_SECONDS), min(_MAX_TIMESTAMP, now + limits.MAX_FUTURE_SECONDS)
    if (type(start) is not float or type(end) is not float or get("latency_ms") is not None
            or not earliest <= start <= latest or not earliest <= end <= latest):
        return None
    try:
        start_time, end_time = _fromtimestamp(start, _UTC), _fromtimestamp(end, _UTC)
    except (OverflowError, OSError, ValueError):
        return None
    latency = (end_time - start_time).total_seconds() * 1000
    ttft = get("time_to_first_token_ms")
    if not 0 <= latency <= limits.MAX_LATENCY_MS or (ttft is not None and (
            type(ttft) is not float or not 0 <= ttft <= latency)):
        return None

    tokens_in = tokens_out = cached = reasoning = total = None
    usage = get("usage")
    if usage is not None:
        if type(usage) is not dict or not _USAGE_FIELDS.issuperset(usage):
            return None
        for number in usage.values():
            if number is not None and (type(number) is not int or not 0 <= number <= limits.MAX_INT32):
                return None
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        cached, reasoning, total = (usage.get("cached_input_tokens"), usage.get("reasoning_tokens"),
                                    usage.get("total_tokens"))
        if (cached is not None and cached > (tokens_in or 0)) or (
                reasoning is not None and reasoning > (tokens_out or 0)):
            return None
        if total is None and (tokens_in is not None or tokens_out is not None):
            total = min((tokens_in or 0) + (tokens_out or 0), limits.MAX_INT32)

    cost = get("cost_usd")
    if cost is not None:
        if type(cost) is not float or not 0 <= cost <= 1_000_000:
            return None
        # What msgspec decodes from the JSON number, rounded to the column's scale as parse_item does.
        cost = Decimal(_encode(cost).decode()).quantize(_COST_QUANTUM, ROUND_HALF_EVEN)

    error_type = error_message = ""
    error = get("error")
    if error is not None:
        if type(error) is str:
            error_message = error
        elif type(error) is dict and _ERROR_FIELDS.issuperset(error):
            error_type, error_message = error.get("type", ""), error.get("message", "")
        else:
            return None
        if (type(error_type) is not str or type(error_message) is not str or len(error_type) > limits.MAX_ERROR_TYPE
                or len(error_message) > limits.MAX_ERROR_MESSAGE):
            return None
        text += error_type + error_message

    prompt_name = prompt_version = ""
    prompt = get("prompt")
    if prompt is not None:
        if type(prompt) is not dict or not _PROMPT_FIELDS.issuperset(prompt):
            return None
        prompt_name, version = prompt.get("name", ""), prompt.get("version")
        if (type(prompt_name) is not str or len(prompt_name) > limits.MAX_PROMPT_NAME
                or (version is not None and (type(version) is not str or len(version) > limits.MAX_PROMPT_VERSION))):
            return None
        prompt_version = "" if version is None else version
        text += prompt_name + prompt_version

    tags = get("tags")
    if tags is None:
        tags = []
    elif type(tags) is not list or len(tags) > limits.MAX_TAGS or not all(
            type(tag) is str and 0 < len(tag) <= limits.MAX_DIMENSION for tag in tags):
        return None
    else:
        text += "".join(tags)
    # parse_item refuses a NUL, which the receiver strips first: leave such an event to that path
    # (and text holding a literal backslash-u0000 too, whose JSON holds the same bytes).
    if "\x00" in text or "\\u0000" in text:
        return None

    if encoded is None:
        encoded = {}
    params, metadata = _object(get("params"), encoded.get("params")), _object(get("metadata"), encoded.get("metadata"))
    if params is None or metadata is None:
        return None
    payloads = []
    for part in ("input", "output", "context"):
        if part not in event:
            payloads.append(None)
            continue
        data = encoded.get(part)
        if data is None:
            data = _encode(event[part])
        if len(data) > limits.MAX_PAYLOAD_BYTES or b"\\u0000" in data:
            return None
        payloads.append(None if data == b"null" else msgspec.Raw(data))

    row = _ROW.copy()
    row["external_id"] = ident
    row["trace_id"] = trace_id
    row["parent_id"] = parent_id
    row["kind"] = kind
    row["name"] = name
    row["start_time"] = start_time
    row["end_time"] = end_time
    row["latency_ms"] = latency
    row["ttft_ms"] = ttft
    row["provider"] = provider.lower()
    row["model"] = model
    row["operation"] = operation
    row["status"] = status or ("error" if (error_type or error_message) else "ok")
    row["error_type"] = error_type
    row["error_message"] = error_message
    row["input_tokens"] = tokens_in
    row["output_tokens"] = tokens_out
    row["cached_input_tokens"] = cached
    row["reasoning_tokens"] = reasoning
    row["total_tokens"] = total
    row["cost_usd"] = cost
    row["prompt_name"] = prompt_name
    row["prompt_version"] = prompt_version
    row["user_id"] = user_id
    row["session_id"] = session_id
    row["feature"] = feature
    row["team"] = team
    row["environment"] = environment
    row["release"] = release
    row["params"] = params
    row["tags"] = tags
    row["metadata"] = metadata
    row["input"], row["output"], row["context"] = payloads
    return Item(index, event_type, ident, row)
