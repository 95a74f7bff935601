"""Evaluate one claimed batch of calls: load them with their payloads in one query, run each
evaluator over the whole batch (quality.registry.evaluate_many), and write scores, flags, the
calls' evaluation state and the score rollups, in the claiming transaction.

Written for throughput (1,000+ calls/s per worker process, bench/scoring.py): rows go in with COPY
rather than the ORM (a call has ~12 scores; building model instances cost more than scoring),
re-scoring bookkeeping runs only for calls evaluated before, and payloads larger than
PAYLOAD_CAP are cut in SQL, so a 5 MB output is never even decoded in the worker.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult
from quality.registry import evaluate_many
from quality.samples import sample_of
from quality.scorefold import scores_fold
from rollups.copyrows import copy_rows
from rollups.cubes import DIMENSIONS
from rollups.selectors import EVALUATED_ANY
from telemetry.models import ScoreSource

_HEURISTIC = ScoreSource.HEURISTIC.value
_encode = msgspec.json.encode  # several times faster than json.dumps on small dicts
SCORE_PREFIX = "eval:"  # external ids of evaluator scores: eval:<call id>:<score name>
# Characters of a payload field the worker reads at most (head and tail of its JSON text beyond
# this). Each evaluator then bounds its own reading further (docs/quality.md, "Cost caps").
PAYLOAD_CAP = 200_000
# EVALUATED_ANY (rollups' name) counts the calls evaluated by at least one evaluator. What one
# evaluator evaluated is the count of the score it always gives when it can judge a call (its
# `evaluated_score`, quality.selectors.flag_denominator), so no further entries are needed.


def _capped(column: str) -> str:
    # The JSON text of a payload field, or for a huge one a JSON string of its start and end.
    # Measured on the text, not on pg_column_size: TOAST compresses repetitive text 100-fold.
    half = PAYLOAD_CAP // 2
    return (f"CASE WHEN octet_length(t.{column}) <= {PAYLOAD_CAP} THEN t.{column}"
            f" ELSE to_jsonb(left(t.{column}, {half}) || ' … ' || right(t.{column}, {half}))::text END")


_LOAD_SQL = f"""
SELECT c.id, c.external_id, c.model, c.params, c.metadata, c.feature, c.prompt_name, c.prompt_version,
       {", ".join(f"COALESCE(c.{d}, '')" for d in DIMENSIONS)},
       (extract(epoch FROM c.start_time) * 1000000)::int8,
       {_capped("input")}, {_capped("output")}, {_capped("context")},
       octet_length(t.input) > {PAYLOAD_CAP}, octet_length(t.output) > {PAYLOAD_CAP}
FROM telemetry_call c LEFT JOIN telemetry_callpayload p ON p.call_id = c.id
CROSS JOIN LATERAL (SELECT p.input::text AS input, p.output::text AS output, p.context::text AS context) t
WHERE c.project_id = %s AND c.id = ANY(%s)
ORDER BY c.id
"""
_SCORE_COPY = ("COPY telemetry_score (project_id, external_id, call_id, call_external_id, name, value, label,"
               " source, comment, metadata, created_at) FROM STDIN")
_FLAG_COPY = "COPY quality_flag (project_id, call_id, name, severity, evaluator, detail, created_at) FROM STDIN"
_STATE_COPY = ("COPY quality_evaluation (call_id, project_id, status, evaluators, errors, duration_ms,"
               " evaluated_at, reason) FROM STDIN")
# What a re-scored call was folded as: its evaluator scores, flags and evaluated counts.
_PREVIOUS_SQL = """
SELECT call_id, name, value FROM telemetry_score
WHERE call_id = ANY(%(ids)s) AND external_id LIKE 'eval:%%' AND value IS NOT NULL
UNION ALL SELECT call_id, 'flag:' || name, 1.0 FROM quality_flag WHERE call_id = ANY(%(ids)s)
UNION ALL SELECT call_id, 'evaluated:*', 1.0 FROM quality_evaluation
WHERE call_id = ANY(%(ids)s) AND status <> 'skipped' AND cardinality(evaluators) > 0
UNION ALL SELECT call_id, 'mix:language:' || split_part(label, '→', 1), 1.0 FROM telemetry_score
WHERE call_id = ANY(%(ids)s) AND external_id LIKE 'eval:%%' AND name = 'language_match'
  AND split_part(label, '→', 1) NOT IN ('', '?') AND label LIKE '%%→%%'
