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
# An address is only tried where a word starts: tried at every character, its pattern re-read up to
# 64 characters ahead each time, and was most of the cost of this evaluator on long answers.
_NOISE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]{0,200}`|https?://\S+|(?<![\w.+-])[\w.+-]{1,64}@[\w.-]{1,255}|<[^>\n]{1,200}>|"
                    r"[\d_#*|=<>{}\[\]\\/]+", re.DOTALL)
# Without a backtick, "://", "@" or "<" only the last alternative of _NOISE can match: most texts
# take this one-class pattern, which gives the same result at a fraction of the cost.
_NOISE_PLAIN = re.compile(r"[\d_#*|=<>{}\[\]\\/]+")
_NOISE_TRIGGERS = ("`", "://", "@", "<")
_SPACE_RUNS = re.compile(r"\s+")
_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class Ranks:
    """One text's languages, close varieties folded together: the most likely, and any one's share."""

    __slots__ = ("_row", "_labels")

    def __init__(self, row: list[float], labels: list[str]) -> None:
        self._row, self._labels = row, labels

    @property
    def top(self) -> tuple[str, float]:
        best = max(range(len(self._row)), key=self._row.__getitem__)
        return self._labels[best], self._row[best]

    def get(self, language: str) -> float:
        try:
            return self._row[self._labels.index(language)]
        except ValueError:
            return 0.0


class _Folding:
    """Columns of py3langid's labels summed into the folded labels, in numpy for the whole batch
    (a Python loop over 142 languages per text had cost more than identifying them)."""

    def __init__(self, classes: list[str]) -> None:
        self.labels: list[str] = []
        self.first: list[int] = []  # for each folded label, the column it starts from
        self.extra: list[tuple[int, int]] = []  # (folded label, further column added to it)
        seen: set[str] = set()
        for column, code in enumerate(classes):
            key = _FOLD.get(code, code)
            if key in seen:
                continue
            seen.add(key)
            self.labels.append(key)
            self.first.append(column)
        where = {label: i for i, label in enumerate(self.labels)}
        for column, code in enumerate(classes):
            key = _FOLD.get(code, code)
            if self.first[where[key]] != column:
                self.extra.append((where[key], column))

    def fold(self, probabilities: Any) -> list[list[float]]:
        folded = probabilities[:, self.first]
        for target, column in self.extra:  # elementwise: each row's sums do not depend on the others
            folded[:, target] += probabilities[:, column]
        return folded.tolist()


_folding: _Folding | None = None


def rank_texts(texts: list[str]) -> list[Ranks] | None:
    """Folded language ranks of many texts in one vectorised pass (quality.evaluators.langid_batch:
    py3langid's model, loaded once per process, ~0.5 s and ~100 MB); None without py3langid."""
    global _folding
    identifier = langid_batch.identifier()
    if identifier is None:
        return None
    if not texts:
        return []
    if _folding is None:
        _folding = _Folding(identifier.classes)
    labels = _folding.labels
    return [Ranks(row, labels) for row in _folding.fold(identifier.probabilities(texts))]


def _prose(text: str, max_chars: int) -> str:
    # Cap before the regex work, so huge inputs cost the same as a few kilobytes.
    text = text[: max_chars * 2]
    noise = _NOISE if any(trigger in text for trigger in _NOISE_TRIGGERS) else _NOISE_PLAIN
    return _SPACE_RUNS.sub(" ", noise.sub(" ", text))[:max_chars].strip()


def _letters(text: str) -> int:
    # One CJK character carries about a word, so it counts as three letters towards the minimum.
    return sum(map(str.isalpha, text)) + 2 * len(_WIDE.findall(text))


