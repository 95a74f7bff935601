"""Server-side PII redaction at ingest: payloads are masked (or dropped) before anything is
written, and the counts are kept as a "pii.redacted" score so the call still says what it held."""
from __future__ import annotations

import time
from typing import Any

import msgspec

from quality.evaluators.pii import redact_json

_CACHE_SECONDS = 10.0
_cache: dict[int, tuple[float, bool, str, tuple[str, ...]]] = {}


def _cached(project_id: int) -> tuple[float, bool, str, tuple[str, ...]]:
    """(read at, evaluate, redaction mode, types) for a project, cached briefly per process:
    ingest and the fold must not add a query per batch, and a change takes effect within seconds."""
    now = time.monotonic()
    hit = _cache.get(project_id)
    if hit and now - hit[0] < _CACHE_SECONDS:
        return hit
    from quality.models import QualitySettings

    row = QualitySettings.objects.filter(project_id=project_id).values_list(
        "evaluate", "redaction", "redaction_types").first()
    _cache[project_id] = (now, row[0], row[1], tuple(row[2])) if row else (now, True, "off", ())
    return _cache[project_id]


def redaction_for(project_id: int) -> tuple[str, tuple[str, ...]]:
    """(mode, PII types) of a project's redaction at ingest."""
    _, _, mode, types = _cached(project_id)
    return mode, types


def evaluation_enabled(project_id: int) -> bool:
    return _cached(project_id)[1]


def call_redact(row: dict[str, Any], mode: str, types: tuple[str, ...]) -> dict[str, int]:
    """Redact a parsed call's input, output and context in place (msgspec.Raw JSON values).
    Returns the PII counts by type. In "drop" mode a call with any PII keeps no payload."""
    counts: dict[str, int] = {}
    redacted: dict[str, Any] = {}
    for name in ("input", "output", "context"):
        raw = row.get(name)
        if raw is None:
            continue
        value, found = redact_json(msgspec.json.decode(bytes(raw)), types or None)
        for kind, n in found.items():
            counts[kind] = counts.get(kind, 0) + n
        redacted[name] = value
    if counts:
        for name, value in redacted.items():
            row[name] = None if mode == "drop" else msgspec.Raw(msgspec.json.encode(value))
    row["redaction"] = mode
    return counts


def redaction_score(row: dict[str, Any], mode: str, counts: dict[str, int]) -> dict[str, Any]:
    """The "pii.redacted" score of a call, written with it (idempotent by its external id)."""
    return {"external_id": f"pii-redacted:{row['external_id']}", "call_external_id": row["external_id"],
            "name": "pii.redacted", "value": float(sum(counts.values())), "label": mode, "source": "heuristic",
            "comment": ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())),
            "metadata": {"counts": counts, "mode": mode}, "created_at": row["start_time"]}
