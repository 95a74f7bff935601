"""Scanning text with the rule sets and combining the hits into one score: the readings of one input
(plain, cased, deobfuscated, squashed, decoded, rot13) and the noisy-OR over their signals."""
from __future__ import annotations

import codecs
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from quality.evaluators.injection.rules import LINE_START, Hit, Rule, RuleSet
from quality.evaluators.injection.tables import (
    CASED,
    DECODED,
    FAMILY_CAP,
    HIDDEN_ORDERS,
    OBFUSCATED,
    ROT13,
    RULES,
    SINGLES,
    SPACED,
    SQUASHED,
    SUPPORT,
    UNDERSCORED,
)
from quality.evaluators.injection.text import (
    INVISIBLE,
    NOTHING_INVISIBLE,
    ZERO_WIDTH,
    _bounded,
    _collapsed,
    _decoded_blobs,
    _invisible,
    deobfuscate,
    normalise,
)

# Injected text tends to sit at the very start or the very end: of a longer input, the first 80%
# and the last 20% of this many characters are read, so 5 MB costs what 20 KB does.
MAX_CHARS = 20_000
MAX_CHARS_CEILING = 200_000  # the most a project's `max_chars` setting can raise it to
MAX_HITS_PER_RULE = 20  # repeats add nothing to a family's weight but would cost time

