"""Lexical groundedness and relevance on plain strings: no database, no model."""
from __future__ import annotations

import time

import pytest

from quality.evaluators.base import Evaluator, Result, Sample, ScoreResult
from quality.evaluators.grounding import GroundednessEvaluator, RelevanceEvaluator

CONTEXT = """Acme Cloud offers a 2-year limited warranty on all hardware devices purchased after January 1, 2023.
To reset your password, open Settings, choose Security and click "Reset password". A reset link is sent
to your registered email address and expires after 24 hours.
Refunds are processed within 14 business days. Premium support costs $1,200 per year and is available
Monday to Friday. 退款将在十四个工作日内处理。"""


def _grounded(answer: str, context: str = CONTEXT, question: str = "How do I reset my password?",
              **config: object) -> Result:
    sample = Sample(input_text=question, output_text=answer, context_text=context)
    return GroundednessEvaluator().evaluate(sample, config)


def _relevance(question: str, answer: str, **config: object) -> Result:
    return RelevanceEvaluator().evaluate(Sample(input_text=question, output_text=answer), config)


def _score(result: Result) -> ScoreResult:
    [score] = result.scores
    return score


# Groundedness ----------------------------------------------------------------------------------

def test_it_gives_no_groundedness_without_context() -> None:
    assert _grounded("The warranty lasts two years.", context="").scores == []
    assert _grounded("The warranty lasts two years.", context=" \n ").scores == []


def test_it_scores_an_answer_drawn_from_the_context_as_grounded() -> None:
    answer = ("To reset your password, open Settings, then Security, and click Reset password. "
              "You will receive a reset link by email that expires after 24 hours.")

    result = _grounded(answer)

    assert _score(result).value == 1.0
    assert _score(result).label == "grounded"
    assert _score(result).reasons == ("2 of 2 sentences supported by the context",)
    assert result.flags == []


def test_it_matches_word_forms_and_spelled_out_numbers() -> None:
    answer = ("Refunds get processed within fourteen business days. The warranty covers hardware "
              "devices for two years. Premium support costs $1200 yearly.")

    assert _score(_grounded(answer)).value == 1.0


def test_it_flags_an_answer_that_the_context_does_not_support() -> None:
    answer = "The warranty covers water damage and free screen repairs in Berlin."

    result = _grounded(answer)

    assert _score(result).value == 0.0
    assert _score(result).label == "ungrounded"
    assert [(f.name, f.severity) for f in result.flags] == [("hallucination.suspected", "medium")]
    assert "Berlin" in _score(result).reasons[1]


def test_it_marks_a_sentence_with_a_number_missing_from_the_context_as_unsupported() -> None:
    answer = "Acme Cloud offers a 3-year limited warranty on all hardware devices."

    result = _grounded(answer)

    assert _score(result).value == 0.0
    assert "1 number(s) or name(s) not in it" in _score(result).reasons[1]


def test_it_marks_a_sentence_with_a_name_missing_from_the_context_as_unsupported() -> None:
    answer = "A limited warranty from Globex covers all hardware devices purchased after January."

    assert _score(_grounded(answer)).value == 0.0


def test_it_judges_a_capitalised_first_word_as_an_ordinary_word() -> None:
    # Sentence-initial capitals are not names; a name there only lowers the sentence's coverage.
    answer = "Globex offers a limited warranty on all hardware devices purchased after January."

    assert _score(_grounded(answer)).value == 1.0


def test_it_scores_the_share_of_supported_sentences() -> None:
    answer = ("Refunds are processed within 14 business days. "
              "Premium support is available Monday to Friday. "
              "The company was founded by Jane Smith in Toronto. "
              "Every device ships with a free carrying case and charger.")

    result = _grounded(answer)

    assert _score(result).value == 0.5
    assert len(_score(result).reasons) == 3  # the summary and the two unsupported sentences
    assert result.flags == []  # 0.5 is not below the default 0.5


