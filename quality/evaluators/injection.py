"""Prompt injection and jailbreak heuristics on a call's input: named pattern families over normalised
text, decoded payloads and invisible characters, combined into one score in [0, 1].

Hand-written: the offline options on PyPI are either classifiers that download model weights
(llm-guard, pytector), need a hosted service or vector store (rebuff), or are small, unmaintained
rule sets; a few dozen documented regexes are easier to test, tune and keep offline."""
from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult


@dataclass(frozen=True)
class Hit:
    family: str
    weight: float
    source: str  # the signal it came from: distinct signals of one family reinforce each other


_DISCLOSE = (r"\b(?:reveal|print|show|display|repeat|output|recite|dump|leak|disclose|expose|share|give|tell|"
             r"write out|spell out|provide|list)(?:\s+me|\s+us)?")
# (family, weight, pattern), matched on casefolded, normalised text. A weight is the probability
# that one hit alone is an attack; 0.5 and over flags on its own with the default threshold.
_RULES: list[tuple[str, float, str]] = [
    # "my"/"our" previous prompt is a user correcting themselves, not an override.
    ("instruction_override", 0.6, (r"\b(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon)"
      r"(?:\s+(?!my\b|our\b)\w+){0,3}?\s+(?:previous|prior|above|earlier|preceding|foregoing|former|original|"
      r"initial|old|all)\s+"
      r"(?:\w+\s+)?(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|restrictions|"
      r"programming|commands|policies)\b")),
    ("instruction_override", 0.6, (r"\b(?:ignore|disregard|forget|bypass|override)\s+(?:all\s+(?:of\s+)?)?your\s+"
      r"(?:\w+\s+)?(?:instructions|rules|guidelines|programming|training|restrictions|guardrails|filters|"
      r"system prompt|content polic(?:y|ies))\b")),
    ("instruction_override", 0.55, (r"\b(?:disable|turn off|bypass|deactivate|remove)\s+(?:your|the|all|any)\s+"
      r"(?:\w+\s+)?(?:safety|content|ethical|moral)\s+(?:filters?|guidelines|polic(?:y|ies)|restrictions|"
      r"guardrails)\b")),
    ("instruction_override", 0.4, (r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+|anything\s+|what\s+)"
      r"(?:(?:you\s+were|was)\s+)?(?:told\s+|written\s+)?(?:above|before|previously|earlier|so far)\b")),
    ("instruction_override", 0.5, (r"\b(?:do not|don't|never|stop)\s+(?:follow|obey)(?:ing)?\s+(?:your|the|any)\s+"
      r"(?:previous\s+|prior\s+|original\s+|system\s+)?(?:instructions|rules|guidelines|programming)\b")),
    ("instruction_override", 0.45, (r"\b(?:new|updated|revised|real|actual|true)\s+(?:instructions|directives|"
      r"system prompt|task)\s*:")),
    ("instruction_override", 0.6, (r"\byou\s+(?:are|'re)\s+(?:now\s+)?(?:no\s+longer\s+(?:bound|restricted|limited|"
      r"constrained)\s+by|(?:free|freed|released|liberated|unbound)\s+(?:from|of))\b[^.!?\n]{0,40}?\b(?:rules|"
      r"guidelines|polic(?:y|ies)|restrictions|limitations|programming|training|filters|censorship|ethics|morals|"
      r"instructions|openai|anthropic|guardrails)\b")),
    ("instruction_override", 0.6, (r"\byou\s+(?:are|'re)\s+no\s+longer\s+(?:an?\s+(?:ai|assistant|language model|"
      r"chatbot)|chatgpt|claude)\b")),
    ("system_prompt_extraction", 0.6, (rf"{_DISCLOSE}\s+(?:\w+\s+){{0,2}}?your\s+(?:\w+\s+){{0,2}}?(?:system|initial|"
      r"original|hidden|secret|internal|developer|pre)[\s-]*(?:prompt|instructions?|message|rules|directives|"
      r"configuration)\b")),
    ("system_prompt_extraction", 0.6, (rf"{_DISCLOSE}\s+(?:\w+\s+){{0,2}}?(?:the|its)\s+(?:\w+\s+){{0,2}}?(?:(?:system|"
      r"pre)[\s-]*(?:prompt|instructions)|(?:hidden|secret)\s+(?:prompt|instructions|rules))\b")),
    ("system_prompt_extraction", 0.55, (r"\bwhat\s+(?:is|are|was|were|'s)\s+your\s+(?:\w+\s+){0,2}?(?:system\s+"
      r"(?:prompt|message)|(?:initial|original|hidden|secret|internal)\s+(?:instructions|rules|prompt)|"
      r"instructions\b(?!\s+(?:for|on|to|about)\b))")),
    ("system_prompt_extraction", 0.6, (r"\bwhat\s+(?:were|was|have)\s+you\s+(?:been\s+)?(?:told|instructed|given|"
      r"programmed)\b[^.?!\n]{0,40}\b(?:before|prior to|at the start|beginning)\b")),
    ("system_prompt_extraction", 0.35, (r"\b(?:repeat|print|output|echo|recite)\s+(?:all\s+|everything\s+|the\s+)?"
      r"(?:\w+\s+){0,2}?(?:above|before this|preceding)\b")),
    ("system_prompt_extraction", 0.45, r"\bstarting\s+with\s+[\"'“‘]?you\s+are\b"),
    ("roleplay_jailbreak", 0.65, r"\bdo\s+anything\s+now\b"),
    ("roleplay_jailbreak", 0.6, r"\bdan\s+(?:mode|prompt|jailbreak)\b|\[(?:🔓\s*)?jailbreak\]"),
    ("roleplay_jailbreak", 0.5, (r"\bjailbroken\b|\bjailbreak\s+mode\b|\b(?:evil\s+confidant|anti-?dan|betterdan|"
      r"opposite\s+mode)\b")),
    ("roleplay_jailbreak", 0.55, (r"\bdeveloper\s+mode\s+(?:output|response)\b|\b(?:act|respond|answer|reply|"
      r"simulate|pretend|behave)\b[^.!?\n]{0,30}\b(?:in|with|as)\s+developer\s+mode\b|"
      r"\b(?:chatgpt|gpt|ai|assistant|model|llm|claude|gemini)\s+with\s+developer\s+mode\b")),
    ("roleplay_jailbreak", 0.55, (r"\b(?:pretend|imagine|act|behave|roleplay|role-play|you\s+are|you're|become|"
      r"simulate)\b[^.!?\n]{0,60}\b(?:ai|assistant|model|chatbot|bot|llm|entity|persona|character)\b[^.!?\n]{0,30}?"
      r"\b(?:without|with\s+no|free\s+(?:of|from)|lacking|that\s+has\s+no|that\s+ignores)\s+(?:any\s+)?(?:\w+\s+)?"
      r"(?:restrictions|filters|limitations|limits|rules|guidelines|censorship|ethics|morals|boundaries|"
      r"policies|safeguards|guardrails)\b")),
    ("roleplay_jailbreak", 0.4, (r"\b(?:unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|evil)\s+"
      r"(?:ai|assistant|model|chatbot|llm|mode|version\s+of\s+(?:yourself|you))\b")),
    ("roleplay_jailbreak", 0.25, r"\b(?:stay|remain|keep)\s+in\s+character\b|\bnever\s+break\s+character\b"),
    ("delimiter_injection", 0.55, r"<\|im_start\|>\s*system|<\|start_header_id\|>\s*system|<\|system\|>|<<sys>>"),
    ("delimiter_injection", 0.45, (r"<\|(?:im_start|im_end|user|assistant|endoftext|start_header_id|"
      r"end_header_id|eot_id|begin_of_text)\|>|\[/?inst\]|<</sys>>|<(?:start|end)_of_turn>")),
    ("delimiter_injection", 0.35, r"(?m)^\s*(?:system|assistant|developer|admin)\s*:\s*\S"),
    ("delimiter_injection", 0.3, r"(?m)^\s*#{1,6}\s*(?:new\s+)?(?:system|instructions?|system prompt|response)\b"),
    ("delimiter_injection", 0.4, (r"\[(?:system|admin|developer)"
                                  r"(?:\s+(?:message|note|override|prompt|instructions?))?\]")),
    ("delimiter_injection", 0.3, r"\"role\"\s*:\s*\"system\""),
    ("encoded_payload", 0.45, (r"\b(?:decode|decrypt|decipher|unscramble|rot-?13|base64|hex)\b[^.!?\n]{0,60}"
      r"\b(?:and|then)\s+(?:\w+\s+){0,2}?(?:follow|execute|obey|comply|act on|carry out)\b")),
    ("encoded_payload", 0.5, (r"\b(?:follow|execute|obey|carry out)\s+(?:the\s+)?(?:decoded|hidden|encoded|embedded|"
      r"secret)\s+(?:instructions?|message|commands?|text)\b")),
]
RULES = [(family, weight, re.compile(pattern)) for family, weight, pattern in _RULES]
# Matched before casefolding: the DAN persona is written in capitals, Dan the person is not.
CASED = [("roleplay_jailbreak", 0.6, re.compile(r"(?i:\bas|\bbe|\bare|you're|called|named|of)\s+DAN\b|"
                                               r"\bDAN\s+(?i:mode|prompt)\b"))]
