"""RulesEvaluator and rule_validate: regex and keyword rules, targets, counts, guards on user regexes."""
from __future__ import annotations

import time
from typing import Any

import pytest

from quality.evaluators import rules as rules_module
from quality.evaluators.base import Sample
from quality.evaluators.rules import RulesEvaluator, rule_validate, rules_validate


def rule(**overrides: Any) -> dict[str, Any]:
    return {"name": "competitor-mention", "pattern": "acme|globex", "kind": "regex", "target": "both",
            "severity": "medium", "case_sensitive": False, **overrides}


def evaluate(rules: list[Any], config: dict[str, Any] | None = None, **fields: Any) -> Any:
    return RulesEvaluator().evaluate(Sample(**fields), {"rules": rules, **(config or {})})


def matches(result: Any) -> Any:
    [score] = result.scores
    assert score.name == "rules.matches"
    return score


# --- rule_validate -------------------------------------------------------------------------------

def test_a_complete_rule_is_valid() -> None:
    assert rule_validate(rule()) == []
    assert rule_validate({"name": "k", "pattern": ["acme", "globex"], "kind": "keyword"}) == []


def test_it_reports_an_invalid_regex() -> None:
    [error] = rule_validate(rule(pattern="acme(("))
    assert error.startswith("invalid regular expression")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"severity": "urgent"}, "severity must be one of low, medium, high, critical"),
    ({"pattern": ""}, "pattern must not be empty"),
    ({"pattern": "   "}, "pattern must not be empty"),
    ({"kind": "keyword", "pattern": []}, "pattern must not be empty"),
    ({"kind": "keyword", "pattern": ["ok", 3]}, "pattern must be a keyword or a list of keywords"),
    ({"kind": "glob"}, "kind must be 'regex' or 'keyword'"),
    ({"target": "system"}, "target must be 'input', 'output' or 'both'"),
    ({"case_sensitive": "yes"}, "case_sensitive must be true or false"),
    ({"name": ""}, "name is required"),
    ({"name": "has spaces"}, "name must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"),
    ({"pattern": "a*"}, "pattern matches empty text, so it would match everything"),
    ({"pattern": "x" * 1001}, "pattern is longer than 1000 characters"),
    ({"severty": "high"}, "unknown key 'severty'"),
])
def test_it_reports_each_problem_in_words(overrides: dict[str, Any], expected: str) -> None:
    assert expected in rule_validate(rule(**overrides))


def test_it_reports_several_problems_at_once() -> None:
    assert len(rule_validate({"name": "", "pattern": "(", "severity": "nope"})) == 3


def test_a_rule_that_is_not_an_object_is_rejected() -> None:
    assert rule_validate("acme") == ["a rule must be an object"]


def test_defaults_make_a_minimal_rule_valid() -> None:
    assert rule_validate({"name": "minimal", "pattern": "acme"}) == []


def test_rules_validate_names_the_rule_and_catches_duplicates() -> None:
    errors = rules_validate([rule(), rule(), {"name": "bad", "pattern": "("}])
    assert "rule 2 (competitor-mention): another rule has the same name" in errors
    assert any(error.startswith("rule 3 (bad): invalid regular expression") for error in errors)
    assert rules_validate("nope") == ["rules must be a list"]


# --- matching ------------------------------------------------------------------------------------

def test_a_regex_rule_flags_with_its_severity_and_counts_per_side() -> None:
    result = evaluate([rule(severity="high")], input_text="Is Acme better?",
                      output_text="Acme and Globex both sell anvils; acme is older.")
    [flag] = result.flags
    assert flag.name == "rule.competitor-mention"
    assert flag.severity == "high"
    assert flag.detail == "matched 1 time in input, 3 times in output"
    assert matches(result).value == 4.0
    assert matches(result).label == "matched"


def test_no_match_gives_a_zero_score_and_no_flag() -> None:
    result = evaluate([rule()], input_text="hello", output_text="world")
    assert result.flags == []
    assert (matches(result).value, matches(result).label) == (0.0, "clean")


def test_no_rules_gives_a_zero_score() -> None:
    result = RulesEvaluator().evaluate(Sample(output_text="anything"), {})
    assert matches(result).value == 0.0 and result.flags == []


def test_the_target_limits_where_a_rule_looks() -> None:
    sample: dict[str, Any] = {"input_text": "acme", "output_text": "globex globex"}
    assert evaluate([rule(target="input")], **sample).flags[0].detail == "matched 1 time in input"
    assert evaluate([rule(target="output")], **sample).flags[0].detail == "matched 2 times in output"


def test_case_sensitivity_is_honoured() -> None:
    assert evaluate([rule(case_sensitive=True)], output_text="ACME rocks").flags == []
    assert evaluate([rule(case_sensitive=False)], output_text="ACME rocks").flags


def test_keyword_rules_match_whole_words_only() -> None:
    kw = rule(kind="keyword", pattern=["acme", "globex"])
    assert evaluate([kw], output_text="acmeville and globexcorp").flags == []
    result = evaluate([kw], output_text="Acme, globex. (ACME)")
    assert matches(result).value == 3.0


