"""InjectionEvaluator: the prompt_injection score and flag on a call's input, configured by a
project's threshold and character cap."""
from __future__ import annotations

from typing import Any

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult
from quality.evaluators.injection.scoring import MAX_CHARS, MAX_CHARS_CEILING, injection_score


class InjectionEvaluator:
    """Scores `prompt_injection` on the input and flags `prompt_injection` (high) at the threshold."""

    name = "prompt_injection"
    score_directions = {"prompt_injection": "lower"}
    flag_names = ("prompt_injection",)
    evaluated_score = "prompt_injection"
    defaults: dict[str, Any] = {
        "threshold": 0.5,  # score at or over which the call is flagged
        "max_chars": MAX_CHARS,  # of the input: the first 80% and last 20% of this many are read
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        config = config if isinstance(config, dict) else {}
        threshold = _number(config.get("threshold"), self.defaults["threshold"], 0.0, 1.0)
        max_chars = int(min(_number(config.get("max_chars"), self.defaults["max_chars"], 1, 10_000_000),
                            MAX_CHARS_CEILING))
        try:
            score, families = injection_score(sample.input_text or "", max_chars=max_chars)
        except Exception:  # a heuristic must never cost the other evaluators their run
            return Result(scores=[ScoreResult(name="prompt_injection", value=None, label="unknown",
                                              reasons=("injection heuristics failed on this input",))])
        flagged = score >= threshold and score > 0
        label = "injection" if flagged else "suspicious" if score > 0 else "clean"
        result = Result(scores=[ScoreResult(name="prompt_injection", value=score, label=label,
                                            reasons=tuple(families))])
        if flagged:
            result.flags.append(FlagResult(name="prompt_injection", severity="high",
                                           detail=f"score {score:.2f}: {', '.join(families)}"))
        return result


def _number(value: Any, default: float, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default
