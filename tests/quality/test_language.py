"""Language mismatch on plain strings, with the language model shipped inside py3langid."""
from __future__ import annotations

import sys
import time

import pytest

from quality.evaluators import langid_batch
from quality.evaluators.base import Evaluator, Result, Sample, ScoreResult
from quality.evaluators.language import LanguageEvaluator


def _evaluate(question: str, answer: str, system: str = "", **config: object) -> Result:
    return LanguageEvaluator().evaluate(Sample(input_text=question, output_text=answer, system_text=system), config)


def _score(result: Result) -> ScoreResult:
    [score] = result.scores
    assert score.name == "language_match"
    return score


SAME = [
    ("en", "How do I reset my password?", "Open Settings, choose Security and click the reset password button."),
    ("fr", "Comment réinitialiser mon mot de passe ?",
     "Ouvrez les paramètres, choisissez Sécurité puis cliquez sur réinitialiser."),
    ("es", "¿Cómo restablezco mi contraseña?",
     "Abre la configuración, elige Seguridad y haz clic en restablecer la contraseña."),
    ("de", "Wie setze ich mein Passwort zurück?",
     "Gehen Sie zu Einstellungen und klicken Sie auf Passwort zurücksetzen."),
    ("it", "Come posso reimpostare la mia password?",
     "Apri le impostazioni, scegli Sicurezza e fai clic su reimposta password."),
    ("pt", "Como faço para redefinir minha senha?",
     "Abra as configurações, escolha Segurança e clique em redefinir a senha."),
    ("zh", "如何重置我的密码？", "请前往设置页面，然后点击重置密码按钮。"),
    ("ja", "パスワードをリセットするにはどうすればいいですか？", "設定画面を開き、セキュリティを選んでパスワードのリセットを押してください。"),
]


@pytest.mark.parametrize(("lang", "question", "answer"), SAME)
def test_it_scores_an_answer_in_the_language_of_the_question_as_a_match(lang: str, question: str, answer: str) -> None:
    result = _evaluate(question, answer)

    assert _score(result).value == 1.0
    assert _score(result).label == f"{lang}→{lang}"
    assert result.flags == []


MISMATCHED = [
    ("en→fr", "What is the best way to learn a new programming language quickly?",
     "La meilleure façon d'apprendre un nouveau langage est de pratiquer tous les jours avec de petits projets."),
    ("fr→en", "Quelle est la meilleure façon d'apprendre un nouveau langage de programmation ?",
     "The best way to learn a new language is to practise every day with small projects."),
    ("de→en", "Wie setze ich mein Passwort zurück?",
     "Go to the settings page and click the reset password button."),
    ("zh→en", "如何重置我的密码？", "Go to the settings page and click the reset password button."),
    ("en→es", "How do I reset my password?",
     "Abre la configuración, elige Seguridad y haz clic en restablecer la contraseña."),
]


@pytest.mark.parametrize(("label", "question", "answer"), MISMATCHED)
def test_it_flags_an_answer_in_another_language(label: str, question: str, answer: str) -> None:
    result = _evaluate(question, answer)

    assert _score(result).value == 0.0
    assert _score(result).label == label
    assert [(f.name, f.severity) for f in result.flags] == [("language.mismatch", "low")]


@pytest.mark.parametrize("question", [
    "Answer in French: what is the best way to learn a new programming language?",
    "What is the best way to learn a new programming language? Please reply en français.",
    "Translate to French: the best way to learn a language is to practise every day.",
])
def test_it_accepts_the_language_the_question_asked_for(question: str) -> None:
    answer = "La meilleure façon d'apprendre une langue est de pratiquer tous les jours."

    result = _evaluate(question, answer)

    assert _score(result).value == 1.0
    assert _score(result).label == "en→fr"
    assert result.flags == []


def test_it_accepts_the_language_the_system_prompt_asked_for() -> None:
    result = _evaluate("What is the best way to learn a new programming language quickly?",
                       "La mejor manera de aprender un lenguaje nuevo es practicar todos los días.",
                       system="You are a tutor. Always answer in Spanish.")

    assert _score(result).value == 1.0


def test_it_accepts_an_answer_in_the_language_of_the_instruction_around_pasted_text() -> None:
    article = ("Die Bundesregierung hat am Mittwoch ein neues Gesetz zur Förderung erneuerbarer "
               "Energien beschlossen. ") * 30

    result = _evaluate(f"Summarize this article for me:\n\n{article}",
                       "The German government passed a new law on Wednesday to promote renewable energy.")

    assert _score(result).value == 1.0
    assert result.flags == []