def test_it_names_at_most_three_unsupported_sentences_truncated_to_120_characters() -> None:
    answer = " ".join(f"Invented claim number {word} about quantum teleportation of elephants across "
                      f"the Pacific Ocean during the nineteenth century expedition." for word in
                      ("alpha", "beta", "gamma", "delta", "epsilon"))

    reasons = _score(_grounded(answer)).reasons

    assert reasons[0] == "0 of 5 sentences supported by the context"
    assert len(reasons) == 4
    quoted = [reason.split(': "', 1)[1].rstrip('"') for reason in reasons[1:]]
    assert all(len(sentence) <= 120 for sentence in quoted)
    assert quoted[0].endswith("…")


def test_it_skips_questions_boilerplate_and_very_short_sentences() -> None:
    answer = ("Sure! Here is what I found. Would you like more details about the refund policy? "
              "Refunds are processed within 14 business days. I hope this helps! Yes.")

    result = _grounded(answer)

    assert _score(result).value == 1.0
    assert _score(result).reasons == ("1 of 1 sentences supported by the context",)


def test_it_splits_sentences_at_real_ends_but_not_after_abbreviations() -> None:
    # "most." ends in "st." but is no abbreviation; "e.g." is one and must not end the sentence.
    answer = ("Premium support costs $1,200 per year at most. The company was founded by Jane Smith in Toronto. "
              "Refunds are processed within 14 business days, e.g. for hardware devices.")

    assert _score(_grounded(answer)).reasons[0] == "2 of 3 sentences supported by the context"


def test_it_does_not_count_an_attribution_phrase_against_the_answer() -> None:
    answer = "Based on the provided context, refunds are processed within 14 business days."

    assert _score(_grounded(answer)).value == 1.0


def test_it_ignores_code_blocks_and_list_markup() -> None:
    answer = ("1. Open Settings and choose Security.\n"
              "2. Click Reset password to receive a reset link.\n"
              "```bash\ncurl -X POST https://api.example.invalid/v9/reset --data '{\"user\": 42}'\n```")

    assert _score(_grounded(answer)).value == 1.0


def test_it_counts_words_from_the_question_as_given_unless_configured_not_to() -> None:
    answer = "For your Zephyr account, refunds are processed within 14 business days."
    question = "How long do refunds take for my Zephyr account?"

    assert _score(_grounded(answer, question=question)).value == 1.0
    assert _score(_grounded(answer, question=question, use_question=False)).value == 0.0


def test_it_handles_cjk_answers_by_character_pairs() -> None:
    assert _score(_grounded("退款将在十四个工作日内处理。")).value == 1.0
    assert _score(_grounded("保修期为五年并包括意外损坏。")).value == 0.0


def test_it_gives_no_score_when_no_sentence_is_long_enough() -> None:
    result = _grounded("Yes. Correct!")

    assert _score(result).value is None
    assert result.flags == []


def test_it_uses_the_configured_thresholds() -> None:
    answer = ("Refunds are processed within 14 business days. "
              "The company was founded by Jane Smith in Toronto.")

    assert _grounded(answer).flags == []
    assert [f.name for f in _grounded(answer, flag_below=0.75).flags] == ["hallucination.suspected"]
    assert _score(_grounded("Refunds usually arrive within 14 business days.", support_threshold=1.0)).value == 0.0


def test_it_ignores_config_values_of_the_wrong_type() -> None:
    result = _grounded("Refunds are processed within 14 business days.", support_threshold="high", flag_below=None)

    assert _score(result).value == 1.0


# Relevance -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "answer"), [
    ("How do I reset my password?", "Open Settings, choose Security and click Reset password; a link is emailed."),
    ("What is the capital of Australia?", "The capital of Australia is Canberra, not Sydney."),
    ("Can you explain how TCP congestion control works?",
     "TCP uses slow start and congestion avoidance to adapt its sending window to the network."),
    ("Quelle est la capitale de l'Australie ?", "La capitale de l'Australie est Canberra, pas Sydney."),
])
def test_it_scores_an_answer_that_uses_the_question_terms_as_relevant(question: str, answer: str) -> None:
    result = _relevance(question, answer)

    assert _score(result).value >= 0.5  # type: ignore[operator]
    assert _score(result).label == "relevant"
    assert result.flags == []


