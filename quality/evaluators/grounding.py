"""Lexical groundedness (does the answer stay within the retrieved context?) and relevance (does it
use the question's terms?). Fast proxies with no model; an embedding method could be an optional
extra later, catching paraphrase and synonyms at the cost of a model and its memory."""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult

# Work is bounded: longer texts are cut here, and that is said in the reasons.
_MAX_OUTPUT = 20_000
_MAX_CONTEXT = 200_000
_MAX_QUESTION = 2_000
_MAX_SENTENCES = 100

# One stopword set for English, French, Spanish, German, Italian and Portuguese: mixing them costs a
# few English content words that are function words elsewhere ("die", "con"), which is tolerable.
_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below between
both but by can could did do does doing don down during each few for from further had has have having
he her here hers him his how if in into is it its itself just let me more most my no nor not now of off
on once only or other our ours out over own same she should so some such than that the their theirs
them then there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yes isn aren doesn didn won wouldn shouldn
ll ve re may might must shall us also however therefore thus via per etc e g i ie eg ok
le la les un une des du de et en est sont au aux ce ces cet cette il ils elle elles je tu nous vous on
ne pas plus par pour sur dans avec sans qui que quoi dont où ou mais donc car se sa son ses leur leurs
y été être avoir fait comme tout tous très peut qu lui
el los las unos unas del al es son lo le les se por para con sin sobre entre como pero más muy ya
está están ser fue era su sus este esta estos estas ese esa eso hay también cuando donde qué quien
der die das den dem des ein eine einer eines einem einen und oder aber ist sind war waren sein wird
werden wurde nicht mit von zu zum zur auf aus bei für im ins an am als auch es sie er wir ihr ich du
dass wenn wie was wer noch nur so schon sehr kann können hat haben
il lo gli uno una di da del della dei delle nel nella che non per con su tra fra sono è ha hanno anche
o os as um uma do da dos das no na nos nas em que não por para com sem é são foi ao aos pelo pela
""".split())
# Words that make the request, not its subject: "explain", "please", "tell me".
_REQUEST_WORDS = frozenset("""
explain describe tell show give list write help please want need know like make provide create find
get use way ways thing things something anything question answer thanks thank hi hello hey
""".split())

# Spelled-out numbers match digits ("two years" and "2 years"); "one" is too often a pronoun.
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "two three four five six seven eight nine ten eleven twelve".split(), start=2)}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_MARKUP = re.compile(r"^[ \t]*(?:[-*+•>]|\d{1,3}[.)]|#{1,6})[ \t]+", re.MULTILINE)
_SPACES = re.compile(r"[ \t\r\f\v]+")  # collapsed first, so no pattern backtracks over long runs
_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|\s*\n\s*")
_ABBREVIATIONS = frozenset(("e.g.", "i.e.", "etc.", "vs.", "dr.", "mr.", "mrs.", "ms.", "no.", "fig.", "approx.",
                            "st.", "inc.", "ltd.", "u.s.", "z.b.", "bzw.", "p.ex."))
_ATTRIBUTION = re.compile(
    r"^(?:according to|based on|as (?:stated|mentioned|described|shown) in|per|from) (?:the )?(?:provided |given |"
    r"above |retrieved |available )?(?:context|documents?|documentation|information|sources?|text|passages?|"
    r"excerpts?|data)[,:]?\s*", re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"^(?:sure|certainly|of course|absolutely|great question|good question|here(?:'s| is| are)|i hope|"
    r"hope this helps|let me know|feel free|happy to help|thanks|thank you|in summary|to summari[sz]e)\b",
    re.IGNORECASE)
_TRANSLATE = re.compile(r"\b(?:translat\w*|tradu\w*|übersetz\w*|tłumacz\w*|перев\w*)\b|翻译|翻訳", re.IGNORECASE)


def _number_key(raw: str) -> str:
    # "1,000" and "1000", "2.50" and "2.5", "3,5" and "3.5" are the same number.
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        raw = raw.replace(",", "")
    elif raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    if "." in raw and raw.count(".") == 1:
        raw = raw.rstrip("0").rstrip(".")
    return raw


def _stem(word: str) -> str:
    """A light suffix stripper (plurals, -ing, -ed, final -e) then a 6-letter prefix: crude, but the
    same on both sides of every comparison, and truncation suits other European languages too."""
    if len(word) > 3:
        if word.endswith("ies") and not word.endswith(("eies", "aies")):
            word = word[:-3] + "y"
        elif word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
            word = word[:-1]
        elif word.endswith("s") and not word.endswith(("us", "ss", "is")):
            word = word[:-1]
    if len(word) >= 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) >= 4 and word.endswith("ed"):
        word = word[:-2]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] in "bdgmnprt":
        word = word[:-1]  # running -> run, stopped -> stop
    if len(word) > 2 and word.endswith("e"):
        word = word[:-1]
    return word[:6]


@lru_cache(maxsize=50_000)
def _token_keys(raw: str) -> tuple[str, ...]:
    """The comparison keys of one token; cached because words repeat (Zipf)."""
    folded = raw.casefold()
    if raw[0].isdigit() or folded in _NUMBER_WORDS:
        return (_NUMBER_WORDS.get(folded) or _number_key(raw),)
    if _CJK.match(raw):
        # CJK is written without spaces: character pairs stand in for words.
        return tuple(raw[i:i + 2] for i in range(max(1, len(raw) - 1)))
    if len(folded) < 2 or folded in _STOPWORDS:
        return ()
    return (_stem(folded),)


def _known(text: str) -> set[str]:
    """Every key in a text; unique tokens first, so a 200 KB context costs tens of milliseconds."""
    keys: set[str] = set()
    for raw in set(_TOKEN.findall(unicodedata.normalize("NFKC", text))):
        keys.update(_token_keys(raw))
    return keys


@dataclass
class _Terms:
    keys: list[str]  # content terms, normalised, in order
    names: set[str]  # keys of numbers and of capitalised words inside a sentence (names, places)


def _terms(text: str, drop: frozenset[str] = frozenset()) -> _Terms:
    keys: list[str] = []
    names: set[str] = set()
    for position, raw in enumerate(_TOKEN.findall(unicodedata.normalize("NFKC", text))):
        found = _token_keys(raw)
        if not found or (drop and raw.casefold() in drop):
            continue
        keys.extend(found)
        if raw[0].isdigit() or (raw[0].isupper() and position > 0) or (len(raw) > 1 and raw.isupper()):
            names.update(found)
    return _Terms(keys, names)


def _sentences(text: str) -> list[str]:
    text = _MARKUP.sub("", _SPACES.sub(" ", _FENCED.sub("\n", text)))  # code is not a claim
    pieces = [p.strip() for p in _SPLIT.split(text) if p and p.strip()]
    merged: list[str] = []
    for piece in pieces:
        # "e.g. the" is not a sentence end, but "the best." is: compare the whole last word.
        if merged and merged[-1][-8:].rsplit(" ", 1)[-1].casefold() in _ABBREVIATIONS:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged[:_MAX_SENTENCES]


def _options(defaults: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
    options = {**defaults}
    for key, value in (config if isinstance(config, dict) else {}).items():
        # Bad values in a project's settings fall back to the default rather than fail every call.
        numeric = type(value) in (int, float) and type(defaults.get(key)) in (int, float)
        if numeric or (type(value) is bool and type(defaults.get(key)) is bool):
            options[key] = value
    return options


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GroundednessEvaluator:
    """Score `groundedness`: the share of the answer's factual-looking sentences whose content words
    (and every number and name) appear in the context. Paraphrase reads as unsupported, and a
    sentence that reuses the context's words to say something false reads as supported."""

    name = "groundedness"
    score_directions = {"groundedness": "higher"}
    flag_names = ("hallucination.suspected",)
    evaluated_score = "groundedness"
    defaults: dict[str, Any] = {
        "support_threshold": 0.6,  # share of a sentence's content words found in the context
        "flag_below": 0.5,  # hallucination.suspected under this score
        "min_sentence_terms": 3,  # shorter sentences ("Yes.", "Here it is:") are not judged
        "use_question": True,  # words taken from the question count as given
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        options = _options(self.defaults, config)
        context = sample.context_text or ""
        if not context.strip():
            return Result()  # nothing to be grounded in: not a RAG call
        known = _known(context[:_MAX_CONTEXT])
        if options["use_question"]:
            known |= _known((sample.input_text or "")[-_MAX_CONTEXT:])
        output = sample.output_text or ""
        judged = supported = 0
        unsupported: list[str] = []
        for sentence in _sentences(output[:_MAX_OUTPUT]):
            if sentence.endswith(("?", "？")):
                continue
            claim = _ATTRIBUTION.sub("", sentence)
            terms = _terms(claim)
            keys = set(terms.keys)
            if len(keys) < max(1, options["min_sentence_terms"]):
                continue
            if _BOILERPLATE.match(claim) and len(keys) < 8:
                continue
            judged += 1
            coverage = len(keys & known) / len(keys)
            missing_names = terms.names - known
            if coverage >= options["support_threshold"] and not missing_names:
                supported += 1
            else:
                why = f"{coverage:.0%} of its words in the context"
                if missing_names:
                    why += f", {len(missing_names)} number(s) or name(s) not in it"
                unsupported.append(f'not supported ({why}): "{_clip(sentence, 120)}"')
        if judged == 0:
            return Result(scores=[ScoreResult("groundedness", None, "unknown",
                                              ("no sentence long enough to check",))])
        score = supported / judged
        summary = f"{supported} of {judged} sentences supported by the context"
        if len(output) > _MAX_OUTPUT or len(context) > _MAX_CONTEXT:
            summary += (f" (checked the first {_MAX_OUTPUT} characters of the answer "
                        f"and {_MAX_CONTEXT} of the context)")
        label = "grounded" if score >= options["flag_below"] else "ungrounded"
        result = Result(scores=[ScoreResult("groundedness", score, label, (summary, *unsupported[:3]))])
        if score < options["flag_below"]:
            result.flags.append(FlagResult("hallucination.suspected", "medium", summary))
        return result


class RelevanceEvaluator:
    """Score `relevance`: the weighted share of the question's key terms that the answer uses (BM25
    with binary term matching, normalised by the best possible score). Names and numbers weigh
    double. Limits: synonyms and paraphrase count as misses, and answers in another language than
    the question score near zero, so translation requests and very short answers are not scored."""

    name = "relevance"
    score_directions = {"relevance": "higher"}
    flag_names = ("relevance.low",)
    evaluated_score = "relevance"
    defaults: dict[str, Any] = {
        "flag_below": 0.2,
        "min_answer_terms": 3,  # "Canberra." may be perfect; too short to judge lexically
        "top_terms": 15,  # a long question is reduced to its most repeated terms
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        options = _options(self.defaults, config)
        # The end of the input is the latest question; earlier turns are history.
        question = (sample.input_text or "")[-_MAX_QUESTION:]
        if not question.strip() or not (sample.output_text or "").strip():
            return Result()
        if _TRANSLATE.search(question):
            return _relevance(None, "unknown", "translation request: the answer's words differ by design")
        asked = _terms(question, drop=_REQUEST_WORDS)
        answer_keys = _known(sample.output_text[:_MAX_OUTPUT])
        if not asked.keys:
            return _relevance(None, "unknown", "the question has no content words to look for")
        if len(answer_keys) < options["min_answer_terms"]:
            return _relevance(None, "unknown", "the answer is too short to judge by its words")
        weights = {key: 2.0 if key in asked.names else 1.0 for key in asked.keys}
        counts = Counter(asked.keys)
        order = {key: i for i, key in reversed(list(enumerate(asked.keys)))}
        top = sorted(weights, key=lambda key: (-weights[key] * counts[key], order[key]))
        top = top[: max(1, int(options["top_terms"]))]
        total = sum(weights[key] for key in top)
        found = [key for key in top if key in answer_keys]
        score = sum(weights[key] for key in found) / total
        reason = f"the answer uses {len(found)} of the question's {len(top)} key terms"
        if score < options["flag_below"]:
            result = _relevance(score, "low", reason)
            result.flags.append(FlagResult("relevance.low", "low", reason))
            return result
        return _relevance(score, "relevant", reason)


def _relevance(value: float | None, label: str, reason: str) -> Result:
    return Result(scores=[ScoreResult("relevance", value, label, (reason,))])
