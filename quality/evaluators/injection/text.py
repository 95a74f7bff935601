"""Text as the rules read it: normalised and casefolded, confusables, accents and leetspeak undone,
and what invisible characters, base64 and hex hide decoded."""
from __future__ import annotations

import base64
import binascii
import itertools
import re
import unicodedata
from typing import NamedTuple

from quality.evaluators.injection.rules import Hit

# Variation selectors 17-256 (U+E0100...) also carry bytes after an emoji; Hangul fillers, Khmer
# inherent vowels and Mongolian separators render as nothing.
INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                       "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U0001d173-\U0001d17a"
                       "\U000e0000-\U000e007f\U000e0100-\U000e01ef]")
ZERO_WIDTH = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u2060-\u2064\u3164\ufeff\uffa0]+")
TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
SELECTOR_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{4,}")
BIDI_OVERRIDE = re.compile("[\u202d\u202e]")
BIDI_ANY = re.compile("[\u202a-\u202e\u2066-\u2069]")
BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{24,}={0,2}")
HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])|(?:\\x[0-9A-Fa-f]{2}){8,}")
LONG_RUN = re.compile(r"[A-Za-z0-9+/=_\\-]{24,}")  # where base64 and hex can be: runs at least this long
MAX_BLOBS, MAX_BLOB_CHARS = 20, 4096
LEET_TOKEN = re.compile(r"(?<![a-z0-9@$])[a-z]*[0-9@$][a-z0-9@$]*")  # only tokens holding a digit, @ or $
# A digit or $ inside a word ("pr3v10us"), or opening one ("1gnore"): "2kb", "gpt4" and "h264" are
# ordinary and, since undoing leetspeak means reading the text twice, are left alone.
LEET_HINT = re.compile(r"[0-9$](?:(?<=[a-z][0-9$])[0-9$]*[a-z]|(?<![a-z0-9@$][0-9$])[a-z]{3})")
LEET = str.maketrans("013457@$", "oieastas")
HOMOGLYPHS = str.maketrans("аеёіїјкорсѕухһԁԛԝɡαοεινκρτυχϲı", "aeeiijkopcsyxhdqwgaoeivkptuxci")
# Accents and combining marks (zalgo) are dropped by decomposing, removing the marks and composing
# again: three C passes, where a table or a callback per accented letter costs several times more.
COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
ACCENT = re.compile("[\u00c0-\u024f\u1e00-\u1eff" + COMBINING.pattern[1:])
HOMOGLYPH = re.compile("[" + "".join(map(chr, HOMOGLYPHS)) + "]")  # translating is slow: only when needed


def normalise(text: str) -> str:
    """NFKC, invisible and format characters dropped, casefolded, whitespace collapsed (lines kept)."""
    if not text.isascii():  # NFKC and the invisible characters leave ASCII as it is
        text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))  # idempotent: safe twice
    return _collapsed(text)


def _collapsed(text: str) -> str:
    """Casefolded, line by line: spaces collapsed, lines stripped, blank lines dropped."""
    return "\n".join(filter(None, (" ".join(line.split()) for line in text.casefold().split("\n"))))


def _unleet(match: re.Match[str]) -> str:
    token = match.group()
    return token.translate(LEET) if any("a" <= c <= "z" for c in token) else token


def deobfuscate(text: str) -> str:
    """Homoglyphs, accents and leetspeak ("1gn0r3") undone; digits alone ("3 errors") stay digits."""
    if not text.isascii():
        text = text.translate(HOMOGLYPHS) if HOMOGLYPH.search(text) else text
        if ACCENT.search(text):
            text = unicodedata.normalize("NFC", COMBINING.sub("", unicodedata.normalize("NFD", text)))
    return LEET_TOKEN.sub(_unleet, text) if LEET_HINT.search(text) else text


def _bounded(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    head = max_chars * 4 // 5
    return text[:head] + "\n" + text[-(max_chars - head):]


def _decoded_blobs(raw: str) -> list[str]:
    """Base64 and hex runs that decode to readable text (images and hashes do not)."""
    if max(map(len, raw.split()), default=0) < 24:  # a blob has no spaces: no long word, no blob
        return []
    runs = [run.group() for run in itertools.islice(LONG_RUN.finditer(raw), MAX_BLOBS)]
    texts = []
    blobs = [m.group() for run in runs for m in itertools.chain(BASE64.finditer(run), HEX.finditer(run))]
    for blob in blobs[:MAX_BLOBS]:
        blob = blob[:MAX_BLOB_CHARS]
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


def _selector_byte(c: str) -> int:
    code = ord(c)
    return code - 0xFE00 if code <= 0xFE0F else code - 0xE0100 + 16


class Invisible(NamedTuple):
    hits: list[Hit]
    hidden: list[str]  # text smuggled in tag characters or variation selectors
    inside_words: bool  # some sit between two ASCII letters: they may split words or stand for spaces
    hiding: bool  # enough of them that a passage may be hidden from a human reader


NOTHING_INVISIBLE = Invisible([], [], False, False)


def _invisible(raw: str) -> Invisible:
    """Hits for hidden characters, and the text that tag characters and variation selectors smuggle in."""
    hits: list[Hit] = []
    hidden = []
    for match in TAG_RUN.finditer(raw):
        run = match.group()
        # Subdivision flags (England, Scotland, Wales) are 🏴 followed by a short tag run.
        if raw[max(match.start() - 1, 0)] == "\U0001f3f4" and run.endswith("\U000e007f") and len(run) <= 8:
            continue
        hidden.append("".join(chr(ord(c) - 0xE0000) for c in run if 0xE0020 <= ord(c) <= 0xE007E))
    # An emoji takes one selector; a run of them is bytes, one per selector.
    for match in SELECTOR_RUN.finditer(raw):
        decoded = bytes(_selector_byte(c) for c in match.group()).decode("utf-8", "ignore")
        if sum(c.isprintable() for c in decoded) >= 3:
            hidden.append(decoded)
    if sum(map(len, hidden)) >= 3:
        hits.append(Hit("invisible_characters", 0.55, "tags"))
    suspicious = 0
    inside_words = hiding = False
    for match in ZERO_WIDTH.finditer(raw):
        run = len(match.group())
        before, after = raw[match.start() - 1: match.start()], raw[match.end(): match.end() + 1]
        # ZWJ in emoji sequences and ZWNJ/marks in Arabic, Persian or Indic text sit between non-ASCII
        # characters; inside an ASCII word, or in a run beside ASCII text, they hide or split text.
        inside_word = before.isascii() and after.isascii() and before.isalnum() and after.isalnum()
        inside_words = inside_words or inside_word
        if inside_word or run >= 3 or run == 2 and (before + after).isascii():
            suspicious += run
        hiding = hiding or run >= 2 and (after.isascii() or before.isascii())
    if suspicious:
        hits.append(Hit("invisible_characters", 0.35 if suspicious >= 4 else 0.2, "zero_width"))
    if BIDI_OVERRIDE.search(raw):
        hits.append(Hit("invisible_characters", 0.35, "bidi"))
    elif len(BIDI_ANY.findall(raw)) >= 6:
        hits.append(Hit("invisible_characters", 0.2, "bidi"))
    return Invisible(hits, hidden, inside_words, hiding or suspicious >= 3)
