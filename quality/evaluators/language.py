"""Language mismatch: does the answer use the language of the question (or the one it asked for)?

Detection uses py3langid (BSD, model shipped inside the wheel, ~5 MB on disk, numpy only). Tried on
52 short questions and answers in 20 languages: py3langid 51 right at 0.2 ms a call; langdetect 48
right at 3.5 ms, unmaintained since 2021 and random unless seeded; lingua 51 right but 96 MB on disk,
1.1 GB of memory and 3-10 s to load. py3langid costs ~70 MB of memory once loaded, lazily, per process.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from quality.evaluators import langid_batch
from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult

# py3langid splits its confidence between a language and its close varieties (English and Nigerian
# Pidgin, Spanish and Extremaduran, Chinese and Cantonese...). Their probabilities are summed under
# one code, so that neither the confidence nor the comparison is fooled by a near-duplicate label.
_FOLD = {
    "pcm": "en", "ext": "es", "an": "es", "gl": "pt", "lb": "de", "af": "nl", "fy": "nl",
    "ary": "ar", "arz": "ar", "yue": "zh", "wuu": "zh", "lij": "it", "vec": "it", "wa": "fr",
    "gcf": "fr", "gcr": "fr", "crh": "tr", "nn": "no", "uzs": "uz", "sdh": "ku", "hbo": "he",
    "grc": "el", "ltg": "lv", "bs": "hr", "sr": "hr", "ms": "id", "da": "no",
}
_NOT_A_LANGUAGE = {"zxx"}  # py3langid's "no linguistic content" label (URLs, identifiers)
_PLAUSIBLE = 0.2  # a language this likely in some line of the input may well be meant
_MIN_LINE_LETTERS = 10
_EDGE_LINES = 5

# Names people use to ask for a language ("answer in French", "en français", "auf Deutsch").
_NAMES = {
    "en": "english|anglais|inglés|ingles|englisch|englische|inglese|inglês",
    "fr": "french|français|francais|francés|französisch|französische|francese",
    "es": "spanish|español|espanol|espagnol|spanisch|spanische|spagnolo|espanhol",
    "de": "german|deutsch|deutsche|allemand|alemán|aleman|tedesco|alemão",
    "it": "italian|italiano|italien|italienisch",
    "pt": "portuguese|português|portugues|portugais|portugiesisch|portoghese",
    "nl": "dutch|nederlands|néerlandais|niederländisch", "ru": "russian|русском|russe|ruso|russisch",
    "zh": "chinese|mandarin|chinois|chino|chinesisch", "ja": "japanese|japonais|japonés|japanisch",
    "ko": "korean|coréen|coreano|koreanisch", "pl": "polish|polski|polonais|polaco", "uk": "ukrainian|українською",
    "tr": "turkish|türkçe|turc", "ar": "arabic|arabe|árabe|arabisch", "hi": "hindi", "sv": "swedish|svenska",
    "no": "norwegian|danish|norsk|dansk", "fi": "finnish|suomi", "cs": "czech|česky|čeština", "el": "greek|ελληνικά",
    "he": "hebrew", "id": "indonesian|malay|bahasa", "vi": "vietnamese|tiếng việt", "th": "thai",
}
_ASKED = re.compile(
    r"\b(?:in|into|to|en|auf|ins|in lingua|em|на)\s+(" + "|".join(_NAMES.values()) + r")\b", re.IGNORECASE)
_NAME_TO_CODE = {name: code for code, names in _NAMES.items() for name in names.split("|")}
_ASKED_CJK = {"用中文": "zh", "中文回答": "zh", "日本語で": "ja", "한국어로": "ko"}

# Code, URLs, e-mails, numbers and markup say nothing about the language of the prose around them.
_NOISE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]{0,200}`|https?://\S+|[\w.+-]{1,64}@[\w.-]{1,255}|<[^>\n]{1,200}>|"
                    r"[\d_#*|=<>{}\[\]\\/]+", re.DOTALL)
_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _fold(ranks: list[tuple[str, float]]) -> list[tuple[str, float]]:
    folded: dict[str, float] = {}
    for code, probability in ranks:
        key = _FOLD.get(code, code)
        folded[key] = folded.get(key, 0.0) + float(probability)
    return sorted(folded.items(), key=lambda item: item[1], reverse=True)


def rank_texts(texts: list[str]) -> list[list[tuple[str, float]]] | None:
    """Folded language ranks of many texts in one vectorised pass (quality.evaluators.langid_batch:
    py3langid's model, loaded once per process, ~0.5 s and ~100 MB); None without py3langid."""
    identifier = langid_batch.identifier()
    if identifier is None:
        return None
    return [_fold(ranks) for ranks in identifier.rank_many(texts)] if texts else []


def _prose(text: str, max_chars: int) -> str:
    # Cap before the regex work, so huge inputs cost the same as a few kilobytes.
    return re.sub(r"\s+", " ", _NOISE.sub(" ", text[: max_chars * 2]))[:max_chars].strip()


def _letters(text: str) -> int:
    # One CJK character carries about a word, so it counts as three letters towards the minimum.
    return sum(ch.isalpha() for ch in text) + 2 * len(_WIDE.findall(text))


def _option(options: dict[str, Any], key: str, fallback: float) -> float:
    value = options.get(key, fallback)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else fallback


class LanguageEvaluator:
    """Score `language_match`: 1.0 the answer is in the question's language (or the language the
    question or system prompt asked for), 0.0 it clearly is not, None when either side is too short
    or too uncertain to tell: a false mismatch is worse than no score."""

    name = "language_match"
    score_directions = {"language_match": "higher"}
    flag_names = ("language.mismatch",)
    defaults: dict[str, Any] = {"min_letters": 20, "min_confidence": 0.5, "max_chars": 2000}

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        """One call; every text it needs is ranked when asked for."""
        return self._decide(sample, self._options(config), _ranker({}))

    def evaluate_batch(self, samples: Sequence[Sample], config: dict[str, Any]) -> list[Result]:
        """The answers and questions of the whole batch ranked in one pass; the rare extra texts
        (single lines of a mixed-language input) in one more pass. Same ranks, so same results."""
        options = self._options(config)
        wanted = [text for sample in samples for text in self._texts(sample, options)]
        ranked = rank_texts(wanted) if wanted else []
        memo = dict(zip(wanted, ranked)) if ranked is not None else {}
        return [self._decide(sample, options, _ranker(memo)) for sample in samples]

    def _options(self, config: dict[str, Any]) -> tuple[float, float, int]:
        options = {**self.defaults, **(config if isinstance(config, dict) else {})}
        return (_option(options, "min_letters", 20), _option(options, "min_confidence", 0.5),
                max(200, int(_option(options, "max_chars", 2000))))

    @staticmethod
    def _texts(sample: Sample, options: tuple[float, float, int]) -> list[str]:
        """The texts _decide ranks first: the answer's prose and the question's tail."""
        min_letters, _, max_chars = options
        answer = _prose(sample.output_text or "", max_chars)
        if _letters(answer) < min_letters:
            return []
        primary = _prose((sample.input_text or "")[-max_chars:], max_chars)
        return [answer, primary] if _letters(primary) >= min_letters else [answer]

    def _decide(self, sample: Sample, options: tuple[float, float, int],
                rank: Callable[[list[str]], list[list[tuple[str, float]]] | None]) -> Result:
        min_letters, min_confidence, max_chars = options
        answer = _prose(sample.output_text or "", max_chars)
        if _letters(answer) < min_letters:
            return _unknown("the answer has too little prose to tell its language")
        question = sample.input_text or ""
        # The tail of the input holds the latest question; it decides the input's language.
        primary = _prose(question[-max_chars:], max_chars)
        has_primary = _letters(primary) >= min_letters
        ranks = rank([answer, primary] if has_primary else [answer])
        if ranks is None:
            return _unknown("language detection is unavailable: py3langid is not installed")
        answer_ranks, primary_ranks = ranks[0], (ranks[1] if has_primary else [])
        answer_lang, answer_conf = answer_ranks[0]
        if answer_conf < min_confidence or answer_lang in _NOT_A_LANGUAGE:
            return _unknown("the answer's language is uncertain")

        primary_lang = primary_ranks[0][0] if primary_ranks else "?"
        instructions = question[-4 * max_chars:] + "\n" + (sample.system_text or "")[: 4 * max_chars]
        if answer_lang in _asked_languages(instructions):
            return _match(f"{primary_lang}→{answer_lang}", "the answer is in the language that was asked for")
        if not primary_ranks or primary_ranks[0][1] < min_confidence or primary_lang in _NOT_A_LANGUAGE:
            return _unknown("the question has too little prose, or its language is uncertain")
        if primary_lang == answer_lang:
            return _match(f"{primary_lang}→{answer_lang}", "")
        # Inputs mix languages: "Summarise this German article:" over pasted German text. If any
        # line of the input is plausibly in the answer's language, the answer is not flagged.
        for line_ranks in [primary_ranks, *(rank(_lines(question, max_chars)) or [])]:
            if dict(line_ranks).get(answer_lang, 0.0) >= _PLAUSIBLE:
                return _match(f"{primary_lang}→{answer_lang}", "the answer's language also appears in the input")
        label = f"{primary_lang}→{answer_lang}"
        reason = (f"question in {primary_lang} ({primary_ranks[0][1]:.0%} sure), "
                  f"answer in {answer_lang} ({answer_conf:.0%} sure)")
        return Result(scores=[ScoreResult("language_match", 0.0, label, (reason,))],
                      flags=[FlagResult("language.mismatch", "low", reason)])


def _ranker(memo: dict[str, list[tuple[str, float]]]) -> Callable[[list[str]], list[list[tuple[str, float]]] | None]:
    """Ranks of texts, from `memo` where a batch already ranked them, the rest in one pass."""
    def rank(texts: list[str]) -> list[list[tuple[str, float]]] | None:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            found = rank_texts(missing)
            if found is None:
                return None
            memo.update(zip(missing, found))
        return [memo[t] for t in texts]
    return rank


def _lines(text: str, max_chars: int) -> list[str]:
    """The first and last few lines with some prose: instructions sit around pasted material."""
    candidates = [_prose(line, max_chars) for line in re.split(r"\n+", text[: 4 * max_chars])]
    if len(text) > 4 * max_chars:
        candidates += [_prose(line, max_chars) for line in re.split(r"\n+", text[-4 * max_chars:])]
    lines = [line for line in candidates if _letters(line) >= _MIN_LINE_LETTERS]
    return lines if len(lines) <= 2 * _EDGE_LINES else lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]


def _asked_languages(text: str) -> set[str]:
    found = {_NAME_TO_CODE.get(m.group(1).casefold(), "") for m in _ASKED.finditer(text)}
    found.update(code for marker, code in _ASKED_CJK.items() if marker in text)
    return {_FOLD.get(code, code) for code in found if code}


def _match(label: str, reason: str) -> Result:
    return Result(scores=[ScoreResult("language_match", 1.0, label, (reason,) if reason else ())])


def _unknown(reason: str) -> Result:
    return Result(scores=[ScoreResult("language_match", None, "unknown", (reason,))])
