"""A payload over the size limit is cut, never refused and never cut silently.

The call keeps its latency, tokens and cost; the payload becomes a marker object that says so
(`{"truncated": true, "original_bytes": N, "limit_bytes": L, "preview": "<the start>"}`), which
the call detail page shows as such, and the answer names the field that was cut. One shape for
the native API and the OTLP receiver.
"""
from __future__ import annotations

from typing import Any

import msgspec

from ingest import limits

_encode = msgspec.json.encode
_MARKER_NEEDS = frozenset({"truncated", "original_bytes", "preview"})  # limit_bytes came later


def is_marker(value: Any) -> bool:
    """Whether a stored payload is the marker of a cut one."""
    return isinstance(value, dict) and value.get("truncated") is True and _MARKER_NEEDS <= value.keys()


def marker(text: str, size: int) -> dict[str, Any]:
    """The marker for a payload of `size` bytes whose text is `text`, within the limit: the
    preview is halved until it fits (escapes and UTF-8 make the JSON longer than the text)."""
    limit = limits.MAX_PAYLOAD_BYTES
    keep = limit // 2
    while True:
        value = {"truncated": True, "original_bytes": size, "limit_bytes": limit, "preview": text[:keep]}
        if len(_encode(value)) <= limit or keep == 0:
            return value
        keep //= 2


def raw_marker(data: bytes) -> bytes:
    """The marker, as JSON, for the JSON text `data` of a native event's payload: a JSON string
    previews as its text, anything else as its compact JSON (escapes such as \\u00e9 undone)."""
    try:
        decoded = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):  # the event decoded, so this is a guard
        decoded = data.decode("utf-8", "replace")
    return _encode(marker(decoded if isinstance(decoded, str) else _encode(decoded).decode(), len(data)))


def cut_message(size: int) -> str:
    return (f"was {size} bytes of JSON, over the {limits.MAX_PAYLOAD_BYTES}-byte limit "
            "(OBSERVATORY_INGEST_MAX_PAYLOAD_BYTES): stored truncated, marked \"truncated\": true; the call "
            "and its metrics are kept")