# Letters spaced out or dotted ("i.g.n.o.r.e") defeat word patterns: these run on letters alone.
SQUASHED = [
    ("instruction_override", 0.6, re.compile(r"(?:ignore|disregard|forget)(?:all|any|the|your)?(?:previous|prior|"
                                             r"above|earlier)(?:instructions|prompts|rules|directives)")),
    ("system_prompt_extraction", 0.6, re.compile(r"(?:reveal|print|show|repeat)(?:me)?(?:your|the)(?:system|initial|"
                                                 r"hidden|secret)(?:prompt|instructions|rules)")),
    ("roleplay_jailbreak", 0.6, re.compile(r"doanythingnow|developermodeoutput")),
]
SPACED = re.compile(r"(?:\b[a-z][\s.\-_*|/\\]+){4,}[a-z]\b")
HIGH_SIGNAL = {"instruction_override", "system_prompt_extraction", "roleplay_jailbreak"}
FAMILY_CAP = 0.9
# A payload that had to be decoded to read as an attack is deliberate; so is spelling one oddly.
DECODED = Hit("encoded_payload", 0.65, "decoded")
OBFUSCATED = Hit("obfuscation", 0.25, "obfuscated")

INVISIBLE = re.compile("[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff"
                       "\U000e0000-\U000e007f]")
ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060\ufeff]+")
TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
BIDI_OVERRIDE = re.compile("[\u202d\u202e]")
BIDI_ANY = re.compile("[\u202a-\u202e\u2066-\u2069]")
BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{24,}={0,2}")
HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){8,}")
MAX_BLOBS, MAX_BLOB_CHARS = 20, 4096
MAX_HITS_PER_RULE = 20  # repeats add nothing to a family's weight but would cost time
LEET_TOKEN = re.compile(r"[a-z0-9@$]*[a-z][a-z0-9@$]*")
LEET = str.maketrans("013457@$", "oieastas")
HOMOGLYPHS = str.maketrans("аеёіїјкорсѕухһԁԛԝɡαοεινκρτυχϲı", "aeeiijkopcsyxhdqwgaoeivkptuxci")
# Accented Latin letters and combining marks (zalgo); other scripts are left alone, and fast.
ACCENTED = re.compile("[\u00c0-\u024f\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u1e00-\u1eff\u20d0-\u20ff\ufe20-\ufe2f]")

