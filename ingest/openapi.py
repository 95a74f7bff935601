"""The native ingest body as OpenAPI describes it, written from ingest/schema.py (msgspec, which
validates it) and ingest/limits.py. tests/ingest/test_openapi.py keeps the two in step: every
field msgspec knows is documented here, and nothing else.

Hand-written because msgspec's own JSON Schema export cannot render `Raw` fields, and writes
`anyOf` with `null` where OpenAPI 3.0 wants `nullable`."""
from __future__ import annotations

from typing import Any

from ingest import limits as L


def _str(max_length: int, min_length: int = 0, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, **extra}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


ANY_JSON: dict[str, Any] = {"description": "Any JSON: a string, chat messages or any structure"}
ID = _str(L.MAX_ID, 1)
TIMESTAMP = _nullable({
    "description": "RFC 3339 (no offset means UTC) or Unix seconds. Must lie within the accepted window "
                   f"({L.MAX_AGE_DAYS} days back to {L.MAX_FUTURE_HOURS} hours ahead); outside it the event "
                   "is refused (207).",
    "oneOf": [{"type": "string", "format": "date-time"},
              {"type": "number", "minimum": 0, "maximum": 253402300799}],
})
TOKENS = _nullable({"type": "integer", "minimum": 0, "maximum": L.MAX_INT32})
MILLIS = _nullable({"type": "number", "minimum": 0, "maximum": L.MAX_LATENCY_MS})
OBJECT = _nullable({"type": "object", "additionalProperties": True})


def _event(tag: str | list[str], properties: dict[str, Any], required: list[str] | None = None,
           description: str = "") -> dict[str, Any]:
    tags = [tag] if isinstance(tag, str) else tag
    schema = {"type": "object", "description": description,
              "properties": {"type": {"type": "string", "enum": tags}, **properties},
              "required": ["type", *(required or [])], "additionalProperties": False}
    return schema


CALL_PROPERTIES: dict[str, Any] = {
    "id": _nullable({**ID, "description": "Your id; the idempotency key (unique per project)"}),
    "trace_id": _str(L.MAX_TRACE_ID),
    "parent_id": _str(L.MAX_ID),
    "kind": {"type": "string", "enum": ["llm", "embedding", "retrieval", "tool", "chain", "agent", "other"],
             "default": "llm"},
    "name": _str(L.MAX_NAME),
    "timestamp": TIMESTAMP,
    "end_time": TIMESTAMP,
    "latency_ms": MILLIS,
    "time_to_first_token_ms": _nullable({**MILLIS, "description": "At most the latency"}),
    "provider": _str(L.MAX_PROVIDER),
    "model": _str(L.MAX_MODEL),
    "operation": _str(L.MAX_OPERATION),
    "input": ANY_JSON,
    "output": ANY_JSON,
    "context": ANY_JSON,
    "usage": _nullable({"type": "object", "additionalProperties": False, "properties": {
        name: TOKENS for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
                                  "total_tokens")}}),
    "cost_usd": _nullable({"description": f"Your cost in USD, 0 to {L.MAX_COST_USD:,}; a number or a decimal "
                                          f"string, rounded to {L.COST_DECIMALS} decimal places",
                           "oneOf": [{"type": "number", "minimum": 0, "maximum": L.MAX_COST_USD},
                                     {"type": "string", "maxLength": 64}]}),
    "status": _nullable({"type": "string", "enum": ["ok", "error"]}),
    "error": _nullable({"oneOf": [
        _str(L.MAX_ERROR_MESSAGE),
        {"type": "object", "additionalProperties": False,
         "properties": {"type": _str(L.MAX_ERROR_TYPE), "message": _str(L.MAX_ERROR_MESSAGE)}},
    ]}),
    "prompt": _nullable({"type": "object", "additionalProperties": False, "properties": {
        "name": _str(L.MAX_PROMPT_NAME),
        "version": _nullable({"oneOf": [_str(L.MAX_PROMPT_VERSION), {"type": "integer"}]}),
    }}),
    "user_id": _str(L.MAX_USER),
    "session_id": _str(L.MAX_USER),
    "feature": _str(L.MAX_DIMENSION),
    "team": _str(L.MAX_DIMENSION),
    "environment": _str(L.MAX_ENVIRONMENT),
    "release": _str(L.MAX_DIMENSION),
    "params": _nullable({**OBJECT, "description": f"Request parameters; at most {L.MAX_METADATA_BYTES} bytes "
                                                  "of JSON"}),
    "tags": _nullable({"type": "array", "maxItems": L.MAX_TAGS, "items": _str(L.MAX_DIMENSION, 1)}),
    "metadata": _nullable({**OBJECT, "description": f"Anything else; at most {L.MAX_METADATA_BYTES} bytes of "
                                                    "JSON"}),
}

FEEDBACK_PROPERTIES: dict[str, Any] = {
    "call_id": {**ID, "description": "The `id` of the call it rates"},
    "id": _nullable(ID),
    "thumbs": _nullable({"type": "string", "enum": ["up", "down"]}),
    "rating": _nullable({"type": "integer", "minimum": 1, "maximum": 5}),
    "comment": _str(L.MAX_COMMENT),
    "user_id": _str(L.MAX_USER),
    "timestamp": TIMESTAMP,
    "metadata": OBJECT,
}

SCORE_PROPERTIES: dict[str, Any] = {
    "call_id": ID,
    "name": _str(L.MAX_DIMENSION, 1),
    "id": _nullable(ID),
    "value": _nullable({"type": "number", "minimum": -1e12, "maximum": 1e12}),
    "label": _str(L.MAX_DIMENSION),
    "source": {"type": "string", "enum": ["heuristic", "model", "judge", "human", "user", "api"], "default": "api"},
    "comment": _str(L.MAX_COMMENT),
    "timestamp": TIMESTAMP,
    "metadata": OBJECT,
}

EVENT_TYPES = {
    "call": _event(["call", "span"], CALL_PROPERTIES, description="A model call or a span of a trace"),
    "feedback": _event("feedback", FEEDBACK_PROPERTIES, ["call_id"], "An end user's feedback on a call"),
    "score": _event("score", SCORE_PROPERTIES, ["call_id", "name"], "A score of a call (a value and/or a label)"),
}

REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {
        "type": "array", "minItems": 1, "maxItems": L.MAX_EVENTS,
        "description": "Each event is checked on its own: one that breaks a rule (a field above, or a limit "
                       "such as the time window, the JSON nesting depth or the size of `metadata`) is refused "
                       "in `rejected_items` and the others are stored. Field reference: docs/api.md.",
        "items": {"oneOf": list(EVENT_TYPES.values())},
    }},
}
