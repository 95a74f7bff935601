"""Checks on the shape of a model's answer: refusals, empty/truncated/filtered output, and
invalid JSON when JSON was asked for. Pure Python; every check is bounded on huge input."""
from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from itertools import islice
from typing import Any

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult

# Refusals open the answer; a "can't" deep inside a long answer is advice, not a refusal, so only
# the first characters are read (this also bounds the regex work on huge outputs).
_HEAD_CHARS = 600

# Verbs that make "I can't <verb>" a refusal; "I can't wait", "I can't stress enough" stay answers.
_VERBS = (r"(?:help|assist|provide|comply|fulfil+|do (?:that|this|so)|support|answer|create|generate|"
          r"write|produce|give|share|offer|engage|continue|discuss|participate|complete|"
          r"carry out|perform|process|access|browse|draft|recommend|advise|disclose)"
          # "I can't help but notice", "I can't recommend it enough" are enthusiasm, not refusals.
          r"(?!\s+but\b|\s+(?:noticing|thinking|feeling|wondering)|[^.!?]{0,40}\benough\b)")
_NEG = (r"(?:can(?:'t|not| not)|won't(?: be able to)?|will not(?: be able to)?|am (?:not able|unable) to|"
        r"'m (?:not able|unable) to|must (?:decline|refuse)(?: to)?|am not (?:going|allowed|permitted) to|"
        r"'m not (?:going|allowed|permitted) to|(?:don't|do not) (?:feel comfortable|think i (?:can|should)))")

_STRONG = [re.compile(p) for p in (
    # English, first person only: "You cannot delete a branch" is not the model declining.
    (rf"(?:^|[.!?\n:;\u2014\u2013-]\s*|,\s*(?:but|however)?\s*|\bbut\s+|\bsorry\s+)(?:i|we)\s*{_NEG}\s+"
     rf"(?:(?:help|assist)\s+(?:you\s+)?with|{_VERBS})"),
    r"(?:^|[.!?\n]\s*)(?:i|we) (?:must|have to) (?:respectfully )?decline",
    (r"(?:that's|that is|this is|it's|it is) not something (?:i|we) (?:can|am able to|'m able to|will) "
     r"(?:help|assist|do|provide)"),
    (r"i(?:'m| am) (?:sorry|afraid),? (?:but )?(?:i|we) "
     r"(?:can't|cannot|won't|am unable|'m unable|am not able|'m not able)"),
    r"i(?:'m| am) (?:sorry|afraid),? (?:but )?(?:that's|that is|this is) not something",
    (r"as an ai(?: language model| model| assistant)?,? i "
     r"(?:can't|cannot|can not|am unable|'m unable|am not able|'m not able|won't|must)"),
    # Spanish, French, German, Italian, Portuguese: the usual openings of a refusal.
    r"lo siento,? (?:pero )?no (?:puedo|me es posible)",
    r"no puedo (?:ayudar|asistir|proporcionar|cumplir|hacer eso|responder|generar|crear)",
    r"como (?:un )?(?:modelo de lenguaje|ia|asistente de ia),? no (?:puedo|tengo)",
    r"(?:je suis |je suis vraiment )?d[ée]sol[ée]e?,? (?:mais )?je ne (?:peux|suis) pas",
    (r"je ne (?:peux|pourrai) pas (?:vous |t')?"
     r"(?:aider|assister|fournir|r[ée]pondre|faire (?:cela|ça)|g[ée]n[ée]rer|cr[ée]er)"),
    r"je ne suis pas en mesure de",
    r"en tant qu(?:e |')(?:mod[eè]le de langage|ia|intelligence artificielle|assistant)[^.!?]{0,20}je ne",
    r"es tut mir leid,? (?:aber )?ich (?:kann|darf|werde)[^.!?]{0,60}nicht",
    r"ich kann (?:ihnen|dir|euch)? ?(?:dabei|damit|hierbei)? ?nicht (?:helfen|behilflich|weiterhelfen)",
    r"ich (?:kann|darf) (?:keine|keinen|kein) [^.!?]{0,40}(?:geben|bereitstellen|erstellen|liefern|erteilen)",
    r"ich bin nicht in der lage",
    r"als (?:ki|ki-sprachmodell|sprachmodell|ki-assistent)[^.!?]{0,20}(?:kann|darf) ich [^.!?]{0,40}nicht",
    r"mi dispiace,? (?:ma )?non (?:posso|sono in grado)",
    r"non posso (?:aiutar|assister|fornire|rispondere|farlo)",
    r"(?:desculpe|lamento|sinto muito),? (?:mas )?n[ãa]o (?:posso|consigo|sou capaz)",
    r"n[ãa]o posso (?:ajudar|fornecer|responder|fazer isso|atender)",
    # Chinese and Japanese openings.
    r"(?:抱歉|对不起|很抱歉)[，,]?\s*(?:我)?(?:无法|不能)",
    r"申し訳(?:ありません|ございません)が[、,]?.{0,30}(?:できません|お答えできません)",
)]

