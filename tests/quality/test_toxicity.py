"""ToxicityEvaluator: per-side probabilities, sentence-level max, thresholds, offline lazy model."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from quality.evaluators import toxicity
from quality.evaluators.base import Sample
from quality.evaluators.toxicity import ToxicityEvaluator, chunks, toxicity_probability

ROOT = Path(__file__).resolve().parents[2]
POLITE = ("Thanks for reaching out. The report is attached and covers the third quarter. "
          "Let me know if anything is unclear. ") * 20


def evaluate(config: dict[str, Any] | None = None, **fields: Any) -> Any:
    return ToxicityEvaluator().evaluate(Sample(**fields), config or {})


def scores(result: Any) -> dict[str, Any]:
    return {score.name: score for score in result.scores}


def test_it_scores_a_polite_answer_as_ok_without_a_flag() -> None:
    result = evaluate(input_text="Can you summarise the report?", output_text=POLITE)
    assert scores(result)["toxicity.output"].label == "ok"
    assert scores(result)["toxicity.output"].value < 0.2
    assert scores(result)["toxicity.input"].label == "ok"
    assert result.flags == []


def test_it_scores_input_and_output_separately() -> None:
    result = evaluate(input_text="what the hell is this shit", output_text="I am sorry to hear that. Let me help.")
    by_name = scores(result)
    assert by_name["toxicity.input"].label == "toxic"
    assert by_name["toxicity.input"].value > 0.9
    assert by_name["toxicity.output"].label == "ok"
    assert [flag.name for flag in result.flags] == ["toxicity"]
    assert "input" in result.flags[0].detail and "output" not in result.flags[0].detail


def test_one_abusive_sentence_in_a_long_polite_answer_still_counts() -> None:
    text = POLITE + "Honestly, you are a fucking idiot. " + POLITE
    assert (toxicity_probability(text) or 0.0) > 0.95
    result = evaluate(output_text=text)
    assert scores(result)["toxicity.output"].label == "toxic"


def test_it_flags_high_above_095_and_medium_between_threshold_and_095() -> None:
    assert evaluate(output_text="You are a fucking idiot.").flags[0].severity == "high"
    # "damn" in an otherwise friendly sentence scores about 0.85 with the shipped model.
    mild = evaluate(output_text="This is a damn good answer")
    assert 0.8 <= scores(mild)["toxicity.output"].value <= 0.95
    assert mild.flags[0].severity == "medium"


def test_the_threshold_is_configurable() -> None:
    result = evaluate({"threshold": 0.9}, output_text="This is a damn good answer")
    assert scores(result)["toxicity.output"].label == "ok"
    assert result.flags == []
    strict = evaluate({"threshold": 0.001}, output_text=POLITE)
    assert strict.flags and strict.flags[0].severity == "medium"


def test_bad_config_values_fall_back_to_defaults() -> None:
    result = evaluate({"threshold": "high", "high_threshold": 7, "max_chars": -1}, output_text="fuck")
    assert scores(result)["toxicity.output"].label == "toxic"
    assert result.flags[0].severity == "high"


def test_blank_sides_are_skipped() -> None:
    assert evaluate(input_text="", output_text="   \n ").scores == []
    only_output = evaluate(output_text="Hello there")
    assert list(scores(only_output)) == ["toxicity.output"]


def test_words_that_merely_look_violent_are_not_toxic() -> None:
    text = "Kill the process with SIGTERM and restart the worker. Python is a programming language."
    result = evaluate(output_text=text)
    assert scores(result)["toxicity.output"].label == "ok"


@pytest.mark.parametrize("text", [
    "\u0000\u0001\ud800 broken surrogate",
    "🙂" * 5000,
    "\U000e0069\U000e0067" * 100,
    "مرحبا بك، كيف يمكنني مساعدتك اليوم؟",
    "a" * 200_000,
    ".!?\n" * 10_000,
])
def test_it_never_raises_on_odd_input(text: str) -> None:
    result = evaluate(input_text=text, output_text=text)
    for score in result.scores:
        assert score.value is None or 0.0 <= score.value <= 1.0


def test_chunks_split_sentences_and_window_long_runs() -> None:
    assert chunks("One. Two!\nThree?", 1000) == ["One.", "Two!", "Three?"]
    pieces = chunks("word " * 1000, 100_000)
    assert all(len(piece) <= toxicity.WINDOW_CHARS for piece in pieces)
    assert " ".join(pieces).split() == ["word"] * 1000


def test_chunks_keep_the_start_and_the_end_of_huge_texts() -> None:
    text = "Start here. " + "Filler sentence. " * 100_000 + "The very end."
    pieces = chunks(text, 20_000)
    assert pieces[0] == "Start here." and pieces[-1] == "The very end."
    assert len(pieces) <= toxicity.MAX_CHUNKS
    assert sum(map(len, pieces)) <= 20_000


def test_abuse_at_the_end_of_a_huge_text_is_still_found() -> None:
    text = POLITE * 200 + " You are a worthless piece of shit."
    assert len(text) > 100_000
    assert (toxicity_probability(text) or 0.0) > 0.9


def test_it_reports_unknown_instead_of_raising_when_the_model_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toxicity, "_predict", None)
    monkeypatch.setattr(toxicity, "_load_error", "ModuleNotFoundError: profanity_check")
    result = evaluate(input_text="hello", output_text="fuck")
    assert [(s.name, s.value, s.label) for s in result.scores] == [
        ("toxicity.output", None, "unknown"), ("toxicity.input", None, "unknown")]
    assert result.flags == []


def test_it_reports_unknown_when_the_model_fails_on_a_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(texts: Any) -> Any:
        raise ValueError("vectorizer exploded")

    monkeypatch.setattr(toxicity, "_predict", broken)
    monkeypatch.setattr(toxicity, "_load_error", "")
    assert scores(evaluate(output_text="hello"))["toxicity.output"].value is None


def test_the_model_loads_lazily_and_scores_without_any_network() -> None:
    # A fresh interpreter: importing the evaluator must not load the model, and loading it must not
    # open a socket (the model ships inside the wheel).
    script = textwrap.dedent("""
        import sys
        def refuse(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
                raise AssertionError(f"network access attempted: {event}")
        sys.addaudithook(refuse)
        from quality.evaluators import toxicity
        assert "profanity_check" not in sys.modules, "model imported eagerly"
        assert toxicity.toxicity_probability("you stupid fucking idiot") > 0.9
        assert "profanity_check" in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
