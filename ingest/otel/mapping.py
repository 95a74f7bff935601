"""The pieces of the span mapping: each native field from the attributes that carry it.

conventions.span_event calls these in order; each reads the tables of tables.py. Numbers are
coerced the way instrumentations send them (ints, floats, decimal strings, JSON text), and what
goes to metadata or params is bounded (`Budget`) so a span is never refused for its attributes.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from ingest import limits
from ingest.otel.content import maybe_json, text
from ingest.otel.otlp import OtlpSpan
from ingest.otel.tables import (
    COST_KEYS,
    FIRST_TOKEN_EVENTS,
    KIND_BY_ATTRIBUTE,
    KIND_BY_OPERATION,
    MAX_ATTRIBUTE_TEXT,
    MAX_STACKTRACE,
    PARAM_JSON_KEYS,
    READS_EXTRA_METADATA,
    READS_KIND,
    READS_PARAMS,
    RESOURCE_METADATA,
    RESOURCE_STRING_FIELDS,
    STRING_LIMITS,
    TAG_KEYS,
)
from ingest.payloads import marker as payload_marker

_encode = msgspec.json.encode
_MAX_INT32 = limits.MAX_INT32
_FIRST_TOKEN_KEYS = ("gen_ai.response.time_to_first_chunk", "langfuse.observation.completion_start_time")


# --- values ---------------------------------------------------------------------------------------

def first(keys: tuple[str, ...], source: dict[str, Any]) -> Any:
    """The first of `keys` set (not null, not empty) in `source`."""
    for key in keys:
        value = source.get(key)
        if value is not None and value != "":
            return value
    return None


def to_int(value: Any) -> int | None:
    """A token count, or None when `value` is not a number. Out of range (negative, past 2^31-1)
    it is returned as it is: usage_of drops it and says so."""
    if type(value) is int:  # the usual case, an OTLP int attribute
        return value
    value = maybe_json(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(float(value)) if isinstance(value, (str, float)) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def to_float(value: Any) -> float | None:
    value = maybe_json(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def bounded(value: Any) -> Any:
    if type(value) is float and value - value != 0:
        return repr(value)  # inf, -inf, nan: JSON has no such number (it would be stored as null)
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            return value[:MAX_ATTRIBUTE_TEXT] + f"… [{len(value) - MAX_ATTRIBUTE_TEXT} more characters]"
        return value
    if isinstance(value, list):
        return [bounded(v) for v in value[:100]]
    if isinstance(value, dict):
        return {k: bounded(v) for k, v in list(value.items())[:100]}
    return value


class Budget:
    """Adds entries to a dict until its JSON would pass the byte limit; counts what did not fit."""

    __slots__ = ("target", "left", "dropped")

    def __init__(self, target: dict[str, Any], limit: int) -> None:
        self.target = target
        self.left = limit - len(_encode(target))
        self.dropped = 0

    def add(self, key: str, value: Any) -> None:
        if type(value) is not int and (type(value) is not float or value - value != 0):  # numbers need none
            value = bounded(value)
        size = len(key) + len(_encode(value)) + 6
        if size > self.left:
            self.dropped += 1
            return
        self.target[key] = value
        self.left -= size

    def add_sized(self, key: str, value: Any, size: int) -> None:
        """`value` already bounded, `size` what `add` would have counted for it."""
        if size > self.left:
            self.dropped += 1
            return
        self.target[key] = value
        self.left -= size


def _plain(key: Any, value: Any) -> bool:
    kind = type(value)
    return type(key) is str and (kind is int or (kind is float and value - value == 0)
                                 or (kind is str and len(value) <= MAX_ATTRIBUTE_TEXT))


def fill(target: dict[str, Any], entries: list[tuple[str, Any]], sized: Sequence[tuple[str, Any, int]],
         limit: int) -> tuple[bytes | None, int]:
    """Add `entries` (bounded here), then `sized` (bounded, with their size), to `target` as a
    `Budget` of `limit` would. Returns the JSON of `target` when it is known on the way, and how
    many entries did not fit.

    Usually everything fits, and one encoding of the result proves it: Budget counts an entry
    len(key) + len(JSON of the value) + 6 bytes, at most 2 more than the entry adds to the JSON of
    the whole (quotes, colon, comma), and 1 more for a first entry. That encoding is also the one
    the native row needs, so the span's metadata is encoded once rather than once per entry. When
    that does not prove it (or a key repeats), the entries are added one by one by a Budget."""
    before = target.copy()
    for key, value in entries:
        # As Budget.add does; numbers and short text need no bounding.
        target[key] = value if _plain(key, value) else bounded(value)
    for key, value, _ in sized:
        target[key] = value
    count = len(entries) + len(sized)
    if len(target) == len(before) + count:
        data = _encode(target)
        if len(data) + 2 * count + 1 <= limit:
            return data, 0
    target.clear()
    target.update(before)
    budget = Budget(target, limit)
    for key, value in entries:
        budget.add(key, value)
    for key, value, size in sized:
        budget.add_sized(key, value, size)
    return None, budget.dropped


class ResourceInfo:
    """What a span takes from its resource: string fields the span does not set, and the resource
    attributes kept in metadata. Worked out once per resource; every span of a ResourceSpans shares it."""

    __slots__ = ("strings", "over", "metadata", "_sized")

    def __init__(self, resource: dict[str, Any]) -> None:
        self.strings: dict[str, str] = {}  # field -> text, when the resource sets it
        for name, keys in RESOURCE_STRING_FIELDS:
            if (value := first(keys, resource)) is not None:
                self.strings[name] = text(value)
        self.over = any(len(value) > STRING_LIMITS[name] for name, value in self.strings.items())
        # (metadata key, resource value, bounded value, budget size), in RESOURCE_METADATA order.
        self.metadata: list[tuple[str, Any, Any, int]] = []
        for key in RESOURCE_METADATA:
            if key in resource:
                name, value = f"resource.{key}", bounded(resource[key])
                self.metadata.append((name, resource[key], value, len(name) + len(_encode(value)) + 6))
        self._sized: dict[Any, list[tuple[str, Any, int]]] = {}

    def metadata_for(self, feature: Any) -> list[tuple[str, Any, int]]:
        """(key, bounded value, budget size) of the resource attributes a span keeps in its metadata:
        all of `metadata` but service.name when it is already the span's feature. Made once per feature."""
        sized = self._sized.get(feature)
        if sized is None:
            sized = [(name, value, size) for name, raw, value, size in self.metadata
                     if not (name == "resource.service.name" and feature == raw)]
            if len(self._sized) < 64:  # features come from span attributes: keep the memo small
                self._sized[feature] = sized
        return sized


