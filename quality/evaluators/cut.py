"""Recognises a payload field that ingest stored truncated (over OBSERVATORY_INGEST_MAX_PAYLOAD_BYTES,
ingest.payloads): its marker `{"truncated": true, "original_bytes", "limit_bytes", "preview"}`
reaches a Sample as the marker's JSON text, which no evaluator should read as the answer.

The worker may have cut that JSON text itself (a marker past quality.batch.PAYLOAD_CAP arrives as
its start and end, and quality.samples bounds each field), so the marker is recognised from its
two ends: PostgreSQL's jsonb writes the shortest key first, so "preview" opens it and the sizes
close it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

_OPEN = '{"preview": "'
# jsonb's order and spacing (keys by length, then bytewise): how the worker receives every marker.
_CLOSE = re.compile(r'", "truncated": true, "limit_bytes": (\d+), "original_bytes": (\d+)\}\Z')
_CLOSE_OLD = re.compile(r'", "truncated": true, "original_bytes": (\d+)\}\Z')  # before limit_bytes


@dataclass(frozen=True)
class IngestCut:
    preview: str  # the start of the payload that ingest kept (its text, or its compact JSON)
    original_bytes: int
    limit_bytes: int  # 0 when the marker predates limit_bytes

    def reason(self, field: str) -> str:
        limit = f", over the {self.limit_bytes:,}-byte limit" if self.limit_bytes else ""
        return f"not judged: the {field} was stored truncated ({self.original_bytes:,} bytes{limit})"


def ingest_cut(text: str) -> IngestCut | None:
    """The marker in `text` (a Sample field), or None when the field is an ordinary payload."""
    if not (text.startswith("{") and text.endswith("}")) or '"truncated": true' not in text[-120:] + text[:40]:
        return None
    try:
        value = json.loads(text)
    except ValueError:  # cut by the worker: read the ends
        return _from_ends(text)
    if not (isinstance(value, dict) and value.get("truncated") is True and {"original_bytes", "preview"} <= value.keys()):
        return None
    return IngestCut(str(value["preview"]), _int(value.get("original_bytes")), _int(value.get("limit_bytes")))


def _from_ends(text: str) -> IngestCut | None:
    tail = text[-120:]
    match = _CLOSE.search(tail)
    limit, size = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if match is None:
        match = _CLOSE_OLD.search(tail)
        size = int(match.group(1)) if match else 0
    if match is None or not text.startswith(_OPEN):
        return None
    escaped = text[len(_OPEN):len(text) - len(tail) + match.start()]
    try:  # the worker's cuts put raw text (" … ", a newline) into the JSON string: not strict
        preview = json.loads(f'"{escaped}"', strict=False)
    except ValueError:  # a cut fell inside an escape sequence: the text as stored is close enough
        preview = escaped
    return IngestCut(preview, size, limit)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