# Every strong pattern needs one of these words; a substring check for them skips the 24 pattern
# searches on the answers that decline nothing (nearly all). Keep it in step with _STRONG.
_STRONG_NEEDS = (
    "can't", "cannot", "can not", "won't", "will not", "unable", "not able", "decline", "refuse", "not going",
    "not allowed", "not permitted", "feel comfortable", "think i", "not something", "as an ai", "no puedo",
    "no me es posible", "no tengo", "je ne", "nicht", "kein", "non posso", "non sono", "o posso", "o consigo",
    "o sou capaz", "无法", "不能", "できません")

# Weak signals: an AI disclaimer or a stated limitation without declining outright.
_WEAK = [re.compile(p) for p in (
    r"^as an ai(?: language model| model| assistant)?,? i\b",
    r"^(?:i|we) (?:don't|do not) have (?:access to|the ability to)",
    r"^en tant qu(?:e |')(?:mod[eè]le de langage|ia|intelligence artificielle)",
    r"^como (?:un )?(?:modelo de lenguaje|ia)\b",
    r"^als (?:ki|ki-sprachmodell|sprachmodell)\b",
)]

# After a refusal, a pivot plus real content is a partial refusal ("I can't do X, but here is Y").
_PIVOT = re.compile(r"\b(?:but|however|instead|that said|here(?:'s| is| are)|you (?:can|could|might|may)|"
                    r"i can|sin embargo|pero|cependant|mais|toutefois|aber|jedoch|stattdessen|però|porém|mas)\b")
_PARTIAL_MIN_WORDS = 25
_PARTIAL_MIN_WORDS_BEFORE = 8  # "Here is the fix for Linux. I can't test it on Windows." answered first
_SENTENCE_END = re.compile(r"[.!?。！？](?:\s|$)")


def _in_opening(head: str, start: int) -> bool:
    # The first two sentences: later refusals are caveats inside an answer.
    return len(_SENTENCE_END.findall(head[:start])) <= 1