QUOTED = re.compile(r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|‘[^’\n]{1,400}’|«[^»\n]{1,400}»|`[^`\n]{1,400}`|"
                    r"(?<!\w)'[^'\n]{1,400}'(?!\w)")
# Words that show a sentence talks *about* an attack rather than making one.
META = re.compile(r"\b(?:mean|means|meaning|definition|define|example|examples|prompt injections?|injections?|"
                  r"jailbreak(?:ing|s)?|attacks?|attackers?|detect\w*|prevent\w*|defend\w*|protect\w*|mitigat\w*|"
                  r"classif\w*|filter\w*|phrase|security|red.?team\w*|what happens)\b")
SENTENCE_END = re.compile(r"[.!?\n]")


def normalise(text: str) -> str:
    """NFKC, invisible and format characters dropped, casefolded, whitespace collapsed (lines kept)."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()  # idempotent: safe twice
    return re.sub(r"[^\S\n]*\n\s*", "\n", re.sub(r"[^\S\n]+", " ", text)).strip()


def _fold(match: re.Match[str]) -> str:
    """A non-ASCII character as its plain letter: accents and zalgo marks dropped."""
    return "".join(c for c in unicodedata.normalize("NFD", match.group()) if not unicodedata.combining(c))


def deobfuscate(text: str) -> str:
    """Homoglyphs, accents and leetspeak ("1gn0r3") undone; digits alone ("3 errors") stay digits."""
    text = ACCENTED.sub(_fold, text.translate(HOMOGLYPHS))
    return LEET_TOKEN.sub(lambda m: m.group().translate(LEET) if re.search(r"[0-9@$]", m.group()) else m.group(), text)


def _discount(text: str, start: int, end: int, quotes: list[tuple[int, int]]) -> float:
    """How much of a hit's weight to keep: quoted and asked about, it is a question, not an attack."""
    quote = next(((qs, qe) for qs, qe in quotes if qs <= start and end <= qe), None)
    left, right = quote or (start, end)
    sentence_start = max(text.rfind(mark, 0, left) for mark in ".!?\n") + 1
    after = SENTENCE_END.search(text, right)
    stop = after.end() if after else len(text)
    outside = text[sentence_start:left] + " " + text[right:stop]
    asked = bool(META.search(outside)) and (quote is not None or text[sentence_start:stop].rstrip().endswith("?"))
    # Quoted but not discussed is how injections ride inside data ("translate: '...'"): no discount.
    return (0.15 if quote else 0.4) if asked else 1.0


def _scan(text: str, *, discount: bool = True, families: set[str] | None = None,
          rules: list[tuple[str, float, re.Pattern[str]]] = RULES) -> list[Hit]:
    """Pattern hits in one normalised text."""
    quotes = [m.span() for m in QUOTED.finditer(text)] if discount else []
    hits = []
    for family, weight, pattern in rules:
        if families is not None and family not in families:
            continue
        for match in itertools.islice(pattern.finditer(text), MAX_HITS_PER_RULE):
            factor = _discount(text, *match.span(), quotes) if discount else 1.0
            hits.append(Hit(family, weight * factor, pattern.pattern))
    return hits


def _decoded_blobs(raw: str) -> list[str]:
    """Base64 and hex runs that decode to readable text (images and hashes do not)."""
    texts = []
    for match in list(BASE64.finditer(raw))[:MAX_BLOBS] + list(HEX.finditer(raw))[:MAX_BLOBS]:
        blob = match.group()[:MAX_BLOB_CHARS]
        try:
            if blob.startswith("\\x") or re.fullmatch(r"[0-9A-Fa-f]+", blob):
                data = binascii.unhexlify(blob.replace("\\x", ""))
            else:
                blob = blob[: len(blob) - len(blob) % 4]
                data = base64.b64decode(blob.replace("-", "+").replace("_", "/"), validate=True)
            decoded = data.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        printable = sum(c.isprintable() or c.isspace() for c in decoded)
        if decoded and printable / len(decoded) > 0.9 and re.search(r"[A-Za-z]{3}", decoded):
            texts.append(decoded)
    return texts


def _invisible_hits(raw: str) -> tuple[list[Hit], str]:
    """Hits for hidden characters, and the ASCII that Unicode tag characters smuggle in."""
    hits: list[Hit] = []
    hidden = []
    for match in TAG_RUN.finditer(raw):
        run = match.group()
        # Subdivision flags (England, Scotland, Wales) are 🏴 followed by a short tag run.
        if raw[max(match.start() - 1, 0)] == "\U0001f3f4" and run.endswith("\U000e007f") and len(run) <= 8:
            continue
        hidden.append("".join(chr(ord(c) - 0xE0000) for c in run if 0xE0020 <= ord(c) <= 0xE007E))
    if sum(map(len, hidden)) >= 3:
        hits.append(Hit("invisible_characters", 0.55, "tags"))
    suspicious = 0
    for match in ZERO_WIDTH.finditer(raw):
        before, after = raw[match.start() - 1: match.start()], raw[match.end(): match.end() + 1]
        # ZWJ in emoji sequences and ZWNJ/marks in Arabic, Persian or Indic text sit between non-ASCII
        # characters; inside an ASCII word, or in a run, they hide or split text.
        inside_word = before.isascii() and after.isascii() and before.isalnum() and after.isalnum()
        if inside_word or len(match.group()) >= 3:
            suspicious += len(match.group())
    if suspicious:
        hits.append(Hit("invisible_characters", 0.35 if suspicious >= 4 else 0.2, "zero_width"))
    if BIDI_OVERRIDE.search(raw):
        hits.append(Hit("invisible_characters", 0.35, "bidi"))
    elif len(BIDI_ANY.findall(raw)) >= 6:
        hits.append(Hit("invisible_characters", 0.2, "bidi"))
    return hits, " ".join(hidden)


def injection_score(text: str, *, max_chars: int = 20_000) -> tuple[float, list[str]]:
    """Score in [0, 1] and the families that contributed, strongest first."""
    raw = text if isinstance(text, str) else ""
    if len(raw) > max_chars:  # injected text tends to sit at the very start or the very end
        head = max_chars * 4 // 5
        raw = raw[:head] + "\n" + raw[-(max_chars - head):]
    cased = INVISIBLE.sub("", unicodedata.normalize("NFKC", raw))
    plain = normalise(cased)
    hits = _scan(plain) + _scan(cased, rules=CASED)
    cleaned = deobfuscate(plain)
    if cleaned != plain:
        seen = {hit.source for hit in hits}
        extra = [hit for hit in _scan(cleaned) if hit.source not in seen]
        hits += extra + ([OBFUSCATED] if extra else [])
    if SPACED.search(cleaned):
        squashed = re.sub(r"[^a-z]", "", cleaned)
        found = {hit.family for hit in hits}
        extra = [Hit(family, weight, pattern.pattern) for family, weight, pattern in SQUASHED
                 if family not in found and pattern.search(squashed)]
        hits += extra + ([OBFUSCATED] if extra else [])
    invisible, hidden = _invisible_hits(raw)
    hits += invisible
    encoded = [normalise(hidden)] if hidden else []
    encoded += [normalise(blob) for blob in _decoded_blobs(raw)]
    rot13 = codecs.encode(plain, "rot_13")
    for payload in encoded:
        inner = _scan(deobfuscate(payload), discount=False)
        hits += inner + ([DECODED] if inner else [])
    inner = _scan(rot13, discount=False, families=HIGH_SIGNAL)
    hits += inner + ([DECODED] if inner else [])
    return _combine(hits)


def _combine(hits: list[Hit]) -> tuple[float, list[str]]:
    """Noisy-OR over distinct signals: they reinforce each other and the score never exceeds 1.
    A family is capped so that one family alone, however often it fires, stays below certainty."""
    strongest: dict[tuple[str, str], float] = {}
    for hit in hits:
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


class InjectionEvaluator:
    """Scores `prompt_injection` on the input and flags `prompt_injection` (high) at the threshold."""

    name = "prompt_injection"
    defaults: dict[str, Any] = {
        "threshold": 0.5,  # score at or over which the call is flagged
        "max_chars": 20_000,  # of the input: the first 80% and last 20% of this many are read
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        config = config if isinstance(config, dict) else {}
        threshold = _number(config.get("threshold"), self.defaults["threshold"], 0.0, 1.0)
        max_chars = int(_number(config.get("max_chars"), self.defaults["max_chars"], 1, 10_000_000))
        try:
            score, families = injection_score(sample.input_text or "", max_chars=max_chars)
        except Exception:  # a heuristic must never cost the other evaluators their run
            return Result(scores=[ScoreResult(name="prompt_injection", value=None, label="unknown",
                                              reasons=("injection heuristics failed on this input",))])
        flagged = score >= threshold and score > 0
        label = "injection" if flagged else "suspicious" if score > 0 else "clean"
        result = Result(scores=[ScoreResult(name="prompt_injection", value=score, label=label,
                                            reasons=tuple(families))])
        if flagged:
            result.flags.append(FlagResult(name="prompt_injection", severity="high",
                                           detail=f"score {score:.2f}: {', '.join(families)}"))
        return result


def _number(value: Any, default: float, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default
