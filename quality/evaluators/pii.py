"""Finds and redacts personal data and secrets in text and in JSON payloads, and scores calls for
them (`PiiEvaluator`). Pure Python, cheap enough for ingest; the detectors are in pii_patterns and
pii_secrets."""
from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from quality.evaluators import pii_patterns, pii_secrets
from quality.evaluators.base import SEVERITIES, FlagResult, Result, Sample, ScoreResult, bounded


@dataclass(frozen=True)
class Match:
    """One detected value: its type (one of PII_TYPES) and where it is, as text[start:end]."""

    type: str
    start: int
    end: int


Span = tuple[int, int]
# (type, detector, whether it takes the windows where pii_patterns.numeric_windows found digits).
# In order of precedence: when two matches overlap the earlier type wins, because it is the more
# specific reading (a key containing digits is not a phone; a card number is not a phone).
_DETECTORS: tuple[tuple[str, Callable[..., Iterator[Span]], bool], ...] = (
    ("private_key", pii_secrets.find_private_keys, False),
    ("secret", pii_secrets.find_secrets, False),  # API keys, tokens, JWTs, passwords in URLs
    ("card", pii_patterns.find_cards, True),
    ("iban", pii_patterns.find_ibans, True),
    ("ssn", pii_patterns.find_ssns, True),  # US
    ("nino", pii_patterns.find_ninos, True),  # UK
    ("dni", pii_patterns.find_dnis, True),  # Spain: DNI and NIE
    ("bsn", pii_patterns.find_bsns, True),  # Netherlands
    ("email", pii_patterns.find_emails, False),
    ("ip", pii_patterns.find_ips, False),
    ("phone", pii_patterns.find_phones, True),
)
PII_TYPES: tuple[str, ...] = tuple(name for name, _, _ in _DETECTORS)
SECRET_TYPES: tuple[str, ...] = ("private_key", "secret")
PLACEHOLDERS: dict[str, str] = {name: f"[{name.upper()}]" for name in PII_TYPES}
DEFAULT_SEVERITY: dict[str, str] = {
    "private_key": "high",
    "secret": "high",
    "card": "high",
    "iban": "medium",
    "ssn": "high",
    "nino": "high",
    "dni": "high",
    "bsn": "high",
    "email": "medium",
    "ip": "low",
    "phone": "medium",
}
_RANK = {name: rank for rank, name in enumerate(PII_TYPES)}


def _wanted(types: Iterable[str] | None) -> frozenset[str]:
    if types is None:
        return frozenset(PII_TYPES)
    wanted = frozenset([types] if isinstance(types, str) else types)
    unknown = wanted - _RANK.keys()
    if unknown:
        raise ValueError(f"unknown PII types {sorted(unknown)}; known: {', '.join(PII_TYPES)}")
    return wanted


def find(text: str, types: Iterable[str] | None = None) -> list[Match]:
    """Every PII or secret value in `text`, sorted by position and never overlapping.

    `types` limits what is reported (None: all of PII_TYPES). Detectors that outrank a requested
    type still run, so that asking for phones alone does not report the digits of a card.
    """
    wanted = _wanted(types)
    if not text or not wanted:
        return []
    last = max(_RANK[name] for name in wanted)
    windows: list[Span] | None = None
    candidates: list[tuple[int, int, int, int, str]] = []
    for rank, (name, detect, windowed) in enumerate(_DETECTORS[: last + 1]):
        if windowed:
            if windows is None:
                windows = pii_patterns.numeric_windows(text)
            spans = detect(text, windows) if windows else ()
        else:
            spans = detect(text)
        candidates.extend((rank, start - end, start, end, name) for start, end in spans)
    # Best first (precedence, then longest, then leftmost); keep each one that overlaps nothing kept.
    candidates.sort()
    starts: list[int] = []
    kept: list[Match] = []
    for _rank, _neg_len, start, end, name in candidates:
        i = bisect_right(starts, start)
        if (i and kept[i - 1].end > start) or (i < len(kept) and kept[i].start < end):
            continue
        starts.insert(i, start)
        kept.insert(i, Match(name, start, end))
    return [m for m in kept if m.type in wanted]


def redact(text: str, types: Iterable[str] | None = None) -> tuple[str, dict[str, int]]:
    """`text` with each match replaced by its placeholder ("[EMAIL]", "[CARD]", ...), and how many
    of each type were replaced (types with none are left out)."""
    matches = find(text, types)
    if not matches:
        return text, {}
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(PLACEHOLDERS[m.type])
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts), dict(Counter(m.type for m in matches))


# Inline images and files (data: URLs, raw base64) are skipped: there is nothing readable to
# redact in them, and scanning megabytes of base64 at ingest costs time for random hits only.
_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{1024,}")


def redact_json(value: Any, types: Iterable[str] | None = None) -> tuple[Any, dict[str, int]]:
    """A redacted copy of a JSON-like value and the summed counts. Every string value is redacted,
    which covers chat messages ({"role": ..., "content": "..."}) and their content parts at any
    depth; dict keys, numbers, booleans and None are kept as they are (tuples become lists)."""
    wanted = _wanted(types)
    counts: Counter[str] = Counter()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            if node.startswith("data:") or _BLOB.fullmatch(node):
                return node
            redacted, found = redact(node, wanted)
            counts.update(found)
            return redacted
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(item) for item in node]
        return node

    return walk(value), dict(counts)


MAX_CHARS = 20_000  # per text (input, output): a 5 MB output costs what 20 KB does


class PiiEvaluator:
    """Counts PII and secrets in a call's input and output: score `pii.count`, and one flag
    `pii.<type>` per type found. Reasons and details give counts and places, never values."""

    name = "pii"
    score_directions = {"pii.": "lower"}
    flag_names = ("pii.",)
    evaluated_score = "pii.count"
    # max_chars: of the input and of the output, the first 80% and last 20% of this many are read.
    defaults: dict[str, Any] = {"types": None, "severity": dict(DEFAULT_SEVERITY), "max_chars": MAX_CHARS}

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        types = config.get("types")
        severity = {**DEFAULT_SEVERITY, **(config.get("severity") or {})}
        limit = config.get("max_chars")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else MAX_CHARS
        found = {
            "input": Counter(m.type for m in find(bounded(sample.input_text or "", limit), types)),
            "output": Counter(m.type for m in find(bounded(sample.output_text or "", limit), types)),
        }
        total = sum(sum(counts.values()) for counts in found.values())
        reasons = tuple(
            f"{where}: " + ", ".join(f"{counts[name]} {name}" for name in PII_TYPES if counts[name])
            for where, counts in found.items()
            if counts
        )
        result = Result(scores=[ScoreResult("pii.count", float(total), "pii" if total else "clean", reasons)])
        for name in PII_TYPES:
            places = [f"{counts[name]} in {where}" for where, counts in found.items() if counts[name]]
            if places:
                # A mistyped severity in a project's settings must not drop the flag.
                level = severity.get(name) if severity.get(name) in SEVERITIES else DEFAULT_SEVERITY[name]
                result.flags.append(FlagResult(f"pii.{name}", str(level), ", ".join(places)))
        return result