def test_it_flags_an_answer_about_something_else() -> None:
    result = _relevance("Can you explain how TCP congestion control works?",
                        "To bake sourdough bread, mix flour, water and starter, then bake it at 250 degrees.")

    assert _score(result).value == 0.0
    assert _score(result).label == "low"
    assert [(f.name, f.severity) for f in result.flags] == [("relevance.low", "low")]


def test_it_weighs_names_and_numbers_double() -> None:
    # Terms: "restart" (1), "pod" (1), "Kubernetes" (a name, 2); the answer uses the name: 2 / 4.
    result = _relevance("How do I restart a pod in Kubernetes?",
                        "In Kubernetes you delete it and the deployment recreates it.")

    assert _score(result).value == pytest.approx(0.5)


def test_it_reads_the_latest_question_of_a_long_conversation() -> None:
    history = "Tell me about the history of the Roman Empire and its emperors. " * 100
    result = _relevance(history + "\nNow, how do I reset my password?",
                        "Open Settings, choose Security and click Reset password.")

    assert _score(result).value > 0.2  # type: ignore[operator]


@pytest.mark.parametrize(("question", "answer"), [
    ("What is the capital of Australia?", "Canberra."),
    ("Translate to French: good morning, how are you today my friend?",
     "Bonjour, comment vas-tu aujourd'hui, mon ami ?"),
    ("thanks!", "You're welcome! Let me know if there is anything else you need."),
    ("Please explain.", "The previous answer covered the main steps of the migration in detail."),
])
def test_it_gives_no_relevance_score_when_words_cannot_tell(question: str, answer: str) -> None:
    result = _relevance(question, answer)

    assert _score(result).value is None
    assert result.flags == []


def test_it_gives_no_relevance_without_a_question_or_an_answer() -> None:
    assert _relevance("", "Some answer with several words.").scores == []
    assert _relevance("How do I reset my password?", "  ").scores == []


def test_it_uses_the_configured_flag_threshold() -> None:
    question = "How do I restart a pod in Kubernetes?"
    answer = "In Kubernetes you delete it and the deployment recreates it."

    assert [f.name for f in _relevance(question, answer, flag_below=0.9).flags] == ["relevance.low"]


# Odd and huge input ----------------------------------------------------------------------------

ODD = ["", "\x00", "\ud800", "\u202e\u200f", "e\u0301" * 2000, "🙂" * 5000, "```", "." * 10_000,
       "1,000,000.00 " * 1000, "Mr. " * 1000, "\n" * 10_000]


@pytest.mark.parametrize("text", ODD)
def test_it_never_raises_on_odd_input(text: str) -> None:
    for question, answer, context in ((text, text, text), ("How do I reset it?", text, CONTEXT),
                                      (text, "Refunds are processed within 14 business days.", text)):
        sample = Sample(input_text=question, output_text=answer, context_text=context)
        for config in ({}, None, {"top_terms": "x", "min_sentence_terms": -1}):
            assert isinstance(GroundednessEvaluator().evaluate(sample, config), Result)  # type: ignore[arg-type]
            assert isinstance(RelevanceEvaluator().evaluate(sample, config), Result)  # type: ignore[arg-type]


def test_it_bounds_its_work_on_huge_input() -> None:
    answer = "Refunds are processed within 14 business days and support is available Monday to Friday. " * 20_000
    context = CONTEXT * 5_000  # ~2.5 MB
    sample = Sample(input_text="How long do refunds take? " * 10_000, output_text=answer, context_text=context)

    started = time.perf_counter()
    grounded = GroundednessEvaluator().evaluate(sample, {})
    relevant = RelevanceEvaluator().evaluate(sample, {})

    assert time.perf_counter() - started < 1.0
    assert _score(grounded).value == 1.0
    assert "checked the first" in _score(grounded).reasons[0]
    assert _score(relevant).value is not None


def test_each_evaluator_names_itself_and_documents_its_defaults() -> None:
    evaluators: list[Evaluator] = [GroundednessEvaluator(), RelevanceEvaluator()]

    assert [e.name for e in evaluators] == ["groundedness", "relevance"]
    assert "support_threshold" in evaluators[0].defaults and "flag_below" in evaluators[1].defaults
