"""The native ingest event schema, validated by msgspec.

msgspec was chosen over DRF serializers for the hot path: it decodes and validates a
1,000-event batch in a few milliseconds (DRF serializers take hundreds), and its error
messages name the field path ("Expected `int`, got `str` - at `$.usage.input_tokens`").
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, Raw, Struct

from ingest import limits as L

NO_PAYLOAD = Raw(b"")

Id = Annotated[str, Meta(min_length=1, max_length=L.MAX_ID)]
Tokens = Annotated[int, Meta(ge=0, le=L.MAX_INT32)]
Millis = Annotated[float, Meta(ge=0, le=L.MAX_LATENCY_MS)]
Str = lambda n: Annotated[str, Meta(max_length=n)]  # noqa: E731
# RFC 3339 string (naive means UTC) or Unix seconds.
Timestamp = Union[datetime, Annotated[float, Meta(ge=0, le=253402300799)]]
CallKind = Literal["llm", "embedding", "retrieval", "tool", "chain", "agent", "other"]
ScoreSourceName = Literal["heuristic", "model", "judge", "human", "user", "api"]


class Strict(Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Usage(Strict):
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None
    cached_input_tokens: Tokens | None = None
    reasoning_tokens: Tokens | None = None
    total_tokens: Tokens | None = None


class PromptRef(Strict):
    name: Str(L.MAX_PROMPT_NAME) = ""
    version: Annotated[str, Meta(max_length=L.MAX_PROMPT_VERSION)] | int | None = None


class ErrorInfo(Strict):
    type: Str(L.MAX_ERROR_TYPE) = ""
    message: Str(L.MAX_ERROR_MESSAGE) = ""


class CallEvent(Strict, tag="call", tag_field="type"):
    id: Id | None = None
    trace_id: Str(L.MAX_TRACE_ID) = ""
    parent_id: Str(L.MAX_ID) = ""
    kind: CallKind = "llm"
    name: Str(L.MAX_NAME) = ""
    timestamp: Timestamp | None = None
    end_time: Timestamp | None = None
    latency_ms: Millis | None = None
    time_to_first_token_ms: Millis | None = None
    provider: Str(L.MAX_PROVIDER) = ""
    model: Str(L.MAX_MODEL) = ""
    operation: Str(L.MAX_OPERATION) = ""
    input: Raw = NO_PAYLOAD
    output: Raw = NO_PAYLOAD
    context: Raw = NO_PAYLOAD
    usage: Usage | None = None
    cost_usd: Decimal | None = None  # msgspec cannot bound a Decimal; validation.py checks the range
    status: Literal["ok", "error"] | None = None
    error: ErrorInfo | Str(L.MAX_ERROR_MESSAGE) | None = None
    prompt: PromptRef | None = None
    user_id: Str(L.MAX_USER) = ""
    session_id: Str(L.MAX_USER) = ""
    feature: Str(L.MAX_DIMENSION) = ""
    team: Str(L.MAX_DIMENSION) = ""
    environment: Str(L.MAX_ENVIRONMENT) = ""
    release: Str(L.MAX_DIMENSION) = ""
    params: dict[str, Any] | None = None
    tags: Annotated[list[Annotated[str, Meta(min_length=1, max_length=L.MAX_DIMENSION)]],
                    Meta(max_length=L.MAX_TAGS)] | None = None
    metadata: dict[str, Any] | None = None


class SpanEvent(CallEvent, tag="span"):
    """Same fields as `call`; `kind` usually says what the span is."""


class FeedbackEvent(Strict, tag="feedback", tag_field="type"):
    call_id: Id
    id: Id | None = None
    thumbs: Literal["up", "down"] | None = None
    rating: Annotated[int, Meta(ge=1, le=5)] | None = None
    comment: Str(L.MAX_COMMENT) = ""
    user_id: Str(L.MAX_USER) = ""
    timestamp: Timestamp | None = None
    metadata: dict[str, Any] | None = None


class ScoreEvent(Strict, tag="score", tag_field="type"):
    call_id: Id
    name: Annotated[str, Meta(min_length=1, max_length=L.MAX_DIMENSION)]
    id: Id | None = None
    value: Annotated[float, Meta(ge=-1e12, le=1e12)] | None = None
    label: Str(L.MAX_DIMENSION) = ""
    source: ScoreSourceName = "api"
    comment: Str(L.MAX_COMMENT) = ""
    timestamp: Timestamp | None = None
    metadata: dict[str, Any] | None = None


Event = Union[CallEvent, SpanEvent, FeedbackEvent, ScoreEvent]


class Envelope(Struct):
    events: list[Raw]


envelope_decoder = msgspec.json.Decoder(Envelope)
event_decoder = msgspec.json.Decoder(Event)