@pytest.mark.parametrize(("question", "answer"), [
    ("Hi", "Hello! How can I help you today with your project?"),  # question too short
    ("Bonjour", "Hello! How can I help you today with your project?"),
    ("What is the capital of France?", "Paris."),  # answer too short
    ("Write a Python function that adds two numbers", "```python\ndef add(a, b):\n    return a + b\n```"),
    ("Write a SQL query for active users", "SELECT id, email FROM users WHERE active = true ORDER BY id;"),
    ("Give me the link to the docs please", "https://docs.example.com/getting-started/install#linux"),
    ("How do I reset my password?", ""),
    ("", "The capital of France is Paris, a city on the Seine."),
    ("12345 67890", "The numbers you sent are 12345 and 67890, which add up to 80235."),
])
def test_it_gives_no_score_rather_than_a_false_mismatch_when_unsure(question: str, answer: str) -> None:
    result = _evaluate(question, answer)

    assert _score(result).value is None
    assert _score(result).label == "unknown"
    assert _score(result).reasons
    assert result.flags == []


def test_it_ignores_code_and_judges_the_prose_around_it() -> None:
    answer = ("Voici une fonction qui additionne deux nombres et renvoie le résultat :\n"
              "```python\ndef add(first_number, second_number):\n    return first_number + second_number\n```")

    result = _evaluate("Écris une fonction Python qui additionne deux nombres, s'il te plaît.", answer)

    assert _score(result).value == 1.0


def test_it_does_not_flag_an_english_answer_that_quotes_foreign_words() -> None:
    result = _evaluate("What does the German word Schadenfreude mean?",
                       "Schadenfreude means the pleasure someone feels at another person's misfortune.")

    assert _score(result).value == 1.0


def test_it_treats_close_varieties_as_the_same_language() -> None:
    # py3langid spreads Spanish over es/ext/gl, English over en/pcm; neither side may flag that.
    result = _evaluate("¿Cuál es la mejor manera de aprender a programar rápidamente?",
                       "La mejor manera es practicar todos los días con proyectos pequeños y reales.")

    assert _score(result).value == 1.0


def test_it_can_be_made_stricter_about_confidence() -> None:
    result = _evaluate("How do I reset my password?", "Open Settings, choose Security and click Reset.",
                       min_confidence=0.9999)

    assert _score(result).value is None


def test_it_can_require_more_letters_before_judging() -> None:
    result = _evaluate("How do I reset my password?", "Open Settings, choose Security and click Reset.",
                       min_letters=500)

    assert _score(result).value is None


@pytest.mark.parametrize("text", ["", "\x00", "\ud800\udfff", "\u202e\u200f", "e\u0301" * 2000, "🙂" * 5000,
                                  "```", "`" * 10_000, "<" * 10_000, "a b " * 200_000])
def test_it_never_raises_on_odd_input(text: str) -> None:
    for question, answer in ((text, text), (text, "The capital of France is Paris on the Seine."),
                             ("What is the capital of France and why?", text)):
        result = _evaluate(question, answer, min_letters="x", min_confidence=None)  # type: ignore[arg-type]
        assert isinstance(result, Result)


def test_it_bounds_its_work_on_huge_input() -> None:
    _evaluate("Please warm up the language model first.", "The language model is now warmed up.")  # not timed
    question = "How do I reset my password in the admin console?\n" * 20_000
    answer = "Open the admin console, choose Security and click reset password.\n" * 20_000

    started = time.perf_counter()
    result = _evaluate(question, answer)

    assert time.perf_counter() - started < 0.5
    assert _score(result).value == 1.0


def test_it_names_itself_and_documents_its_defaults() -> None:
    evaluator: Evaluator = LanguageEvaluator()

    assert evaluator.name == "language_match"
    assert set(evaluator.defaults) == {"min_letters", "min_confidence", "max_chars"}


def test_it_gives_no_score_instead_of_failing_when_py3langid_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(langid_batch, "_loaded", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)  # makes the import raise ImportError

    result = _evaluate("How do I reset my password?", "Open Settings, choose Security and click Reset.")

    assert _score(result).value is None
    assert "py3langid" in _score(result).reasons[0]
