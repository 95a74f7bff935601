"""The built-in evaluators, in the order they run, and how a project's settings configure them."""
from __future__ import annotations

from typing import Any

from quality.evaluators.base import Evaluator
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