# --- usage, cost, time, kind --------------------------------------------------------------------------

def langfuse_usage(raw: Any) -> dict[str, int]:
    """Langfuse usage_details. Its `input` excludes cached tokens (they are `input_cached_tokens`,
    `cache_read_input_tokens`, ...); ours includes them, so they are added back."""
    details = maybe_json(raw)
    if not isinstance(details, dict):
        return {}
    numbers = {k: n for k, v in details.items() if (n := to_int(v)) is not None}
    out: dict[str, int] = {}
    cached = sum(n for k, n in numbers.items() if "cache" in k and ("read" in k or "cached" in k))
    cache_write = sum(n for k, n in numbers.items() if "cache" in k and ("creation" in k or "write" in k))
    reasoning = sum(n for k, n in numbers.items() if "reasoning" in k)
    for name, keys in (("input_tokens", ("input", "input_tokens", "prompt_tokens", "promptTokens")),
                       ("output_tokens", ("output", "output_tokens", "completion_tokens", "completionTokens")),
                       ("total_tokens", ("total", "total_tokens", "totalTokens"))):
        for key in keys:
            if key in numbers:
                out[name] = numbers[key]
                if name == "input_tokens" and key in ("input", "input_tokens"):
                    out[name] += cached + cache_write
                break
    if cached:
        out["cached_input_tokens"] = cached
    if cache_write:
        out["cache_write_input_tokens"] = cache_write
    if reasoning:
        out["reasoning_tokens"] = reasoning
    return out