def _enough_letters(text: str, minimum: float) -> bool:
    """_letters(text) >= minimum, reading only as much of the text as it takes (usually a line)."""
    head = text[: int(minimum) * 4 + 16]
    return _letters(head) >= minimum or (len(head) < len(text) and _letters(text) >= minimum)


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
    evaluated_score = "language_match"
    defaults: dict[str, Any] = {"min_letters": 20, "min_confidence": 0.5, "max_chars": 2000}

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        """One call; every text it needs is ranked when asked for."""
        return self._decide(sample, self._options(config), _ranker({}))

    def evaluate_batch(self, samples: Sequence[Sample], config: dict[str, Any]) -> list[Result]:
        """The answers and questions of the whole batch ranked in one pass; the rare extra texts
        (single lines of a mixed-language input) in one more pass. Same ranks, so same results."""
        options = self._options(config)
        texts = [self._texts(sample, options) for sample in samples]
        wanted = [t for answer, primary in texts if answer for t in (answer, primary) if t]
        ranked = rank_texts(wanted) if wanted else []
        memo = dict(zip(wanted, ranked, strict=True)) if ranked is not None else {}
        return [self._decide(sample, options, _ranker(memo), pair) for sample, pair in zip(samples, texts, strict=True)]

    def _options(self, config: dict[str, Any]) -> tuple[float, float, int]:
        options = {**self.defaults, **(config if isinstance(config, dict) else {})}
        return (_option(options, "min_letters", 20), _option(options, "min_confidence", 0.5),
                max(200, int(_option(options, "max_chars", 2000))))

    @staticmethod
    def _texts(sample: Sample, options: tuple[float, float, int]) -> tuple[str, str]:
        """The prose identified first: the answer's ("" if too little), the question tail's ("" if too little)."""
        min_letters, _, max_chars = options
        answer = _prose(sample.output_text or "", max_chars)
        if not _enough_letters(answer, min_letters):
            return "", ""
        primary = _prose((sample.input_text or "")[-max_chars:], max_chars)
        return answer, primary if _enough_letters(primary, min_letters) else ""

    def _decide(self, sample: Sample, options: tuple[float, float, int],
                rank: Callable[[list[str]], list[Ranks] | None], texts: tuple[str, str] | None = None) -> Result:
        _, min_confidence, max_chars = options
        answer, primary = texts if texts is not None else self._texts(sample, options)
        if not answer:
            return _unknown("the answer has too little prose to tell its language")
        ranks = rank([answer, primary] if primary else [answer])
        if ranks is None:
            return _unknown("language detection is unavailable: py3langid is not installed")
        answer_lang, answer_conf = ranks[0].top
        if answer_conf < min_confidence or answer_lang in _NOT_A_LANGUAGE:
            return _unknown("the answer's language is uncertain")

        question = sample.input_text or ""
        primary_lang, primary_conf = ranks[1].top if primary else ("?", 0.0)
        instructions = question[-4 * max_chars:] + "\n" + (sample.system_text or "")[: 4 * max_chars]
        if answer_lang in _asked_languages(instructions):
            return _match(f"{primary_lang}→{answer_lang}", "the answer is in the language that was asked for")
        if not primary or primary_conf < min_confidence or primary_lang in _NOT_A_LANGUAGE:
            return _unknown("the question has too little prose, or its language is uncertain")
        if primary_lang == answer_lang:
            return _match(f"{primary_lang}→{answer_lang}", "")
        # Inputs mix languages: "Summarise this German article:" over pasted German text. If any
        # line of the input is plausibly in the answer's language, the answer is not flagged.
        for line_ranks in [ranks[1], *(rank(_lines(question, max_chars)) or [])]:
            if line_ranks.get(answer_lang) >= _PLAUSIBLE:
                return _match(f"{primary_lang}→{answer_lang}", "the answer's language also appears in the input")
        label = f"{primary_lang}→{answer_lang}"
        reason = (f"question in {primary_lang} ({primary_conf:.0%} sure), "
                  f"answer in {answer_lang} ({answer_conf:.0%} sure)")
        return Result(scores=[ScoreResult("language_match", 0.0, label, (reason,))],
                      flags=[FlagResult("language.mismatch", "low", reason)])


def _ranker(memo: dict[str, Ranks]) -> Callable[[list[str]], list[Ranks] | None]:
    """Ranks of texts, from `memo` where a batch already ranked them, the rest in one pass."""
    def rank(texts: list[str]) -> list[Ranks] | None:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            found = rank_texts(missing)
            if found is None:
                return None
            memo.update(zip(missing, found, strict=True))
        return [memo[t] for t in texts]
    return rank


def _lines(text: str, max_chars: int) -> list[str]:
    """The first and last few lines with some prose: instructions sit around pasted material."""
    candidates = [_prose(line, max_chars) for line in re.split(r"\n+", text[: 4 * max_chars])]
    if len(text) > 4 * max_chars:
        candidates += [_prose(line, max_chars) for line in re.split(r"\n+", text[-4 * max_chars:])]
    lines = [line for line in candidates if _enough_letters(line, _MIN_LINE_LETTERS)]
    return lines if len(lines) <= 2 * _EDGE_LINES else lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]


def _asked_languages(text: str) -> set[str]:
    found = {_NAME_TO_CODE.get(m.group(1).casefold(), "") for m in _ASKED.finditer(text)}
    found.update(code for marker, code in _ASKED_CJK.items() if marker in text)
    return {_FOLD.get(code, code) for code in found if code}


def _match(label: str, reason: str) -> Result:
    return Result(scores=[ScoreResult("language_match", 1.0, label, (reason,) if reason else ())])


def _unknown(reason: str) -> Result:
    return Result(scores=[ScoreResult("language_match", None, "unknown", (reason,))])
