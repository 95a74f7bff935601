"""The built-in evaluators, in the order they run, and how a project's settings configure them."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quality.evaluators.base import Evaluator, Result, Sample
from quality.evaluators.grounding import GroundednessEvaluator, RelevanceEvaluator
from quality.evaluators.injection import InjectionEvaluator
from quality.evaluators.language import LanguageEvaluator
from quality.evaluators.leakage import LeakageEvaluator
from quality.evaluators.output import CompletenessEvaluator, JsonEvaluator, RefusalEvaluator
from quality.evaluators.pii import PiiEvaluator
from quality.evaluators.rules import RulesEvaluator
from quality.evaluators.toxicity import ToxicityEvaluator

EVALUATORS: dict[str, Evaluator] = {e.name: e for e in (
    PiiEvaluator(), LeakageEvaluator(), InjectionEvaluator(), ToxicityEvaluator(), RefusalEvaluator(),
    CompletenessEvaluator(), JsonEvaluator(), LanguageEvaluator(), GroundednessEvaluator(), RelevanceEvaluator(),
    RulesEvaluator(),
)}


def configured(evaluators: dict[str, Any], rules: list[Any]) -> list[tuple[Evaluator, dict[str, Any]]]:
    """The enabled evaluators with their config: defaults, then the project's overrides. Every
    built-in evaluator is on unless the project turns it off; "rules" runs only with rules."""
    out = []
    for name, evaluator in EVALUATORS.items():
        overrides = evaluators.get(name) or {}
        if overrides.get("enabled", True) is False:
            continue
        config = {**evaluator.defaults, **{k: v for k, v in overrides.items() if k != "enabled"}}
        if name == "rules":
            if not rules:
                continue
            config["rules"] = rules
        out.append((evaluator, config))
    return out


def _declared(evaluator: Evaluator) -> tuple[dict[str, str], tuple[str, ...], str]:
    # Every built-in evaluator declares all three; one registered without them (a test double, a
    # plugin) simply has no directions, flags or evaluated score rather than breaking the lookups.
    return (getattr(evaluator, "score_directions", {}), getattr(evaluator, "flag_names", ()),
            getattr(evaluator, "evaluated_score", ""))


def _matches(name: str, pattern: str) -> bool:
    return name.startswith(pattern) if pattern.endswith(".") else name == pattern


def builtin_direction(score: str) -> str:
    """"higher" or "lower" (which way is better) as a built-in evaluator declares it; "" if none does."""
    for evaluator in EVALUATORS.values():
        for pattern, direction in _declared(evaluator)[0].items():
            if _matches(score, pattern):
                return direction
    return ""


def evaluator_for_flag(flag: str) -> str:
    """The built-in evaluator raising flag `flag`; "" for others (an LLM judge's flag is named
    after the judge, which is also its evaluator name)."""
    for evaluator in EVALUATORS.values():
        if any(_matches(flag, pattern) for pattern in _declared(evaluator)[1]):
            return evaluator.name
    return ""


def evaluated_score(evaluator_name: str) -> str:
    """The score whose count says how many calls a built-in evaluator evaluated ("" if unknown)."""
    evaluator = EVALUATORS.get(evaluator_name)
    return _declared(evaluator)[2] if evaluator is not None else ""


def evaluate_many(evaluator: Evaluator, samples: Sequence[Sample],
                  config: dict[str, Any]) -> list[Result | str]:
    """One evaluator over a batch: a Result per sample, or the error message of the sample it
    failed on. Evaluators with `evaluate_batch` (vectorised models: toxicity, language) score the
    batch at once; if that raises, the batch is evaluated one sample at a time, so a single bad
    input fails only its own call, with the same results the batch would have given the others."""
    batch = getattr(evaluator, "evaluate_batch", None)
    if batch is not None:
        try:
            results = batch(samples, config)
        except Exception:  # noqa: BLE001 - fall back to isolate the failing sample
            pass
        else:
            if len(results) == len(samples):
                return list(results)
    out: list[Result | str] = []
    for sample in samples:
        try:
            out.append(evaluator.evaluate(sample, config))
        except Exception as exc:  # noqa: BLE001 - one failing evaluator must not block the others
            out.append(f"{type(exc).__name__}: {exc}"[:500])
    return out