def usage_of(attrs: dict[str, Any], usage: dict[str, int], warnings: list[str]) -> dict[str, int]:
    """`usage` holds the token counts of the TOKEN_FIELDS table; Langfuse's details fill the gaps."""
    if "langfuse.observation.usage_details" in attrs:
        for name, number in langfuse_usage(attrs["langfuse.observation.usage_details"]).items():
            usage.setdefault(name, number)
    for name, number in list(usage.items()):
        if not 0 <= number <= _MAX_INT32:
            del usage[name]
            warnings.append(f"{name} {number} is not a token count (0 to {_MAX_INT32}); left out")
    # Some instrumentations count cached input apart from input (Anthropic's own usage does):
    # add it back rather than refuse the span, and say so.
    if usage.get("cached_input_tokens", 0) > usage.get("input_tokens", 0):
        usage["input_tokens"] = min(usage.get("input_tokens", 0) + usage["cached_input_tokens"], _MAX_INT32)
        warnings.append("cached input tokens exceeded input tokens; counted them as extra input")
    if usage.get("reasoning_tokens", 0) > usage.get("output_tokens", 0):
        usage["output_tokens"] = min(usage.get("output_tokens", 0) + usage["reasoning_tokens"], _MAX_INT32)
        warnings.append("reasoning tokens exceeded output tokens; counted them as extra output")
    return usage