def _options(defaults: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
    # The caller may or may not merge defaults; merging again is harmless.
    return {**defaults, **(config if isinstance(config, dict) else {})}


def _number(value: Any, fallback: float) -> float:
    # A bad value in a project's settings must not break evaluation of every call.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return fallback
    return float(value)


def _normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    # Markdown emphasis and a leading quote or heading mark must not hide "**I cannot help**".
    text = text.replace("**", "").replace("__", "")
    return re.sub(r"\s+", " ", text).strip().lstrip("#>*_\"'` ").casefold()


class RefusalEvaluator:
    """Score `refusal`: 1.0 the answer declines, 0.5 it declines in part or only disclaims, 0.0 it
    answers. Only the opening of the answer is read, and only first-person patterns count."""

    name = "refusal"
    score_directions = {"refusal": "lower"}
    flag_names = ("refusal",)
    evaluated_score = "refusal"
    defaults: dict[str, Any] = {"flag_min_score": 1.0}  # 0.5 to also flag partial refusals

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        options = _options(self.defaults, config)
        cut = sample.cut_at_ingest.get("output")
        if cut is not None:  # the preview may be the JSON of a message list, not the answer's opening
            return Result(scores=[ScoreResult("refusal", None, "skipped", (cut.reason("output"),))])
        raw = (sample.output_text or "")[: _HEAD_CHARS * 4]
        text = _normalise(raw)
        if not text:
            return Result()  # nothing said is not a refusal; CompletenessEvaluator reports it
        head = text[:_HEAD_CHARS]
        value, label = 0.0, "answered"
        reasons: tuple[str, ...] = ()
        match = None
        if any(word in head for word in _STRONG_NEEDS):
            match = next((m for p in _STRONG if (m := p.search(head)) and _in_opening(head, m.start())), None)
        if match is not None:
            before, rest = text[:match.start()], text[match.end():]
            helped_after = _PIVOT.search(rest) and len(rest.split()) >= _PARTIAL_MIN_WORDS
            if helped_after or len(before.split()) >= _PARTIAL_MIN_WORDS_BEFORE:
                value, label = 0.5, "partial"
                reasons = ("declines part of the request and answers the rest",)
            else:
                value, label = 1.0, "refusal"
                reasons = ("opens with a first-person refusal",)
        elif any(p.search(head) for p in _WEAK):
            value, label = 0.5, "partial"
            reasons = ("opens with an AI disclaimer or a stated limitation",)
        result = Result(scores=[ScoreResult("refusal", value, label, reasons)])
        if value > 0 and value >= _number(options.get("flag_min_score"), 1.0):
            result.flags.append(FlagResult("refusal", "low", reasons[0]))
        return result


_TRUNCATED = ("length", "max_tokens", "max_output_tokens", "model_length", "token_limit")
_FILTERED = ("content_filter", "content_filtered", "safety", "recitation", "blocklist",
             "prohibited_content", "spii", "guardrail_intervened", "refusal", "image_safety")


_ALNUM = re.compile(r"[^\W_]")


def _has_content(text: str) -> bool:
    # Letters, digits or symbols (emoji) count; punctuation and code-fence backticks alone do not.
    if _ALNUM.search(text):
        return True
    # Emoji-only answers are short; the cap keeps a megabyte of punctuation cheap.
    return any(unicodedata.category(ch) == "So" for ch in text[:20_000])


class CompletenessEvaluator:
    """Score `completeness`: 1.0 complete, 0.5 cut short (token limit or content filter), 0.0 empty."""

    name = "completeness"
    score_directions = {"completeness": "higher"}
    flag_names = ("output.empty", "output.truncated", "output.filtered")
    evaluated_score = "completeness"
    defaults: dict[str, Any] = {"truncated_reasons": list(_TRUNCATED), "filtered_reasons": list(_FILTERED)}

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        options = _options(self.defaults, config)
        reason = str(sample.finish_reason or "").strip().casefold()
        truncated = reason in _casefolded(options.get("truncated_reasons"), _TRUNCATED)
        filtered = reason in _casefolded(options.get("filtered_reasons"), _FILTERED)
        # Scanning stops at the first meaningful character, so huge outputs cost nothing.
        empty = not _has_content(sample.output_text or "")
        result = Result()
        if empty:
            value, label = 0.0, "empty"
            result.flags.append(FlagResult("output.empty", "medium", "the answer has no text"))
        elif truncated or filtered:
            value, label = 0.5, "truncated" if truncated else "filtered"
        else:
            value, label = 1.0, "complete"
        reasons: list[str] = []
        if truncated:
            reasons.append(f"stopped by the token limit (finish_reason {reason!r})")
            result.flags.append(FlagResult("output.truncated", "medium", reasons[-1]))
        if filtered:
            reasons.append(f"stopped by a content filter (finish_reason {reason!r})")
            result.flags.append(FlagResult("output.filtered", "medium", reasons[-1]))
        if empty:
            reasons.insert(0, "the answer is empty or only punctuation")
        if "output" in sample.cut_at_ingest:
            # Judged all the same: the verdict comes from the finish reason, which ingest kept, and a
            # cut answer had more text than the limit, so it is not empty (its preview says so).
            reasons.append("judged from the finish reason: the answer was stored truncated")
        result.scores.append(ScoreResult("completeness", value, label, tuple(reasons)))
        return result


def _casefolded(value: Any, fallback: tuple[str, ...]) -> set[str]:
    items = value if isinstance(value, (list, tuple, set)) else fallback
    return {str(item).strip().casefold() for item in items}


_FENCE = re.compile(r"\A```[ \t]*(?:json5?|javascript|js)?[ \t]*\r?\n?(.*?)```\Z", re.DOTALL | re.IGNORECASE)


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not, and strict parsers downstream fail.
    raise ValueError(f"{name} is not valid JSON")


class JsonEvaluator:
    """Score `json_valid` when JSON output was requested: the answer (optionally one ```json fenced
    block) must parse, and match the configured JSON Schema when there is one."""

    name = "json_valid"
    score_directions = {"json_valid": "higher"}
    flag_names = ("output.invalid_json",)
    evaluated_score = "json_valid"
    defaults: dict[str, Any] = {"force": False, "schema": None, "max_chars": 2_000_000}

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        options = _options(self.defaults, config)
        if not (sample.json_requested or options.get("force") is True):
            return Result()
        text = sample.output_text or ""
        cut = sample.cut_at_ingest.get("output")
        if cut is not None:  # only ingest's preview was stored: valid or not is unknowable
            return Result(scores=[ScoreResult("json_valid", None, "skipped", (cut.reason("output"),))])
        # A huge answer reaches the worker cut to its start and end (quality.batch.PAYLOAD_CAP):
        # valid or not, it cannot be judged, and costs nothing.
        if "output" in sample.truncated or len(text) > _number(options.get("max_chars"), 2_000_000):
            return Result(scores=[ScoreResult("json_valid", None, "skipped", ("too large to check",))])
        # Unstripped text is parsed (json allows surrounding whitespace), so error positions are
        # those of the answer as stored; inside a fence they are relative to the block.
        fenced = _FENCE.match(text.strip())
        if fenced:
            text = fenced.group(1)
        text = "" if not text.strip() else text
        where = " inside the fenced block" if fenced else ""
        error = None
        data: Any = None
        if not text:
            error = "the answer is empty"
        else:
            try:
                data = json.loads(text, parse_constant=_reject_constant)
            except json.JSONDecodeError as exc:
                error = f"{exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos}){where}"
            except ValueError as exc:
                error = str(exc)
            except RecursionError:
                error = "nested too deeply to parse"
        if error is None:
            schema = options.get("schema")
            if schema is not None:
                error, note = _schema_error(data, schema)
                if note:
                    return _json_result(1.0, "valid", (note,))
                if error:
                    return _json_result(0.0, "schema_mismatch", (error,))
            return _json_result(1.0, "valid", ())
        return _json_result(0.0, "invalid", (error,))


def _json_result(value: float, label: str, reasons: tuple[str, ...]) -> Result:
    result = Result(scores=[ScoreResult("json_valid", value, label, reasons)])
    if value < 1.0:
        result.flags.append(FlagResult("output.invalid_json", "medium", reasons[0] if reasons else label))
    return result


@lru_cache(maxsize=32)
def _compiled_schema(schema_json: str) -> Any:
    # Checking a schema against its meta-schema costs ~10 ms; a project's schema rarely changes.
    import jsonschema

    schema = json.loads(schema_json)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _schema_error(data: Any, schema: Any) -> tuple[str | None, str | None]:
    """(error, note): error when the data breaks the schema; note when the schema itself is unusable,
    which is the project's mistake and must not count against the answer."""
    try:
        import jsonschema  # installed with drf-spectacular; imported here so parsing never needs it
    except ImportError:
        return None, "schema not checked: the jsonschema package is not installed"
    if not isinstance(schema, (dict, bool)):
        return None, "schema not checked: the configured schema is not a JSON object"
    try:
        validator = _compiled_schema(json.dumps(schema, sort_keys=True))
        # The best of the first 100 errors: a huge document that is wrong everywhere stays cheap.
        best = jsonschema.exceptions.best_match(islice(validator.iter_errors(data), 100))
    except jsonschema.exceptions.SchemaError:
        return None, "schema not checked: the configured schema is invalid"
    except RecursionError:
        return "nested too deeply to check against the schema", None
    except Exception as exc:  # noqa: BLE001 - e.g. an unresolvable $ref: the project's config, not the answer
        return None, f"schema not checked: it could not be applied ({type(exc).__name__.lstrip('_')})"
    if best is None:
        return None, None
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path)
    # The failed rule is named, never the offending value: it may be user data.
    rule = json.dumps(best.validator_value, default=str)
    if len(rule) > 80:
        rule = rule[:77] + "..."
    return f"does not match the schema at {path}: {best.validator} {rule}", None
