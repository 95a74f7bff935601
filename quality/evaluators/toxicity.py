"""Toxicity: probability that a call's output (and, separately, its input) is toxic or profane,
from alt-profanity-check's linear model, which ships inside the package and runs offline."""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult

logger = logging.getLogger(__name__)

# alt-profanity-check unpickles its TF-IDF vectorizer and SVM when imported (~1.5 s cold with
# scikit-learn and scipy, ~30 MB): import it on first use, once per process, never at Django start.
# After that a call costs about 0.3 ms per 20 sentences.
_predict: Callable[[Sequence[str]], Sequence[float]] | None = None
_load_error: str = ""
_load_lock = threading.Lock()

# The model scores short texts best and a long polite answer dilutes one abusive sentence, so texts
# are scored sentence by sentence (long runs without punctuation in windows) and the max is kept.
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
WINDOW_CHARS = 400
MAX_CHUNKS = 300  # with max_chars, bounds the cost of one text to one vectorised model call


def _load() -> Callable[[Sequence[str]], Sequence[float]] | None:
    global _predict, _load_error
    if _predict is not None or _load_error:
        return _predict
    with _load_lock:
        if _predict is None and not _load_error:
            try:
                from profanity_check import predict_prob
            except Exception as exc:  # a broken install must not break every evaluation run
                _load_error = f"{type(exc).__name__}: {exc}"
                logger.warning("toxicity: alt-profanity-check unavailable (%s)", _load_error)
            else:
                _predict = predict_prob
    return _predict


def chunks(text: str, max_chars: int) -> list[str]:
    """Sentences (or windows of long unpunctuated runs) from a bounded part of the text."""
    if len(text) > max_chars:
        # The start and the end: where greetings, sign-offs and tacked-on abuse tend to sit.
        head = max_chars * 4 // 5
        text = text[:head] + "\n" + text[-(max_chars - head):]
    pieces: list[str] = []
    for sentence in SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > WINDOW_CHARS:
            cut = sentence.rfind(" ", WINDOW_CHARS // 2, WINDOW_CHARS)
            cut = cut if cut > 0 else WINDOW_CHARS
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    if len(pieces) > MAX_CHUNKS:
        half = MAX_CHUNKS // 2
        pieces = pieces[:half] + pieces[-half:]
    return pieces


def toxicity_probability(text: str, *, max_chars: int = 20_000) -> float | None:
    """Max probability over the text's sentences; 0.0 for blank text, None without the model."""
    pieces = chunks(text or "", max_chars)
    if not pieces:
        return 0.0
    predict = _load()
    if predict is None:
        return None
    try:
        return float(max(predict(pieces)))
    except Exception:  # odd input the vectorizer chokes on: say "unknown" rather than fail the run
        logger.exception("toxicity: scoring failed")
        return None


class ToxicityEvaluator:
    """Scores `toxicity.output` and `toxicity.input` (blank sides are skipped), flags `toxicity`."""

    name = "toxicity"
    score_directions = {"toxicity.": "lower"}
    flag_names = ("toxicity",)
    evaluated_score = "toxicity.output"
    defaults: dict[str, Any] = {
        "threshold": 0.8,  # probability at or over which a text is labelled "toxic" and flagged
        "high_threshold": 0.95,  # over this the flag is high rather than medium
        "max_chars": 20_000,  # per text: first 80% and last 20% of this many characters are scored
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        """One call: each side scored on its own (the path tests and the judge use)."""
        options = self._options(config)
        values: dict[str, float | None] = {}
        for side, text in self._sides(sample):
            values[side] = toxicity_probability(text, max_chars=options[2])
        return self._result(values, options)

    def evaluate_batch(self, samples: Sequence[Sample], config: dict[str, Any]) -> list[Result]:
        """Every side of every sample in one vectorised model call: the TF-IDF transform and the
        linear model score rows independently, so each text's maximum is the same as alone, while
        the per-call overhead of scikit-learn's input checks (~10 ms) is paid once per batch."""
        options = self._options(config)
        owners: list[tuple[int, str]] = []
        pieces: list[str] = []
        offsets: list[tuple[int, int]] = []
        for index, sample in enumerate(samples):
            for side, text in self._sides(sample):
                chunked = chunks(text, options[2])
                owners.append((index, side))
                offsets.append((len(pieces), len(pieces) + len(chunked)))
                pieces.extend(chunked)
        probabilities = _predict_all(pieces)
        values: list[dict[str, float | None]] = [{} for _ in samples]
        for (index, side), (lo, hi) in zip(owners, offsets, strict=True):
            if lo == hi:
                values[index][side] = 0.0
            elif probabilities is None:
                values[index][side] = None
            else:
                values[index][side] = float(max(probabilities[lo:hi]))
        return [self._result(found, options) for found in values]

    def _options(self, config: dict[str, Any]) -> tuple[float, float, int]:
        config = config if isinstance(config, dict) else {}
        return (_fraction(config.get("threshold"), self.defaults["threshold"]),
                _fraction(config.get("high_threshold"), self.defaults["high_threshold"]),
                _positive_int(config.get("max_chars"), self.defaults["max_chars"]))

    @staticmethod
    def _sides(sample: Sample) -> list[tuple[str, str]]:
        return [(side, text) for side, text in (("output", sample.output_text), ("input", sample.input_text))
                if isinstance(text, str) and text.strip()]

    def _result(self, values: dict[str, float | None], options: tuple[float, float, int]) -> Result:
        threshold, high, _ = options
        result = Result()
        over: list[tuple[str, float]] = []
        for side, value in values.items():
            if value is None:
                result.scores.append(ScoreResult(name=f"toxicity.{side}", value=None, label="unknown",
                                                 reasons=("toxicity model unavailable or failed",)))
                continue
            value = round(value, 4)
            toxic = value >= threshold
            result.scores.append(ScoreResult(name=f"toxicity.{side}", value=value,
                                             label="toxic" if toxic else "ok"))
            if toxic:
                over.append((side, value))
        if over:
            worst = max(value for _, value in over)
            detail = ", ".join(f"{side} {value:.2f}" for side, value in over)
            result.flags.append(FlagResult(
                name="toxicity",
                severity="high" if worst > high else "medium",
                detail=f"{detail} (threshold {threshold:.2f})",
            ))
        return result


def _predict_all(pieces: list[str]) -> list[float] | None:
    """Probabilities for every piece in one model call; None without the model. If the batch
    fails (odd input the vectorizer chokes on), the pieces are retried one text at a time by the
    caller's fallback (quality.registry.evaluate_many), so one bad text fails only its own call."""
    if not pieces:
        return []
    predict = _load()
    if predict is None:
        return None
    return [float(p) for p in predict(pieces)]


def _fraction(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if 0.0 <= number <= 1.0 else default


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
