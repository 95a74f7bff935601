"""Multi-row writes for a validated batch: one statement per table.

Rows travel as one JSON document expanded by `jsonb_to_recordset`: msgspec encodes it in C
(payloads are embedded verbatim as they arrived) and PostgreSQL parses it in C. Binding dozens
of parameter arrays instead cost more Python time than everything else on the path.
`INSERT ... ON CONFLICT DO NOTHING RETURNING` keeps idempotency in the same statement.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from django.db import connection, transaction

CALL_COLUMNS: list[tuple[str, str]] = [
    ("external_id", "text"), ("trace_id", "text"), ("parent_id", "text"), ("kind", "text"), ("name", "text"),
    ("start_time", "timestamptz"), ("end_time", "timestamptz"), ("latency_ms", "float8"), ("ttft_ms", "float8"),
    ("provider", "text"), ("model", "text"), ("operation", "text"), ("status", "text"), ("error_type", "text"),
    ("error_message", "text"), ("input_tokens", "int4"), ("output_tokens", "int4"),
    ("cached_input_tokens", "int4"), ("reasoning_tokens", "int4"), ("total_tokens", "int4"),
    ("cost_input_usd", "numeric"), ("cost_output_usd", "numeric"), ("cost_total_usd", "numeric"),
    ("cost_source", "text"), ("prompt_name", "text"), ("prompt_version", "text"), ("user_id", "text"),
    ("session_id", "text"), ("feature", "text"), ("team", "text"), ("environment", "text"), ("release", "text"),
    ("params", "jsonb"), ("tags", "varchar(100)[]"), ("metadata", "jsonb"),
]
_CALL_NAMES = [name for name, _ in CALL_COLUMNS]
_CALL_SQL = (
    "INSERT INTO telemetry_call (project_id, received_at, " + ", ".join(_CALL_NAMES) + ") "
    "SELECT %s, %s, " + ", ".join(f"u.{name}" for name in _CALL_NAMES)
    + " FROM json_to_recordset(%s::json) AS u(" + ", ".join(f"{n} {t}" for n, t in CALL_COLUMNS) + ") "
    "ON CONFLICT (project_id, external_id) DO NOTHING RETURNING external_id, id"
)
_PAYLOAD_SQL = (
    "INSERT INTO telemetry_callpayload (call_id, input, output, context, redaction) "
    "SELECT u.c, u.i, u.o, u.x, COALESCE(u.r, 'off') FROM json_to_recordset(%s::json)"
    " AS u(c int8, i jsonb, o jsonb, x jsonb, r text)"
)
_FEEDBACK_SQL = (
    "INSERT INTO telemetry_feedback (project_id, external_id, call_id, call_external_id, thumbs, rating, comment,"
    " end_user_id, metadata, created_at) "
    "SELECT %s, u.external_id, c.id, u.call_external_id, u.thumbs, u.rating, u.comment, u.end_user_id, u.metadata,"
    " u.created_at FROM json_to_recordset(%s::json) AS u(external_id text, call_external_id text, thumbs int2,"
    " rating int2, comment text, end_user_id text, metadata jsonb, created_at timestamptz) "
    "LEFT JOIN telemetry_call c ON c.project_id = %s AND c.external_id = u.call_external_id "
    "ON CONFLICT (project_id, external_id) DO NOTHING RETURNING external_id"
)
_SCORE_SQL = (
    "INSERT INTO telemetry_score (project_id, external_id, call_id, call_external_id, name, value, label, source,"
    " comment, metadata, created_at) "
    "SELECT %s, u.external_id, c.id, u.call_external_id, u.name, u.value, u.label, u.source, u.comment, u.metadata,"
    " u.created_at FROM json_to_recordset(%s::json) AS u(external_id text, call_external_id text, name text,"
    " value float8, label text, source text, comment text, metadata jsonb, created_at timestamptz) "
    "LEFT JOIN telemetry_call c ON c.project_id = %s AND c.external_id = u.call_external_id "
    "ON CONFLICT (project_id, external_id) DO NOTHING RETURNING external_id"
)
# Langfuse treats a score id as an upsert key: a score re-sent with its id replaces the stored one.
# Evaluators' scores ("eval:...") are never replaced by a client, and an identical re-send (an SDK
# retry) changes nothing, so it is still reported as a duplicate.
_SCORE_REPLACE_SQL = (
    "UPDATE telemetry_score s SET call_id = c.id, call_external_id = u.call_external_id, name = u.name,"
    " value = u.value, label = u.label, source = u.source, comment = u.comment, metadata = u.metadata "
    "FROM json_to_recordset(%s::json) AS u(external_id text, call_external_id text, name text, value float8,"
    " label text, source text, comment text, metadata jsonb) "
    "LEFT JOIN telemetry_call c ON c.project_id = %s AND c.external_id = u.call_external_id "
    "WHERE s.project_id = %s AND s.external_id = u.external_id AND s.external_id NOT LIKE 'eval:%%'"
    " AND (s.call_external_id, s.name, s.value, s.label, s.source, s.comment, s.metadata)"
    " IS DISTINCT FROM (u.call_external_id, u.name, u.value, u.label, u.source, u.comment, u.metadata) "
    "RETURNING s.external_id"
)
_encoder = msgspec.json.Encoder(decimal_format="string")


def _cursor() -> psycopg.Cursor[Any]:
    # A plain psycopg cursor (server-side binding) on Django's connection and transaction.
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _document(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> str:
    return _encoder.encode([{name: row[name] for name in names} for row in rows]).decode()


def _insert_calls(project_id: int, received_at: datetime, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    with _cursor() as cur:
        cur.execute(_CALL_SQL, [project_id, received_at, _document(rows, _CALL_NAMES)])
        inserted = {external_id: call_id for external_id, call_id in cur.fetchall()}
        # A redacted call always gets its payload row: it records the redaction mode in force.
        payloads = [{"c": inserted[r["external_id"]], "i": r["input"], "o": r["output"], "x": r["context"],
                     "r": r.get("redaction")}
                    for r in rows if r["external_id"] in inserted
                    and (r["input"] or r["output"] or r["context"] or r.get("redaction"))]
        if payloads:
            cur.execute(_PAYLOAD_SQL, [_encoder.encode(payloads).decode()])
    return inserted


FEEDBACK_FIELDS = ["external_id", "call_external_id", "thumbs", "rating", "comment", "end_user_id", "metadata",
                   "created_at"]
SCORE_FIELDS = ["external_id", "call_external_id", "name", "value", "label", "source", "comment", "metadata",
                "created_at"]


def _insert_linked(sql: str, fields: list[str], project_id: int, rows: Sequence[dict[str, Any]]) -> set[str]:
    with _cursor() as cur:
        cur.execute(sql, [project_id, _document(rows, fields), project_id])
        return {external_id for (external_id,) in cur.fetchall()}


_REFUSED = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded)


def _with_fallback(rows: Sequence[dict[str, Any]], write: Callable[[Sequence[dict[str, Any]]], Any],
                   rejected: dict[str, str]) -> list[Any]:
    """Write all rows in one statement; if the database refuses the batch, find the culprits one by one."""
    if not rows:
        return []
    try:
        with transaction.atomic():
            return [write(rows)]
    except _REFUSED as exc:
        if len(rows) == 1:
            rejected[rows[0]["external_id"]] = _db_message(exc)
            return []
    results = []
    for row in rows:
        try:
            with transaction.atomic():
                results.append(write([row]))
        except _REFUSED as exc:
            rejected[row["external_id"]] = _db_message(exc)
    return results


def _db_message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    detail = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    return f"the database could not store this event: {detail}"


def write_batch(*, project_id: int, received_at: datetime, calls: Sequence[dict[str, Any]],
                feedback: Sequence[dict[str, Any]], scores: Sequence[dict[str, Any]]
                ) -> tuple[set[str], set[str], set[str], dict[str, str]]:
    """Insert a batch in the caller's transaction. Returns the external ids inserted per kind,
    and {external_id: reason} for rows the database refused."""
    rejected: dict[str, str] = {}
    inserted_calls: set[str] = set()
    for part in _with_fallback(calls, lambda rs: _insert_calls(project_id, received_at, rs), rejected):
        inserted_calls.update(part)
    inserted_feedback: set[str] = set()
    for part in _with_fallback(feedback, lambda rs: _insert_linked(_FEEDBACK_SQL, FEEDBACK_FIELDS, project_id, rs),
                               rejected):
        inserted_feedback.update(part)
    inserted_scores: set[str] = set()
    for part in _with_fallback(scores, lambda rs: _insert_linked(_SCORE_SQL, SCORE_FIELDS, project_id, rs),
                               rejected):
        inserted_scores.update(part)
    return inserted_calls, inserted_feedback, inserted_scores, rejected


_REPLACE_FIELDS = [f for f in SCORE_FIELDS if f != "created_at"]


def _replace_scores(project_id: int, rows: Sequence[dict[str, Any]]) -> set[str]:
    with _cursor() as cur:
        cur.execute(_SCORE_REPLACE_SQL, [_document(rows, _REPLACE_FIELDS), project_id, project_id])
        return {external_id for (external_id,) in cur.fetchall()}


def scores_replace(*, project_id: int, scores: Sequence[dict[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """Overwrite stored scores with these rows (by external id; created_at is kept), in the caller's
    transaction. Returns the external ids changed, and {external_id: reason} for rows refused."""
    rejected: dict[str, str] = {}
    replaced: set[str] = set()
    for part in _with_fallback(scores, lambda rs: _replace_scores(project_id, rs), rejected):
        replaced.update(part)
    return replaced, rejected