"""


@dataclass(frozen=True)
class LoadedCall:
    id: int
    external_id: str
    dims: tuple[str, ...]
    start_us: int
    sample: Sample

    @property
    def esc_external_id(self) -> str:
        return _esc(self.external_id)


def sampled(call_id: int, rate: float) -> bool:
    """Deterministic: re-scoring a range scores the same calls again."""
    digest = hashlib.blake2b(str(call_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def _json(value: Any) -> Any:
    # Django's psycopg setup hands jsonb over as text (its JSONField decodes); msgspec decodes
    # several times faster than json.
    return msgspec.json.decode(value) if isinstance(value, (str, bytes)) else value


def calls_load(cur: Any, project_id: int, ids: list[int]) -> list[LoadedCall]:
    cur.execute(_LOAD_SQL, [project_id, ids])
    n = len(DIMENSIONS)
    out = []
    for row in cur.fetchall():
        call_id, external_id, model, params, metadata, feature, prompt_name, prompt_version = row[:8]
        dims, start_us, payload_in, payload_out, context, cut_in, cut_out = (row[8:8 + n], row[8 + n],
                                                                             *row[9 + n:])
        sample = sample_of(model=model, params=_json(params) or {}, metadata=_json(metadata) or {},
                           input=_json(payload_in), output=_json(payload_out), context=_json(context),
                           project_id=project_id, call_id=call_id, feature=feature, prompt_name=prompt_name,
                           prompt_version=prompt_version,
                           truncated=tuple(name for name, cut in (("input", cut_in), ("output", cut_out)) if cut))
        out.append(LoadedCall(call_id, external_id, tuple(dims), int(start_us), sample))
    return out


class BatchWriter:
    """Collects one batch's rows and rollup entries, then writes them with COPY."""

    def __init__(self, project_id: int, now: datetime) -> None:
        self.project_id, self.now = project_id, now
        self.score_lines: list[str] = []
        self.prefix, self.stamp = str(project_id), now.isoformat()
        self.flags: list[tuple[Any, ...]] = []
        self.states: list[tuple[Any, ...]] = []
        self.entries: list[tuple[tuple[str, ...], int, str, float, int]] = []

    def skipped(self, call: LoadedCall, reason: str) -> None:
        self.states.append((call.id, self.project_id, "skipped", "{}", "{}", 0.0, self.now, reason[:200]))

    def evaluated(self, call: LoadedCall, found: list[tuple[str, Result | str]], duration_ms: float) -> None:
        errors: dict[str, str] = {}
        ran: list[str] = []
        seen: set[str] = set()
        for evaluator, result in found:
            if isinstance(result, str):
                errors[evaluator] = result
                continue
            ran.append(evaluator)
            for score in result.scores:
                self._score(call, score)
            for flag in result.flags:
                if flag.name not in seen:
                    seen.add(flag.name)
                    self._flag(call, evaluator, flag)
        if ran:
            self.entries.append((call.dims, call.start_us, EVALUATED_ANY, 1.0, 1))
        self.states.append((call.id, self.project_id, "partial" if errors else "done", _array(ran),
                            json.dumps(errors), duration_ms, self.now, ""))

    def _score(self, call: LoadedCall, score: ScoreResult) -> None:
        if score.value is None:
            return
        name, value = score.name[:100], float(score.value)
        source = getattr(score, "source", _HEURISTIC)  # "judge": quality.judge
        extra = getattr(score, "metadata", None)
        metadata = {"reasons": score.reasons, **extra} if extra else {"reasons": score.reasons}
        # One COPY line, encoded here: a call has ~12 scores, and a generic per-field encoder was
        # a fifth of the whole evaluation path.
        self.score_lines.append(
            f"{self.prefix}\t{_esc(SCORE_PREFIX + str(call.id) + ':' + score.name)[:255]}\t{call.id}\t"
            f"{call.esc_external_id}\t{_esc(name)}\t{value!r}\t{_esc(score.label[:100])}\t{source}\t"
            f"{_esc('; '.join(score.reasons)[:2000])}\t{_esc(_encode(metadata).decode())}\t{self.stamp}\n")
        self.entries.append((call.dims, call.start_us, name, value, 1))
        if score.name == "language_match" and "→" in score.label:
            # The language of the input, as the language evaluator detected it ("fr→fr"): drift's
            # language mix (rollups/dists.py names). _PREVIOUS_SQL folds it out again on re-scoring.
            language = score.label.split("→", 1)[0]
            if language not in ("", "?"):
                self.entries.append((call.dims, call.start_us, f"mix:language:{language}"[:120], 1.0, 1))

    def _flag(self, call: LoadedCall, evaluator: str, flag: FlagResult) -> None:
        name = flag.name[:120]
        self.flags.append((self.project_id, call.id, name, flag.severity, evaluator[:40], flag.detail[:2000],
                           self.now))
        self.entries.append((call.dims, call.start_us, f"flag:{flag.name}"[:120], 1.0, 1))

    def write(self, cur: Any) -> None:
        if self.score_lines:
            with getattr(cur, "cursor", cur).copy(_SCORE_COPY) as copy:
                copy.write("".join(self.score_lines))
        copy_rows(cur, _FLAG_COPY, self.flags)
        copy_rows(cur, _STATE_COPY, self.states)
        scores_fold(cur, self.project_id, self.entries)


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _esc(text: str) -> str:
    """A text field for COPY's text format."""
    return text.translate(_ESCAPES)


