"""Turn one raw event into a row for the writer, or into readable errors. No database access."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec

from ingest import limits
from ingest.answers import event_errors, short
from ingest.payloads import cut_message, raw_marker
from ingest.schema import CallEvent, FeedbackEvent, ScoreEvent, event_decoder

# A JSON "\u0000" escape (not preceded by an escaping backslash): PostgreSQL cannot store NUL.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_PATH = re.compile(r" - at `\$\.?(.*)`$")
_EMPTY = (b"", b"null")
_EMPTY_OBJECT = msgspec.Raw(b"{}")
_COST_QUANTUM = Decimal(1).scaleb(-limits.COST_DECIMALS)
# JSON strings (keys too), whose brackets do not nest; what is left of a value once they are gone.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")
DEPTH_MESSAGE = (f"nests JSON deeper than {limits.MAX_DEPTH} levels, the limit (OBSERVATORY_INGEST_MAX_DEPTH); "
                 "flatten it")


def too_deep(data: bytes, limit: int = limits.MAX_DEPTH) -> bool:
    """Whether the JSON text `data` nests arrays and objects more than `limit` levels.

    Without decoding: decoders recurse, and a value nested ~1,000 levels deep exhausts Python's
    recursion limit. Nearly every event has fewer brackets than the limit, which two byte counts
    prove (~1 µs per KB). Otherwise strings are removed and the brackets left are peeled one
    innermost layer per pass, at most `limit` passes over the brackets alone. Malformed JSON
    answers False: the decoder words that error."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        peeled = _INNERMOST.sub(b"", brackets)
        if len(peeled) == len(brackets):
            return False
        brackets = peeled
    return bool(brackets)


_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
TOO_DEEP_MARKER = b'{"observatory.too_deep":true}'


def shallow(data: bytes, depth: int) -> bytes:
    """`data` with every array or object nested deeper than `depth` replaced by TOO_DEEP_MARKER.

    For a body too deep to decode at all (Python's recursion limit): decoded shallow, its deep
    events or spans are refused one by one instead of the whole body. One Python step per bracket
    and string (~0.3 µs), so it is used only after a decoder raised RecursionError."""
    out: list[bytes] = []
    level = kept = 0
    cut = -1
    for match in _TOKENS.finditer(data):
        char = data[match.start()]
        if char == 0x22:  # a string
            continue
        if char == 0x5B or char == 0x7B:
            level += 1
            if level == depth + 1:
                cut = match.start()
        else:
            if level == depth + 1 and cut >= 0:
                out += (data[kept:cut], TOO_DEEP_MARKER)
                kept, cut = match.end(), -1
            level -= 1
    out.append(data[kept:])
    return b"".join(out)


_TIME_COLUMNS = (("timestamp", "start_time"), ("end_time", "end_time"), ("timestamp", "created_at"))
_last_window: tuple[datetime | None, datetime, datetime] = (None, datetime.min, datetime.max)


def time_window(received_at: datetime) -> tuple[datetime, datetime]:
    """The event times accepted in a batch received at `received_at` (limits.MAX_AGE_DAYS ...).
    Kept for the last `received_at`: every event of a batch shares it (~1 µs an event otherwise)."""
    global _last_window
    last = _last_window
    if last[0] is not received_at:
        last = _last_window = (received_at, received_at - timedelta(seconds=limits.MAX_AGE_SECONDS),
                               received_at + timedelta(seconds=limits.MAX_FUTURE_SECONDS))
    return last[1], last[2]


def _window_error(name: str, value: datetime) -> ItemError:
    return ItemError(name, f"{value.isoformat()} is outside the accepted window, from {limits.MAX_AGE_DAYS} days "
                           f"ago to {limits.MAX_FUTURE_HOURS} hours ahead (OBSERVATORY_INGEST_MAX_AGE_DAYS, "
                           "OBSERVATORY_INGEST_MAX_FUTURE_HOURS); check the clock or the unit (seconds, not ms)")


@dataclass
class ItemError:
    field: str
    message: str


@dataclass
class Item:
    index: int
    type: str = ""
    id: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    errors: list[ItemError] = field(default_factory=list)
    changes: list[ItemError] = field(default_factory=list)  # accepted, but not as sent (a payload cut)


def _msgspec_error(exc: Exception) -> ItemError:
    text = str(exc)
    match = _PATH.search(text)
    if match:
        return ItemError(field=match.group(1) or "$", message=text[: match.start()])
    field_match = re.search(r"field `([^`]+)`", text)
    return ItemError(field=field_match.group(1) if field_match else "$", message=text)