def _any_float(value: Any) -> float | None:
    """Like to_float, but keeps inf and nan: a cost that is one is refused, not ignored."""
    value = maybe_json(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def cost_of(attrs: dict[str, Any]) -> float | str | None:
    """The span's cost in USD. Out of range (negative, over limits.MAX_COST_USD) it is returned as
    it is, and inf or nan as text, so that the native validation refuses the span and says why."""
    value = first(COST_KEYS, attrs)
    cost = None if value is None else _any_float(value)
    if cost is None and "langfuse.observation.cost_details" in attrs:
        details = maybe_json(attrs["langfuse.observation.cost_details"])
        if isinstance(details, dict):
            cost = _any_float(details.get("total"))
            if cost is None:
                parts = [_any_float(v) for k, v in details.items()]
                cost = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
    if cost is not None and cost - cost != 0:
        return repr(cost)  # "inf", "nan": Decimal reads them, validation refuses them
    return cost


def ttft_ms(span: OtlpSpan, attrs: dict[str, Any]) -> float | None:
    if _FIRST_TOKEN_KEYS[0] in attrs or _FIRST_TOKEN_KEYS[1] in attrs:
        seconds = to_float(attrs.get(_FIRST_TOKEN_KEYS[0]))
        if seconds is not None:
            return seconds * 1000 if seconds >= 0 else None
        started = maybe_json(attrs.get(_FIRST_TOKEN_KEYS[1]))
        if isinstance(started, str) and span.start_ns:
            try:
                when = datetime.fromisoformat(started.replace("Z", "+00:00"))
            except ValueError:
                when = None
            if when is not None and when.tzinfo is not None:
                ms = when.timestamp() * 1000 - span.start_ns / 1e6
                return ms if ms >= 0 else None
    for event in span.events:
        if event.name in FIRST_TOKEN_EVENTS and event.time_ns >= span.start_ns > 0:
            return (event.time_ns - span.start_ns) / 1e6
    return None


def kind_of(attrs: dict[str, Any], model: str, usage: dict[str, int], reads: int = READS_KIND) -> str:
    for key, table in KIND_BY_ATTRIBUTE if reads & READS_KIND else KIND_BY_OPERATION:
        value = attrs.get(key)
        if isinstance(value, str):
            kind = table.get(value) or table.get(value.lower()) or table.get(value.upper())
            if kind:
                return kind
    if model or usage.get("input_tokens") is not None or usage.get("output_tokens") is not None:
        return "llm"
    return "other"


def tags_of(attrs: dict[str, Any]) -> list[str]:
    tags: list[str] = []
    for key in TAG_KEYS:
        if key not in attrs:
            continue
        value = maybe_json(attrs[key])
        for tag in (value if isinstance(value, list) else [value] if value else []):
            label = text(tag)[: limits.MAX_DIMENSION]
            if label and label not in tags:
                tags.append(label)
    return tags[: limits.MAX_TAGS]


def params_of(attrs: dict[str, Any], families: dict[str, dict[str, Any]], model: str,
              reads: int = READS_PARAMS) -> tuple[dict[str, Any], bytes | None]:
    """The request parameters, bounded, and their JSON when it was made on the way (see `fill`)."""
    params: dict[str, Any] = {}
    if reads & READS_PARAMS:
        for key in PARAM_JSON_KEYS:
            if key in attrs and isinstance(value := maybe_json(attrs[key]), dict):
                params.update(value)
    if "gen_ai.request." in families:
        if params:
            params.update({k: v for k, v in families["gen_ai.request."].items() if k != "model"})
        else:  # the usual case: the same entries, in the same order, without a comprehension
            params = families["gen_ai.request."].copy()
            params.pop("model", None)
    requested = attrs.get("gen_ai.request.model")
    if isinstance(requested, str) and requested and requested != model:
        params["model"] = requested  # the model asked for, when the response names another
    if not params:
        return params, None
    limit = limits.MAX_METADATA_BYTES - 256
    if all(_plain(key, value) for key, value in params.items()):
        # Text keys, numbers and short text, as instrumentations send them: a Budget would keep them
        # as they are, all of them when this JSON of them fits (see `fill`).
        data = _encode(params)
        if len(data) + 2 * len(params) + 1 <= limit:
            return params, data
    bounded: dict[str, Any] = {}
    data, _ = fill(bounded, [(str(key), value) for key, value in params.items()], (), limit)
    return bounded, data


# --- status and metadata --------------------------------------------------------------------------

def status_of(span: OtlpSpan, attrs: dict[str, Any], event: dict[str, Any], metadata: dict[str, Any]) -> None:
    failed = span.status_code == 2 or bool(event.get("error_type"))
    message = span.status_message if span.status_code == 2 else ""
    if attrs.get("langfuse.observation.level") == "ERROR":
        failed = True
        message = message or text(attrs.get("langfuse.observation.status_message") or "")
    for e in span.events:
        # An exception recorded on a span whose status says OK was handled: not a failure.
        if e.name == "exception" and span.status_code != 1:
            failed = True
            event.setdefault("error_type", text(e.attributes.get("exception.type") or "")[: limits.MAX_ERROR_TYPE])
            message = message or text(e.attributes.get("exception.message") or "")
            if e.attributes.get("exception.stacktrace"):
                metadata["exception.stacktrace"] = text(e.attributes["exception.stacktrace"])[-MAX_STACKTRACE:]
            break
    error_type = event.pop("error_type", "")
    if failed:
        event["status"] = "error"
        event["error"] = {"type": error_type, "message": message[: limits.MAX_ERROR_MESSAGE]}
    else:
        event["status"] = "ok"


def metadata_of(info: ResourceInfo, attrs: dict[str, Any], families: dict[str, dict[str, Any]],
                unmapped: list[tuple[str, Any]], metadata: dict[str, Any], event: dict[str, Any],
                reads: int = READS_EXTRA_METADATA) -> bytes | None:
    """Unmapped attributes, decoded Langfuse/OpenInference metadata and a few resource attributes,
    within OBSERVATORY_INGEST_MAX_METADATA_BYTES (a span is never refused for its metadata).
    Returns the JSON of the metadata when it was made on the way (see `fill`)."""
    entries: list[tuple[str, Any]] = []
    if families:
        for prefix, target in (("langfuse.observation.metadata", ""), ("langfuse.trace.metadata", "trace.")):
            for key, value in (families.get(prefix) or {}).items():
                name = f"{target}{key}" if key else (target.rstrip(".") or "metadata")
                entries.append((name, maybe_json(value)))
    if reads & READS_EXTRA_METADATA:
        if "metadata" in attrs:
            extra = maybe_json(attrs["metadata"])  # OpenInference's free-form metadata
            if isinstance(extra, dict):
                entries.extend((str(key), value) for key, value in extra.items())
        if attrs.get("langfuse.trace.name"):
            entries.append(("trace_name", attrs["langfuse.trace.name"]))
    entries += unmapped
    sized = info.metadata_for(event.get("feature"))
    data, dropped = fill(metadata, entries, sized, limits.MAX_METADATA_BYTES - 512)
    if dropped:
        metadata["observatory.dropped_attributes"] = dropped
    return data


def bound_payloads(event: dict[str, Any], warnings: list[str], encoded: dict[str, bytes]) -> None:
    """Cut a prompt over the payload limit (the call still counts) instead of refusing the span.
    The JSON measured is kept in `encoded`, so the native item is built without encoding it again."""
    for name in ("input", "output", "context"):
        if name not in event:
            continue
        data = _encode(event[name])
        size = len(data)
        if size > limits.MAX_PAYLOAD_BYTES:  # the marker the native API stores too (ingest.payloads)
            event[name] = payload_marker(text(event[name]), size)
            warnings.append(f"{name} of {size} bytes cut to the {limits.MAX_PAYLOAD_BYTES}-byte payload limit "
                            "(stored with \"truncated\": true)")
        else:
            encoded[name] = data