def _array(names: list[str]) -> str:
    """A text[] literal; names are evaluator names (letters, digits, . _ - :), quoted anyway."""
    return "{" + ",".join('"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"' for n in names) + "}"


def previous_forget(cur: Any, writer: BatchWriter, calls: list[LoadedCall]) -> None:
    """For calls evaluated before (re-scoring): fold their old figures out (weight -1) and delete
    their old scores, flags and state, so the new ones replace them."""
    ids = [c.id for c in calls]
    cur.execute("SELECT call_id FROM quality_evaluation WHERE call_id = ANY(%s)", [ids])
    again = [row[0] for row in cur.fetchall()]
    if not again:
        return
    keys = {c.id: (c.dims, c.start_us) for c in calls}
    cur.execute(_PREVIOUS_SQL, {"ids": again})
    for call_id, name, value in cur.fetchall():
        writer.entries.append((*keys[call_id], name, float(value), -1))
    cur.execute("DELETE FROM telemetry_score WHERE call_id = ANY(%s) AND external_id LIKE 'eval:%%'", [again])
    cur.execute("DELETE FROM quality_flag WHERE call_id = ANY(%s)", [again])
    cur.execute("DELETE FROM quality_evaluation WHERE call_id = ANY(%s)", [again])


_KEYS_SQL = f"""
SELECT id, {", ".join(f"COALESCE({d}, '')" for d in DIMENSIONS)}, (extract(epoch FROM start_time) * 1000000)::int8
FROM telemetry_call WHERE id = ANY(%s)
"""


def evaluations_refold(cur: Any, project_id: int, ids: list[int]) -> None:
    """rollups.services.rollups_rebuild: fold the stored evaluator scores, flags and evaluated
    counts of `ids` again (the rebuild deleted the range's parts, these included)."""
    cur.execute(_KEYS_SQL, [ids])
    n = len(DIMENSIONS)
    keys = {row[0]: (tuple(row[1:1 + n]), int(row[1 + n])) for row in cur.fetchall()}
    cur.execute(_PREVIOUS_SQL, {"ids": ids})
    entries = [(*keys[call_id], name, float(value), 1) for call_id, name, value in cur.fetchall() if call_id in keys]
    scores_fold(cur, project_id, entries)


# Other apps act on freshly evaluated calls (review routes flagged calls to queues) by registering
# here from their AppConfig.ready(): quality never imports them. A hook runs in the evaluation's
# transaction, after its scores, flags and state are written, so it sees them, and a failure rolls
# the whole batch back to be claimed again (nothing half-routed).
AfterEvaluation = Callable[[Any, int, list[int]], None]  # (cursor, project id, evaluated call ids)
_AFTER_EVALUATION: list[AfterEvaluation] = []


def register_after_evaluation(hook: AfterEvaluation) -> None:
    if hook not in _AFTER_EVALUATION:
        _AFTER_EVALUATION.append(hook)


def batch_evaluate(cur: Any, *, project_id: int, ids: list[int], evaluators: list[tuple[Any, dict[str, Any]]],
                   rate: float, shed: tuple[float, str] | None, now: datetime) -> None:
    """Evaluate the claimed `ids`. `rate` is the project's sample rate; `shed` (a further rate and
    its reason) applies while evaluation lags past the project's limit."""
    calls = calls_load(cur, project_id, ids)
    writer = BatchWriter(project_id, now)
    previous_forget(cur, writer, calls)
    chosen: list[LoadedCall] = []
    for call in calls:
        if rate < 1 and not sampled(call.id, rate):
            writer.skipped(call, f"sampled out at the project's sample rate {rate:g}")
        elif shed is not None and not sampled(call.id, rate * shed[0]):
            writer.skipped(call, shed[1])
        else:
            chosen.append(call)
    if chosen:
        samples = [call.sample for call in chosen]
        found: list[list[tuple[str, Result | str]]] = [[] for _ in chosen]
        began = time.perf_counter()
        for evaluator, config in evaluators:
            for i, result in enumerate(evaluate_many(evaluator, samples, config)):
                found[i].append((evaluator.name, result))
        each_ms = (time.perf_counter() - began) * 1000 / len(chosen)  # evaluators run per batch
        for call, results in zip(chosen, found, strict=True):
            writer.evaluated(call, results, each_ms)
    writer.write(cur)
    if chosen:
        evaluated = [call.id for call in chosen]
        for hook in _AFTER_EVALUATION:
            hook(cur, project_id, evaluated)