class _Identity(msgspec.Struct):
    type: Any = None
    id: Any = None


_identity_decoder = msgspec.json.Decoder(_Identity)  # skips the other fields, however they nest


def _best_effort_identity(data: bytes) -> tuple[str, str | None]:
    """The type and id of an invalid event, so the client can tell which one it was."""
    try:
        loose = _identity_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return "", None
    kind, ident = loose.type, loose.id
    # An over-long id is refused for its length: the answer names it in short, not in full.
    ident = (short(ident) if len(ident) > limits.MAX_ID else ident) if isinstance(ident, str) else None
    return (short(kind) if isinstance(kind, str) else ""), ident


def _when(value: datetime | float | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(value, tz=timezone.utc)


def _payload(raw: msgspec.Raw, name: str, changes: list[ItemError]) -> msgspec.Raw | None:
    data = bytes(raw).strip()
    if data in _EMPTY:
        return None
    if len(data) > limits.MAX_PAYLOAD_BYTES:  # cut, not refused: the call keeps its metrics (ingest.payloads)
        changes.append(ItemError(name, cut_message(len(data))))
        return msgspec.Raw(raw_marker(data))
    return raw


def parse_item(index: int, raw: msgspec.Raw, received_at: datetime) -> Item:
    item = Item(index=index)
    data = bytes(raw)
    # The event object is one level; its fields may nest limits.MAX_DEPTH more.
    if too_deep(data, limits.MAX_DEPTH + 1):
        item.errors.append(ItemError("$", DEPTH_MESSAGE))
        item.type, item.id = _best_effort_identity(data)
        return item
    try:
        event = event_decoder.decode(data)
    except RecursionError:  # not reached within the depth limit; a guard, never a 500
        item.errors.append(ItemError("$", DEPTH_MESSAGE))
        return item
    except msgspec.ValidationError as exc:
        # The decoder stops at the first error; the slow path (ingest.answers) finds them all.
        found = event_errors(data)
        item.errors += [ItemError(f, m) for f, m in found] if found else [_msgspec_error(exc)]
        item.type, item.id = _best_effort_identity(data)
        return item
    except msgspec.DecodeError as exc:
        item.errors.append(ItemError("$", f"is not valid JSON: {exc}"))
        return item
    item.type = type(event).__struct_config__.tag  # type: ignore[assignment]
    item.id = getattr(event, "id", None)
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        item.errors.append(ItemError("$", "contains a NUL character (\\u0000), which cannot be stored; remove it"))
        return item
    if isinstance(event, CallEvent):
        try:
            _call_row(event, item, received_at)
        except OverflowError:
            item.errors.append(ItemError("timestamp", "with latency_ms falls outside the supported date range"))
    elif isinstance(event, FeedbackEvent):
        _feedback_row(event, item, received_at)
    elif isinstance(event, ScoreEvent):
        _score_row(event, item, received_at)
    if item.row:
        earliest, latest = time_window(received_at)
        row = item.row
        for name, column in _TIME_COLUMNS:
            value = row.get(column)
            if value is not None and not earliest <= value <= latest:
                item.errors.append(_window_error(name, value))
                break
    return item


def _call_row(ev: CallEvent, item: Item, received_at: datetime) -> None:
    errors = item.errors
    start, end, latency = _when(ev.timestamp), _when(ev.end_time), ev.latency_ms
    if start is None:
        start = (end - timedelta(milliseconds=latency)) if end and latency is not None else (end or received_at)
    if end is None and latency is not None:
        end = start + timedelta(milliseconds=latency)
    if end is not None and latency is None:
        latency = (end - start).total_seconds() * 1000
        if latency < 0:
            errors.append(ItemError("end_time", "is before timestamp"))
        elif latency > limits.MAX_LATENCY_MS:
            errors.append(ItemError("end_time", "is more than 7 days after timestamp"))

    usage = ev.usage
    tokens_in = usage.input_tokens if usage else None
    tokens_out = usage.output_tokens if usage else None
    cached = usage.cached_input_tokens if usage else None
    reasoning = usage.reasoning_tokens if usage else None
    total = usage.total_tokens if usage else None
    if cached is not None and cached > (tokens_in or 0):
        errors.append(ItemError("usage.cached_input_tokens",
                                "exceeds input_tokens; input_tokens must include cached tokens (OpenTelemetry convention)"))
    if reasoning is not None and reasoning > (tokens_out or 0):
        errors.append(ItemError("usage.reasoning_tokens",
                                "exceeds output_tokens; output_tokens must include reasoning tokens"))
    if total is None and (tokens_in is not None or tokens_out is not None):
        total = min((tokens_in or 0) + (tokens_out or 0), limits.MAX_INT32)

    cost = ev.cost_usd
    if cost is not None:
        if not (cost.is_finite() and 0 <= cost <= limits.MAX_COST_USD):
            errors.append(ItemError("cost_usd", f"{cost} is not a number between 0 and {limits.MAX_COST_USD} "
                                                "(US dollars)"))
        else:  # the column's scale: rounded here, half to even, not cut by the database (docs/api.md)
            cost = cost.quantize(_COST_QUANTUM, ROUND_HALF_EVEN)
    if ev.time_to_first_token_ms is not None and latency is not None and ev.time_to_first_token_ms > latency:
        errors.append(ItemError("time_to_first_token_ms", f"{ev.time_to_first_token_ms:g} ms is more than the "
                                                          f"call's latency ({latency:g} ms)"))

    error_type = error_message = ""
    if isinstance(ev.error, str):
        error_message = ev.error
    elif ev.error is not None:
        error_type, error_message = ev.error.type, ev.error.message
    status = ev.status or ("error" if (error_type or error_message) else "ok")

    version = ev.prompt.version if ev.prompt else None
    item.id = ev.id or uuid.uuid4().hex
    item.row = {
        "external_id": item.id, "trace_id": ev.trace_id, "parent_id": ev.parent_id, "kind": ev.kind,
        "name": ev.name, "start_time": start, "end_time": end, "latency_ms": latency,
        "ttft_ms": ev.time_to_first_token_ms, "provider": ev.provider.lower(), "model": ev.model,
        "operation": ev.operation, "status": status, "error_type": error_type, "error_message": error_message,
        "input_tokens": tokens_in, "output_tokens": tokens_out, "cached_input_tokens": cached,
        "reasoning_tokens": reasoning, "total_tokens": total, "cost_usd": cost,
        "prompt_name": ev.prompt.name if ev.prompt else "", "prompt_version": "" if version is None else str(version),
        "user_id": ev.user_id, "session_id": ev.session_id, "feature": ev.feature, "team": ev.team,
        "environment": ev.environment, "release": ev.release,
        "params": _encode_object(ev.params, "params", errors),
        "tags": ev.tags or [],
        "metadata": _encode_object(ev.metadata, "metadata", errors),
        "input": _payload(ev.input, "input", item.changes),
        "output": _payload(ev.output, "output", item.changes),
        "context": _payload(ev.context, "context", item.changes),
    }


def _encode_object(value: dict[str, Any] | None, name: str, errors: list[ItemError]) -> msgspec.Raw:
    if not value:
        return _EMPTY_OBJECT
    text = msgspec.json.encode(value)
    if len(text) > limits.MAX_METADATA_BYTES:
        errors.append(ItemError(name, f"is {len(text)} bytes of JSON; the limit is {limits.MAX_METADATA_BYTES} "
                                      "bytes (OBSERVATORY_INGEST_MAX_METADATA_BYTES)"))
    return msgspec.Raw(text)


def _feedback_row(ev: FeedbackEvent, item: Item, received_at: datetime) -> None:
    if ev.thumbs is None and ev.rating is None:
        item.errors.append(ItemError("thumbs", "feedback needs thumbs ('up' or 'down') or a rating (1-5)"))
    item.id = ev.id or uuid.uuid4().hex
    item.row = {
        "external_id": item.id, "call_external_id": ev.call_id,
        "thumbs": None if ev.thumbs is None else (1 if ev.thumbs == "up" else -1),
        "rating": ev.rating, "comment": ev.comment, "end_user_id": ev.user_id,
        "metadata": _encode_object(ev.metadata, "metadata", item.errors),
        "created_at": _when(ev.timestamp) or received_at,
    }


def _score_row(ev: ScoreEvent, item: Item, received_at: datetime) -> None:
    if ev.value is None and not ev.label:
        item.errors.append(ItemError("value", "a score needs a numeric value, a label, or both"))
    item.id = ev.id or uuid.uuid4().hex
    item.row = {
        "external_id": item.id, "call_external_id": ev.call_id, "name": ev.name, "value": ev.value,
        "label": ev.label, "source": ev.source, "comment": ev.comment,
        "metadata": _encode_object(ev.metadata, "metadata", item.errors),
        "created_at": _when(ev.timestamp) or received_at,
    }