def test_a_single_string_keyword_is_one_phrase_matching_any_spacing() -> None:
    kw = rule(kind="keyword", pattern="acme corp")
    assert matches(evaluate([kw], output_text="ACME  Corp, acme, corp, acme\ncorp")).value == 2.0


def test_keywords_with_punctuation_and_regex_characters_are_literal() -> None:
    kw = rule(name="lang", kind="keyword", pattern=["c++", "a.b"])
    assert matches(evaluate([kw], output_text="I like C++ and a.b but not aXb, c+ or xc++")).value == 2.0


def test_keywords_match_non_ascii_words() -> None:
    kw = rule(name="de", kind="keyword", pattern=["straße"], case_sensitive=True)
    assert matches(evaluate([kw], output_text="Die Straße ist lang; straße, hauptstraße")).value == 1.0


def test_each_matching_rule_gets_its_own_flag() -> None:
    rules = [rule(), rule(name="refund", pattern="refund", kind="keyword", severity="low")]
    result = evaluate(rules, output_text="Acme will refund you.")
    assert sorted(flag.name for flag in result.flags) == ["rule.competitor-mention", "rule.refund"]
    assert matches(result).value == 2.0


def test_flag_details_and_reasons_never_contain_the_matched_text() -> None:
    ssn = rule(name="ssn", pattern=r"\d{3}-\d{2}-\d{4}", severity="critical")
    result = evaluate([ssn], input_text="my SSN is 123-45-6789")
    assert "123-45-6789" not in result.flags[0].detail
    assert all("123" not in reason for reason in matches(result).reasons)
    assert result.flags[0].severity == "critical"


def test_invalid_rules_are_skipped_and_named_in_the_reasons() -> None:
    result = evaluate([rule(name="broken", pattern="("), rule()], output_text="acme")
    assert [flag.name for flag in result.flags] == ["rule.competitor-mention"]
    assert "skipped invalid rule 'broken'" in matches(result).reasons


def test_junk_in_the_rules_list_never_raises() -> None:
    junk: list[Any] = [None, 3, "acme", {"pattern": "acme"}, {"name": "x", "pattern": None}, []]
    result = evaluate(junk, output_text="acme")
    assert result.flags == [] and matches(result).value == 0.0
    assert RulesEvaluator().evaluate(Sample(output_text="acme"), {"rules": "acme"}).flags == []
    assert RulesEvaluator().evaluate(Sample(output_text="acme"), None).flags == []  # type: ignore[arg-type]


# --- guards on cost ------------------------------------------------------------------------------

def test_a_catastrophic_regex_times_out_instead_of_hanging() -> None:
    evil = rule(name="evil", pattern=r"(a|aa)+$")
    started = time.perf_counter()
    result = evaluate([evil, rule()], {"timeout_ms": 50}, output_text="a" * 5000 + "b acme")
    assert time.perf_counter() - started < 2
    assert "rule 'evil' timed out on the output" in matches(result).reasons
    assert [flag.name for flag in result.flags] == ["rule.competitor-mention"]


@pytest.mark.parametrize("pattern", ["a{100000}", "((a{1000}){1000}){1000}", "(?:x{200}y{200}){100}"])
def test_patterns_whose_repeats_unroll_too_far_are_rejected_without_compiling(pattern: str) -> None:
    started = time.perf_counter()
    [error] = rule_validate(rule(pattern=pattern))
    assert error.startswith("pattern repeats too much")
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize("pattern", [r"\d{3}-\d{2}-\d{4}", r"\p{L}{2,5}", r"[{]{3}", r"\{9999999\}", "(?:ab){100}"])
def test_ordinary_counted_repeats_are_fine(pattern: str) -> None:
    assert rule_validate(rule(pattern=pattern)) == []


def test_each_distinct_rule_is_validated_once_per_process() -> None:
    unique = rule(name="cached-once", pattern="cached-once-[0-9]+")
    evaluate([unique], output_text="x")
    before = rules_module._invalid_cached.cache_info()
    evaluate([unique], output_text="y")
    after = rules_module._invalid_cached.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


def test_huge_text_is_bounded_to_its_start_and_end() -> None:
    text = "acme " + "filler " * 500_000 + "globex"
    result = evaluate([rule()], {"max_chars": 10_000}, output_text=text)
    assert matches(result).value == 2.0


def test_match_counts_are_capped() -> None:
    result = evaluate([rule(pattern="a")], output_text="a" * 50_000)
    assert matches(result).value == 1000.0


@pytest.mark.parametrize("text", ["", "\ud800\udfff", "\U000e0041" * 10, "👨\u200d👩\u200d👧", "\x00" * 100])
def test_odd_text_never_raises(text: str) -> None:
    result = evaluate([rule(), rule(name="kw", kind="keyword", pattern="x")], input_text=text, output_text=text)
    assert matches(result).value == 0.0
