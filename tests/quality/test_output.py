"""Refusal, completeness and JSON checks on plain strings: no database."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from quality.evaluators.base import Evaluator, Result, Sample
from quality.evaluators.output import (
    CompletenessEvaluator,
    JsonEvaluator,
    RefusalEvaluator,
)


def _score(result: Result, name: str) -> float | None:
    [score] = [s for s in result.scores if s.name == name]
    return score.value


def _flags(result: Result) -> set[str]:
    return {flag.name for flag in result.flags}


# Refusal ---------------------------------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I’m sorry, but I can’t help with that.",  # typographic apostrophes
    "I cannot assist with that request.",
    "I can not provide instructions for that.",
    "As an AI language model, I cannot browse the internet.",
    "I'm not able to provide medical advice.",
    "I won't be able to do that.",
    "I am unable to help with this request.",
    "Unfortunately, I cannot provide that information.",
    "Sorry, I can't assist with that.",
    "I must decline this request.",
    "That's not something I can help with.",
    "I'm afraid I can't do that, Dave.",
    "Thank you for reaching out. Unfortunately, I cannot provide that.",
    "Lo siento, pero no puedo ayudarte con eso.",
    "No puedo proporcionar esa información.",
    "Je suis désolé, mais je ne peux pas vous aider.",
    "Je ne suis pas en mesure de répondre à cette question.",
    "Es tut mir leid, aber ich kann Ihnen dabei nicht helfen.",
    "Ich kann dir dabei nicht helfen.",
    "Mi dispiace, ma non posso aiutarti con questo.",
    "Desculpe, mas não posso ajudar com isso.",
    "抱歉，我无法帮助你完成这个请求。",
    "**I cannot help with that.**",
    "> I can't assist with that request.",
    "Sorry — I can't help with that.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_it_scores_a_refusal_and_flags_it_low(text: str) -> None:
    result = RefusalEvaluator().evaluate(Sample(output_text=text), {})

    assert _score(result, "refusal") == 1.0
    assert result.scores[0].label == "refusal"
    assert [(f.name, f.severity) for f in result.flags] == [("refusal", "low")]


ANSWERS = [
    "I can't wait to help! Here is the plan.",
    "Sorry for the delay, here is the answer: 42.",
    "You cannot delete a branch that is checked out. Switch to another branch first.",
    "I can't help but notice the bug on line 3: the loop never ends.",
    "I can't recommend this library enough, it is excellent.",
    "I'm sorry to hear you can't log in. Try resetting your password.",
    "If I can't find the file, the script creates it.",
    "The API cannot return more than 100 items per page, so paginate.",
    "Here is the fix for the Linux build of the tool. I can't test it on Windows.",
    "Step one. Step two. Step three. I cannot provide more detail than the manual does.",
    "No puedes borrar una rama activa; cambia de rama primero.",
    "Vous ne pouvez pas supprimer une branche active.",
    "The capital of Australia is Canberra.",
]


@pytest.mark.parametrize("text", ANSWERS)
def test_it_does_not_mistake_an_answer_for_a_refusal(text: str) -> None:
    result = RefusalEvaluator().evaluate(Sample(output_text=text), {})

    assert _score(result, "refusal") == 0.0
    assert result.scores[0].label == "answered"
    assert result.flags == []


def test_it_grades_a_refusal_followed_by_real_help_as_partial_and_does_not_flag_it() -> None:
    text = ("I can't help with writing malware, but here is an overview of how defenders detect it: "
            "signature scanning, heuristics, sandboxing and behaviour analysis, plus how to harden "
            "your own systems against the most common attacks seen today.")

    result = RefusalEvaluator().evaluate(Sample(output_text=text), {})

    assert _score(result, "refusal") == 0.5
    assert result.scores[0].label == "partial"
    assert result.flags == []


def test_it_grades_an_ai_disclaimer_without_a_refusal_as_partial() -> None:
    text = "As an AI language model, I don't have personal opinions, but both options are popular."

    assert _score(RefusalEvaluator().evaluate(Sample(output_text=text), {}), "refusal") == 0.5


def test_it_flags_partial_refusals_when_configured_to() -> None:
    text = "As an AI language model, I don't have feelings."

    result = RefusalEvaluator().evaluate(Sample(output_text=text), {"flag_min_score": 0.5})

    assert _flags(result) == {"refusal"}


def test_it_ignores_a_refusal_deep_inside_a_long_answer() -> None:
    text = "Here is a long answer. " * 40 + "I cannot provide more."

    assert _score(RefusalEvaluator().evaluate(Sample(output_text=text), {}), "refusal") == 0.0


def test_it_gives_no_refusal_score_for_an_empty_answer() -> None:
    assert RefusalEvaluator().evaluate(Sample(output_text="  \n"), {}).scores == []


# Completeness ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "...", "```\n```", " - ", "?!", "\u200b"])
def test_it_flags_an_empty_or_punctuation_only_answer(text: str) -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text=text, finish_reason="stop"), {})

    assert _score(result, "completeness") == 0.0
    assert result.scores[0].label == "empty"
    assert [(f.name, f.severity) for f in result.flags] == [("output.empty", "medium")]


@pytest.mark.parametrize("text", ["42", "👍", "OK", "é", "是"])
def test_it_counts_a_tiny_answer_as_complete(text: str) -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text=text, finish_reason="stop"), {})

    assert _score(result, "completeness") == 1.0
    assert result.flags == []


@pytest.mark.parametrize("reason", ["length", "max_tokens", "MAX_TOKENS", " Length "])
def test_it_flags_an_answer_cut_by_the_token_limit(reason: str) -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text="The first step is", finish_reason=reason), {})

    assert _score(result, "completeness") == 0.5
    assert result.scores[0].label == "truncated"
    assert [(f.name, f.severity) for f in result.flags] == [("output.truncated", "medium")]


@pytest.mark.parametrize("reason", ["content_filter", "SAFETY", "guardrail_intervened"])
def test_it_flags_an_answer_stopped_by_a_content_filter(reason: str) -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text="Here is how", finish_reason=reason), {})

    assert _score(result, "completeness") == 0.5
    assert result.scores[0].label == "filtered"
    assert _flags(result) == {"output.filtered"}


def test_it_reports_both_empty_and_filtered_when_a_filter_blanked_the_answer() -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text="", finish_reason="content_filter"), {})

    assert _score(result, "completeness") == 0.0
    assert _flags(result) == {"output.empty", "output.filtered"}


@pytest.mark.parametrize("reason", ["stop", "", "end_turn", "tool_calls", "STOP"])
def test_it_counts_normal_finish_reasons_as_complete(reason: str) -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text="Done.", finish_reason=reason), {})

    assert _score(result, "completeness") == 1.0
    assert result.flags == []


def test_it_uses_the_configured_finish_reasons() -> None:
    sample = Sample(output_text="Partial", finish_reason="budget_exhausted")

    result = CompletenessEvaluator().evaluate(sample, {"truncated_reasons": ["budget_exhausted"]})

    assert _flags(result) == {"output.truncated"}


def test_it_falls_back_to_defaults_when_configured_reasons_are_not_a_list() -> None:
    result = CompletenessEvaluator().evaluate(Sample(output_text="x", finish_reason="length"),
                                              {"truncated_reasons": 3})

    assert _flags(result) == {"output.truncated"}


# JSON ------------------------------------------------------------------------------------------

def _json(text: str, config: dict[str, Any] | None = None, requested: bool = True) -> Result:
    return JsonEvaluator().evaluate(Sample(output_text=text, json_requested=requested), config or {})


def test_it_does_not_check_json_unless_it_was_requested() -> None:
    assert _json("not json", requested=False).scores == []


def test_it_checks_json_when_the_config_forces_it() -> None:
    assert _score(_json("not json", {"force": True}, requested=False), "json_valid") == 0.0


@pytest.mark.parametrize("text", ['{"a": 1}', "  [1, 2, 3]\n", '"just a string"', "null", "3.5",
                                  '```json\n{"a": [1, 2]}\n```', '\n```\n{"a": 1}\n```\n', '```JSON {"a": 1}```'])
def test_it_accepts_valid_json_alone_or_in_one_fenced_block(text: str) -> None:
    result = _json(text)

    assert _score(result, "json_valid") == 1.0
    assert result.scores[0].label == "valid"
    assert result.flags == []


def test_it_reports_where_invalid_json_breaks_as_positions_in_the_stored_answer() -> None:
    result = _json('\n{\n  "a": 1,\n  "b": 2\n  "c": 3\n}')

    assert _score(result, "json_valid") == 0.0
    assert result.scores[0].reasons == ("Expecting ',' delimiter at line 5 column 3 (char 24)",)
    assert [(f.name, f.severity) for f in result.flags] == [("output.invalid_json", "medium")]


@pytest.mark.parametrize("text", [
    "",
    "Sure! Here is the JSON: {\"a\": 1}",  # prose around JSON is not what JSON mode promises
    '{"a": 1} trailing',
    "{'a': 1}",
    '{"a": NaN}',
    '{"a": Infinity}',
    '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```',  # two blocks: which one is the answer?
    '```json\n{"a": 1',  # truncated inside the fence
])
def test_it_rejects_what_is_not_exactly_one_json_document(text: str) -> None:
    assert _score(_json(text), "json_valid") == 0.0


def test_it_says_when_the_error_is_inside_the_fenced_block() -> None:
    reason = _json('```json\n{"a": }\n```').scores[0].reasons[0]

    assert reason.endswith("inside the fenced block")


def test_it_survives_json_nested_too_deeply_to_parse() -> None:
    result = _json("[" * 200_000 + "]" * 200_000)

    assert _score(result, "json_valid") == 0.0
    assert result.scores[0].reasons == ("nested too deeply to parse",)


def test_it_skips_json_larger_than_the_configured_limit() -> None:
    result = _json('{"a": "' + "x" * 200 + '"}', {"max_chars": 100})

    assert _score(result, "json_valid") is None
    assert result.flags == []


SCHEMA = {"type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}


def test_it_accepts_json_that_matches_the_schema() -> None:
    assert _score(_json('{"name": "Ada", "age": 36}', {"schema": SCHEMA}), "json_valid") == 1.0


def test_it_rejects_json_that_breaks_the_schema_and_names_the_rule_not_the_value() -> None:
    result = _json('{"name": "Ada", "age": "secret-value"}', {"schema": SCHEMA})

    assert _score(result, "json_valid") == 0.0
    assert result.scores[0].label == "schema_mismatch"
    assert result.scores[0].reasons == ('does not match the schema at $.age: type "integer"',)
    assert "secret-value" not in result.flags[0].detail


def test_it_reports_a_missing_required_property() -> None:
    result = _json('{"name": "Ada"}', {"schema": SCHEMA})

    assert result.scores[0].reasons == ('does not match the schema at $: required ["name", "age"]',)


def test_it_does_not_blame_the_answer_for_an_invalid_schema() -> None:
    result = _json('{"a": 1}', {"schema": {"type": "no-such-type"}})

    assert _score(result, "json_valid") == 1.0
    assert result.scores[0].reasons == ("schema not checked: the configured schema is invalid",)
    assert result.flags == []


def test_it_never_fetches_a_remote_ref_and_does_not_blame_the_answer_for_it() -> None:
    result = _json('{"a": 1}', {"schema": {"$ref": "https://schemas.example.invalid/answer.json"}})

    assert _score(result, "json_valid") == 1.0
    assert result.scores[0].reasons[0].startswith("schema not checked: it could not be applied")


def test_it_ignores_a_schema_that_is_not_an_object() -> None:
    result = _json('{"a": 1}', {"schema": "not a schema"})

    assert _score(result, "json_valid") == 1.0
    assert result.flags == []


def test_it_keeps_a_parse_error_when_a_schema_is_also_configured() -> None:
    result = _json("{oops}", {"schema": SCHEMA})

    assert result.scores[0].label == "invalid"


# Odd input -------------------------------------------------------------------------------------

ODD = ["", "\x00\x01", "\ud800", "\u202e\u200f", "e\u0301" * 1000, "🙂" * 5000, "{" * 10_000,
       "I'm sorry " * 100_000, "a" * 2_000_000, "```json", "```"]


@pytest.mark.parametrize("evaluator", [RefusalEvaluator(), CompletenessEvaluator(), JsonEvaluator()])
def test_it_never_raises_on_odd_input_or_config(evaluator: Evaluator) -> None:
    configs: list[Any] = [{}, {"flag_min_score": "high", "max_chars": None, "schema": []}, None]
    for text in ODD:
        for config in configs:
            sample = Sample(output_text=text, finish_reason=text[:20], json_requested=True)
            assert isinstance(evaluator.evaluate(sample, config), Result)


def test_it_stays_fast_on_huge_output() -> None:
    text = "Here is the answer. " * 50_000  # ~1 MB
    sample = Sample(output_text=text, finish_reason="stop", json_requested=True)

    started = time.perf_counter()
    for evaluator in (RefusalEvaluator(), CompletenessEvaluator(), JsonEvaluator()):
        evaluator.evaluate(sample, {})

    assert time.perf_counter() - started < 0.5


def test_each_evaluator_names_itself_and_documents_its_defaults() -> None:
    evaluators: list[tuple[Evaluator, str]] = [
        (RefusalEvaluator(), "refusal"), (CompletenessEvaluator(), "completeness"), (JsonEvaluator(), "json_valid")]
    for evaluator, name in evaluators:
        assert evaluator.name == name
        json.dumps(evaluator.defaults)  # the defaults are plain JSON, fit for a settings form