QUOTED = re.compile(r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|‘[^’\n]{1,400}’|«[^»\n]{1,400}»|`[^`\n]{1,400}`|"
                    r"'(?<!\w')[^'\n]{1,400}'(?!\w)")
# Words that show a sentence talks *about* an attack, or about a chat format, rather than making one.
META = re.compile(r"\b(?:mean|means|meaning|definition|define|example|examples|prompt injections?|injections?|"
                  r"jailbreak(?:ing|s)?|attacks?|attackers?|detect\w*|prevent\w*|defend\w*|protect\w*|mitigat\w*|"
                  r"classif\w*|filter\w*|phrase|security|red.?team\w*|what happens|exploit\w*|techniques?|tricks?|"
                  r"vulnerab\w*|research\w*|papers?|stud(?:y|ies)|e\.g\.|such as|tokens?|tags?|templates?|"
                  r"format(?:s|ting)?|syntax|llama|mistral|chatml)\b")
SENTENCE_END = re.compile(r"[.!?\n]")
SENTENCE_REACH = 300
_NOT_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_")})


def _discount(text: str, start: int, end: int, quotes: list[tuple[int, int]]) -> float:
    """How much of a hit's weight to keep: quoted and asked about, it is a question, not an attack."""
    quote = next(((qs, qe) for qs, qe in quotes if qs <= start and end <= qe), None)
    left, right = quote or (start, end)
    # A sentence is read at most SENTENCE_REACH characters either side: a text with no full stops
    # would otherwise be read whole once per hit.
    sentence_start = max(max(text.rfind(mark, 0, left) for mark in ".!?\n") + 1, left - SENTENCE_REACH)
    after = SENTENCE_END.search(text, right, right + SENTENCE_REACH)
    stop = after.end() if after else min(len(text), right + SENTENCE_REACH)
    outside = text[sentence_start:left] + " " + text[right:stop]
    asked = bool(META.search(outside)) and (quote is not None or text[sentence_start:stop].rstrip().endswith("?"))
    # Quoted but not discussed is how injections ride inside data ("translate: '...'"): no discount.
    return (0.15 if quote else 0.4) if asked else 1.0


def _present(text: str, *rulesets: RuleSet) -> set[str]:
    """The words of `text` and the substring needles of `rulesets` it holds: what gates are tested on."""
    is_ascii = text.isascii()
    present: set[str] = set()
    if any(rules.words for rules in rulesets):
        # Non-ASCII characters become spaces: the ASCII words stay whole, and needles that are not
        # ASCII are substring needles.
        words = text if is_ascii else text.encode("ascii", "replace").decode("ascii")
        present.update(words.translate(_NOT_WORD).split())
    present.update(n for rules in rulesets for n in rules.substrings if (n.isascii() or not is_ascii) and n in text)
    return present


def _gated(rules: RuleSet, present: set[str]) -> list[Rule]:
    """The rules whose every gate `present` opens, in table order."""
    opened = []
    for i in sorted({i for needle in present & rules.first for i in rules.openers[needle]}):
        rule = rules.rules[i]
        for gate in rule.gates[1:]:
            if present.isdisjoint(gate):
                break
        else:
            opened.append(rule)
    return opened


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i = text.find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def _word_starts(text: str, words: Iterable[str]) -> list[int]:
    """Where the given words begin a word of `text`, in order."""
    found = []
    for word in words:
        i = text.find(word)
        while i >= 0:
            if not i or not (text[i - 1].isalnum() or text[i - 1] == "_"):
                found.append(i)
            i = text.find(word, i + len(word))
    return sorted(found)


def _matches(rule: Rule, text: str, present: set[str], known: dict[frozenset[str], list[int]]
             ) -> Iterator[re.Match[str]]:
    """The rule's matches, tried only where one of its first words is (a whole-text search costs
    a pass of the regex engine over every character; most rules open with a dozen alternatives).
    `known` keeps the places found for a set of first words, which several rules share."""
    if not rule.starts:
        return rule.pattern.finditer(text)
    words = rule.starts if LINE_START in rule.starts else rule.starts & present
    starts = known.get(words)
    if starts is None:
        starts = known[words] = _line_starts(text) if LINE_START in words else _word_starts(text, words)
    return filter(None, map(functools.partial(rule.pattern.match, text), starts))


@dataclass
class _Seen:
    """What one reading of one text has matched: the rules that fired, and where, per family."""

    rules: set[str] = field(default_factory=set)
    spans: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)


def _scan(text: str, rules: RuleSet | list[Rule], *, discount: bool = True, seen: _Seen | None = None,
          present: set[str] | None = None) -> list[Hit]:
    """Hits in `text` of the rules its words open, leaving out rules that already fired in `seen`.
    A match that overlaps an earlier one of its family is the same words read twice: it takes
    that one's source, so the two do not reinforce each other."""
    if isinstance(rules, RuleSet):
        present = _present(text, rules) if present is None else present
        rules = _gated(rules, present)
    present = present or set()
    seen = seen if seen is not None else _Seen()
    quotes: list[tuple[int, int]] | None = None
    known: dict[frozenset[str], list[int]] = {}
    hits = []
    for rule in rules:
        if rule.pattern.pattern in seen.rules:
            continue
        for match in itertools.islice(_matches(rule, text, present, known), MAX_HITS_PER_RULE):
            seen.rules.add(rule.pattern.pattern)
            start, end = match.span()
            taken = seen.spans.setdefault(rule.family, [])
            source = next((s for a, b, s in taken if a < end and start < b), rule.pattern.pattern)
            taken.append((start, end, source))
            factor = 1.0
            if discount:
                if quotes is None:
                    quotes = [m.span() for m in QUOTED.finditer(text)]
                factor = _discount(text, start, end, quotes)
            hits.append(Hit(rule.family, rule.weight * factor, source, rule.support))
    return hits


def _squashed(text: str, found: set[str]) -> list[Hit]:
    squashed = re.sub(r"[^a-z]", "", text)
    return [Hit(rule.family, rule.weight, rule.pattern.pattern) for rule in SQUASHED.rules
            if rule.family not in found and rule.pattern.search(squashed)]


def injection_score(text: str, *, max_chars: int = MAX_CHARS) -> tuple[float, list[str]]:
    """Score in [0, 1] and the families that contributed, strongest first."""
    raw = _bounded(text if isinstance(text, str) else "", max_chars)
    cased, hidden_characters = raw, False
    if not raw.isascii():  # NFKC may lengthen text (one ligature can become 18 characters): bound it again
        composed = unicodedata.normalize("NFKC", raw)
        cased = INVISIBLE.sub("", composed)
        hidden_characters = len(cased) != len(composed)
        cased = _bounded(cased, max_chars * 2)
    plain = _collapsed(cased)
    present = _present(plain, RULES, SUPPORT, ROT13)
    seen = _Seen()
    hits = _scan(plain, RULES, seen=seen, present=present)
    hits += _scan(cased, CASED)
    cleaned = deobfuscate(plain)
    if cleaned != plain:  # only the lines it changed are read again
        changed = "\n".join(new for new, old in zip(cleaned.split("\n"), plain.split("\n"), strict=True) if new != old)
        extra = _scan(changed, RULES, seen=_Seen(set(seen.rules)))
        hits += extra + ([OBFUSCATED] if extra else [])
    invisible = _invisible(raw) if hidden_characters else NOTHING_INVISIBLE
    hits += invisible.hits
    if invisible.inside_words:
        # An invisible character between letters may split a word ("ig\u200bnore") or stand in
        # for a space ("ignore\u200ball"): `plain` is the first reading, this is the second.
        hits += _scan(normalise(ZERO_WIDTH.sub(" ", raw)), RULES, seen=_Seen(set(seen.rules)))
    if invisible.hiding:
        hits += _scan(plain, HIDDEN_ORDERS)
    if invisible.inside_words or (len(present & SINGLES) >= 6 or UNDERSCORED.search(plain)) and SPACED.search(cleaned):
        extra = _squashed(cleaned, {hit.family for hit in hits if not hit.support})
        hits += extra + ([OBFUSCATED] if extra and not invisible.inside_words else [])
    hidden = [" ".join(invisible.hidden)] if invisible.hidden else []  # one reading, however many runs
    for payload in map(normalise, hidden + _decoded_blobs(raw)):
        inner = _scan(deobfuscate(payload), RULES, discount=False)
        hits += inner + ([DECODED] if inner else [])
    rot13 = _gated(ROT13, present)
    if rot13:
        inner = _scan(codecs.encode(plain, "rot_13"), rot13, discount=False)
        hits += inner + ([DECODED] if inner else [])
    confirmed = {hit.family for hit in hits}
    hits += _scan(plain, [rule for rule in _gated(SUPPORT, present) if rule.family in confirmed], seen=seen)
    return _combine(hits)


def _combine(hits: list[Hit]) -> tuple[float, list[str]]:
    """Noisy-OR over distinct signals: they reinforce each other and the score never exceeds 1.
    A family is capped so that one family alone, however often it fires, stays below certainty."""
    confirmed = {hit.family for hit in hits if not hit.support}
    strongest: dict[tuple[str, str], float] = {}
    for hit in hits:
        if hit.family in confirmed:
            strongest[hit.family, hit.source] = max(strongest.get((hit.family, hit.source), 0.0), hit.weight)
    by_family: dict[str, float] = {}
    for (family, _), weight in strongest.items():
        by_family[family] = 1.0 - (1.0 - by_family.get(family, 0.0)) * (1.0 - weight)
    miss = 1.0
    for family, weight in by_family.items():
        by_family[family] = min(weight, FAMILY_CAP)
        miss *= 1.0 - by_family[family]
    families = sorted((f for f, w in by_family.items() if w > 0), key=lambda f: -by_family[f])
    return round(1.0 - miss, 4), families
