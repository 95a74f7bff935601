"""Rubrics: the questions a queue asks, checked when a queue is saved; answers checked against them
when a verdict is submitted; what each answer becomes as a score; agreement between reviewers.

A question is {"name", "label", "kind", ...}:
- numeric: "min", "max" (numbers, min < max); the answer is a number in the range;
- categorical: "labels" (2-9 distinct, best first) and optional "values" (one number per label;
  by default the first is 1.0 and the last 0.0, evenly spaced); the answer is one of the labels;
- boolean: the answer is true or false (scores 1 and 0);
- text: free text; it is kept with the verdict and becomes no score.
Optional for every kind: "required" (true except for text) and, for categorical and boolean,
"approve": the answers that approve the output (datasets take an unapproved item's expected
output from its corrected answer only).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

KINDS = ("numeric", "categorical", "boolean", "text")
MAX_QUESTIONS = 20
MAX_OPTIONS = 9  # keys 1-9 pick an option
MAX_TEXT = 10_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")


class RubricError(ValueError):
    """Bad rubric or bad answers; `field` names where (`rubric[1].labels`, `answers.helpfulness`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rubric_validate(rubric: Any) -> list[dict[str, Any]]:
    """The rubric, normalised (labels filled in, defaults explicit); RubricError otherwise."""
    if not isinstance(rubric, list) or not rubric:
        raise RubricError("rubric", "a rubric is a list of at least one question")
    if len(rubric) > MAX_QUESTIONS:
        raise RubricError("rubric", f"at most {MAX_QUESTIONS} questions")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, question in enumerate(rubric):
        where = f"rubric[{i}]"
        if not isinstance(question, dict):
            raise RubricError(where, "each question is an object with a name and a kind")
        known = {"name", "label", "kind", "min", "max", "labels", "values", "required", "approve", "help"}
        if unknown := sorted(set(question) - known):
            raise RubricError(f"{where}.{unknown[0]}", f"unknown key; use {', '.join(sorted(known))}")
        name = question.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise RubricError(f"{where}.name", "lower-case letters, digits and _ (at most 40), starting with a "
                                               "letter or digit")
        if name in seen:
            raise RubricError(f"{where}.name", f"'{name}' is used twice")
        seen.add(name)
        kind = question.get("kind")
        if kind not in KINDS:
            raise RubricError(f"{where}.kind", f"one of {', '.join(KINDS)}")
        label = question.get("label", name)
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            raise RubricError(f"{where}.label", "a text of 1-200 characters")
        clean: dict[str, Any] = {"name": name, "label": label.strip(), "kind": kind,
                                 "required": question.get("required", kind != "text")}
        if not isinstance(clean["required"], bool):
            raise RubricError(f"{where}.required", "true or false")
        if isinstance(question.get("help"), str):
            clean["help"] = question["help"][:500]
        if kind == "numeric":
            low, high = question.get("min"), question.get("max")
            if not _number(low):
                raise RubricError(f"{where}.min", "a numeric question needs a number min")
            if not _number(high) or high <= low:
                raise RubricError(f"{where}.max", "a numeric question needs a number max above min")
            clean.update(min=low, max=high)
        elif kind == "categorical":
            labels = question.get("labels")
            if not isinstance(labels, list) or len(labels) < 2:
                raise RubricError(f"{where}.labels", "a categorical question needs at least two options")
            if len(labels) > MAX_OPTIONS:
                raise RubricError(f"{where}.labels", f"at most {MAX_OPTIONS} options (keys 1-9)")
            if not all(isinstance(x, str) and x.strip() and len(x) <= 100 for x in labels):
                raise RubricError(f"{where}.labels", "each option is a text of 1-100 characters")
            if len(set(labels)) != len(labels):
                raise RubricError(f"{where}.labels", "options must differ")
            values = question.get("values")
            if values is None:
                values = [round(1 - j / (len(labels) - 1), 6) for j in range(len(labels))]
            elif not (isinstance(values, list) and len(values) == len(labels) and all(_number(v) for v in values)):
                raise RubricError(f"{where}.values", "one number per option")
            clean.update(labels=labels, values=values)
        if "approve" in question:
            approve = question["approve"]
            allowed: list[Any] = clean.get("labels", []) if kind == "categorical" else [True, False]
            if kind not in ("categorical", "boolean") or not isinstance(approve, list) or not approve \
                    or any(a not in allowed or isinstance(a, bool) != (kind == "boolean") for a in approve):
                raise RubricError(f"{where}.approve", "a list of the answers that approve the output "
                                                      "(categorical options, or true/false)")
            clean["approve"] = approve
        out.append(clean)
    return out


def options(question: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) of each choice the keys 1-9 pick; empty for free answers (text, wide ranges)."""
    kind = question["kind"]
    if kind == "categorical":
        return [(label, label) for label in question["labels"]]
    if kind == "boolean":
        return [("Yes", True), ("No", False)]
    if kind == "numeric" and all(float(question[k]).is_integer() for k in ("min", "max")) \
            and question["max"] - question["min"] < MAX_OPTIONS:
        return [(str(v), v) for v in range(int(question["min"]), int(question["max"]) + 1)]
    return []


def answers_validate(rubric: list[dict[str, Any]], answers: Any) -> dict[str, Any]:
    """The answers, checked against the rubric; RubricError naming `answers.<question>` otherwise."""
    if not isinstance(answers, dict):
        raise RubricError("answers", "an object {question name: answer}")
    by_name = {q["name"]: q for q in rubric}
    if unknown := sorted(set(answers) - set(by_name)):
        raise RubricError(f"answers.{unknown[0]}", f"not a question of this queue's rubric ({', '.join(by_name)})")
    out: dict[str, Any] = {}
    for name, question in by_name.items():
        value = answers.get(name)
        where = f"answers.{name}"
        if value is None or value == "":
            if question["required"]:
                raise RubricError(where, "required")
            continue
        kind = question["kind"]
        if kind == "numeric":
            if not _number(value) or not question["min"] <= value <= question["max"]:
                raise RubricError(where, f"a number from {question['min']} to {question['max']}")
        elif kind == "categorical":
            if value not in question["labels"]:
                raise RubricError(where, f"one of {', '.join(question['labels'])}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise RubricError(where, "true or false")
        elif not isinstance(value, str) or len(value) > MAX_TEXT:
            raise RubricError(where, f"a text of at most {MAX_TEXT} characters")
        out[name] = value
    return out


def answer_score(question: dict[str, Any], value: Any) -> tuple[float, str] | None:
    """(value, label) of the score an answer becomes; None for text (no score)."""
    kind = question["kind"]
    if kind == "numeric":
        return float(value), ""
    if kind == "boolean":
        return (1.0, "yes") if value else (0.0, "no")
    if kind == "categorical":
        return float(question["values"][question["labels"].index(value)]), str(value)[:100]
    return None


def approves(rubric: list[dict[str, Any]], answers: dict[str, Any]) -> bool:
    """Whether a verdict approves the output: every answered question with an "approve" list got one of those answers."""
    return all(answers.get(q["name"]) in q["approve"] for q in rubric if "approve" in q and q["name"] in answers)


@dataclass(frozen=True)
class Agreement:
    question: str
    items: int  # items with two answers or more
    percent: float | None  # share of agreeing reviewer pairs, over those items
    alpha: float | None  # Krippendorff's alpha; None when undefined (one value overall, no pairs)


def agreement(question: dict[str, Any], answers_by_item: list[dict[int, Any]]) -> Agreement:
    """Agreement on one question over items answered by several reviewers: [{reviewer id: answer}].

    Krippendorff's alpha rather than Cohen's or Fleiss' kappa: reviewers differ from item to item
    (a pool), items have 1-5 answers, some missing, and numeric questions need an interval metric;
    alpha handles all of these. The `krippendorff` package is the reference implementation
    (numpy, maintained, used by research tooling), so we do not hand-roll the coincidence matrix."""
    import numpy as np

    multi = [a for a in answers_by_item if len(a) >= 2]
    if not multi or question["kind"] == "text":
        return Agreement(question["name"], len(multi), None, None)
    agree = pairs = 0
    for answers in multi:
        values = list(answers.values())
        for i in range(len(values)):
            for j in range(i + 1, len(values)):
                pairs += 1
                agree += values[i] == values[j]
    reviewers = sorted({r for a in multi for r in a})
    index = {r: i for i, r in enumerate(reviewers)}
    if question["kind"] == "categorical":
        code = {label: i for i, label in enumerate(question["labels"])}
    else:
        code = None
    data = np.full((len(reviewers), len(multi)), np.nan)
    for col, answers in enumerate(multi):
        for reviewer, value in answers.items():
            data[index[reviewer], col] = code[value] if code is not None else float(value)
    level = "interval" if question["kind"] == "numeric" else "nominal"
    alpha: float | None
    try:
        import krippendorff

        alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
        alpha = alpha if math.isfinite(alpha) else None
    except (ValueError, ZeroDivisionError):  # one value overall: alpha is undefined
        alpha = None
    return Agreement(question["name"], len(multi), agree / pairs if pairs else None, alpha)
