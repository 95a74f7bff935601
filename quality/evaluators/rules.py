"""Custom rules: a project's own regexes and keyword lists, matched against a call's input and/or
output, each raising a flag `rule.<name>` with counts only (never the matched text)."""
from __future__ import annotations

import functools
import json
import re
from typing import Any

import regex

from quality.evaluators.base import SEVERITIES, FlagResult, Result, Sample, ScoreResult

# Regexes are user input, so one bad pattern must not stall a worker. The `regex` package takes a
# per-call timeout that bounds catastrophic backtracking whatever the pattern; length limits on the
# pattern and the text keep compilation and ordinary scanning cheap too.
MAX_PATTERN_CHARS = 1000
MAX_KEYWORDS = 500
MAX_KEYWORD_CHARS = 200
MAX_RULES = 100
MAX_MATCHES_PER_TEXT = 1000  # counting beyond this tells nobody anything more
# Compiling unrolls counted repeats and has no timeout: "((a{1000}){1000}){1000}" would take hours.
MAX_EXPANDED = 20_000
REPEAT_AT = re.compile(r"\{(\d*)(?:,(\d*))?\}")
KINDS = ("regex", "keyword")
TARGETS = ("input", "output", "both")
RULE_KEYS = frozenset({"name", "pattern", "kind", "target", "severity", "case_sensitive"})
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # it becomes part of a flag name


def rule_validate(rule: Any) -> list[str]:
    """Human-readable problems with one rule, empty when it is usable. For the settings UI/API."""
    if not isinstance(rule, dict):
        return ["a rule must be an object"]
    errors = [f"unknown key '{key}'" for key in sorted(set(map(str, rule)) - RULE_KEYS)]
    name = rule.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("name is required")
    elif not NAME_RE.fullmatch(name):
        errors.append("name must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit")
    kind = rule.get("kind", "regex")
    if kind not in KINDS:
        errors.append("kind must be 'regex' or 'keyword'")
    if rule.get("target", "both") not in TARGETS:
        errors.append("target must be 'input', 'output' or 'both'")
    if rule.get("severity", "medium") not in SEVERITIES:
        errors.append(f"severity must be one of {', '.join(SEVERITIES)}")
    if not isinstance(rule.get("case_sensitive", False), bool):
        errors.append("case_sensitive must be true or false")
    if kind in KINDS:
        errors.extend(_pattern_errors(kind, rule.get("pattern")))
    return errors


def rules_validate(rules: Any) -> list[str]:
    """Problems with a whole `rules` list, each prefixed with the rule it concerns."""
    if not isinstance(rules, list):
        return ["rules must be a list"]
    errors = [f"at most {MAX_RULES} rules are allowed"] if len(rules) > MAX_RULES else []
    seen: set[str] = set()
    for position, rule in enumerate(rules, start=1):
        name = rule.get("name") if isinstance(rule, dict) else None
        label = f"rule {position}" + (f" ({name})" if isinstance(name, str) and name else "")
        errors.extend(f"{label}: {error}" for error in rule_validate(rule))
        if isinstance(name, str) and name:
            if name in seen:
                errors.append(f"{label}: another rule has the same name")
            seen.add(name)
    return errors


def _invalid(rule: Any) -> bool:
    """rule_validate() for the hot path: each distinct rule is validated (and compiled) once."""
    try:
        key = json.dumps(rule, sort_keys=True)
    except (TypeError, ValueError):  # not JSON-shaped, so it cannot have come from a valid config
        return True
    return _invalid_cached(key)


@functools.lru_cache(maxsize=512)
def _invalid_cached(key: str) -> bool:
    return bool(rule_validate(json.loads(key)))


def _pattern_errors(kind: str, pattern: Any) -> list[str]:
    if kind == "regex":
        if not isinstance(pattern, str) or not pattern.strip():
            return ["pattern must not be empty"]
        if len(pattern) > MAX_PATTERN_CHARS:
            return [f"pattern is longer than {MAX_PATTERN_CHARS} characters"]
        if _expanded_size(pattern) > MAX_EXPANDED:
            return ["pattern repeats too much (e.g. nested {n} counts): it would be slow even to compile"]
        try:
            compiled = regex.compile(pattern)
        except (regex.error, ValueError, TypeError, RecursionError, OverflowError) as exc:
            return [f"invalid regular expression: {exc}"]
        # A pattern that matches the empty string would "match" every call.
        try:
            empty_match = compiled.fullmatch("", timeout=0.05) is not None
        except TimeoutError:
            empty_match = False
        return ["pattern matches empty text, so it would match everything"] if empty_match else []
    keywords = _keywords(pattern)
    if keywords is None:
        return ["pattern must be a keyword or a list of keywords"]
    if not keywords:
        return ["pattern must not be empty"]
    if len(keywords) > MAX_KEYWORDS:
        return [f"at most {MAX_KEYWORDS} keywords are allowed"]
    if any(len(keyword) > MAX_KEYWORD_CHARS for keyword in keywords):
        return [f"keywords must be at most {MAX_KEYWORD_CHARS} characters"]
    return []


def _expanded_size(pattern: str) -> int:
    """Roughly how many items the pattern has once counted repeats ({n}, {n,m}) are unrolled."""
    sizes = [0]  # one running total per open group
    last = 0  # size of the previous item: what a following {n} multiplies
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        repeat = REPEAT_AT.match(pattern, i) if char == "{" else None
        if char == "\\":
            i += 2
            if pattern[i - 1: i] in ("p", "P", "N") and pattern[i: i + 1] == "{":  # \p{L}, \N{name}
                i = pattern.find("}", i) + 1 or end
            last = 1
        elif char == "[":  # a class is one item; "]" first in it is literal
            i += 1 + (pattern[i + 1: i + 2] == "^")
            i += pattern[i: i + 1] == "]"
            while i < end and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i, last = i + 1, 1
        elif char == "(":
            sizes.append(0)
            i += 1
            continue
        elif char == ")" and len(sizes) > 1:
            last = sizes.pop()
            sizes[-1] += last
            i += 1
            continue
        elif repeat and any(repeat.groups()):
            count = max(int(n) for n in repeat.groups() if n)
            sizes[-1] += last * (count - 1)
            last *= count
            i = repeat.end()
            continue
        else:
            i, last = i + 1, 1
        sizes[-1] += last
    return sum(sizes)


def _keywords(pattern: Any) -> list[str] | None:
    """One string is one keyword (or phrase); a list gives several. None when neither."""
    if isinstance(pattern, str):
        items: list[Any] = [pattern]
    elif isinstance(pattern, (list, tuple)):
        items = list(pattern)
    else:
        return None
    if not all(isinstance(item, str) for item in items):
        return None
    return [item.strip() for item in items if item.strip()]


@functools.lru_cache(maxsize=512)
def _compile(kind: str, pattern: str | tuple[str, ...], case_sensitive: bool) -> regex.Pattern[str]:
    """Compiled once per process per rule: configs arrive as fresh dicts on every call."""
    flags = regex.V0 if case_sensitive else regex.V0 | regex.IGNORECASE
    if kind == "regex":
        assert isinstance(pattern, str)
        return regex.compile(pattern, flags)
    # Whole words: the keyword may start or end with punctuation ("c++"), so look at the neighbouring
    # characters instead of using \b. Longest first so "acme corp" wins over "acme".
    words = sorted(pattern, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(regex.escape(part) for part in word.split()) for word in words)
    return regex.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", flags)


def _bounded(text: str, limit: int) -> str:
    """The start and the end of a huge text: what a rule is most likely about, at bounded cost."""
    if len(text) <= limit:
        return text
    head = limit * 4 // 5
    return text[:head] + "\n" + text[-(limit - head):]


def _count(compiled: regex.Pattern[str], text: str, timeout: float) -> int:
    count = 0
    # The timeout covers the whole iteration, not each match.
    for _ in compiled.finditer(text, timeout=timeout):
        count += 1
        if count >= MAX_MATCHES_PER_TEXT:
            break
    return count


class RulesEvaluator:
    """Project-defined rules. Invalid rules are skipped (and named in the score's reasons)."""

    name = "rules"
    score_directions = {"rules.": "lower"}
    flag_names = ("rule.",)
    evaluated_score = "rules.matches"
    defaults: dict[str, Any] = {
        "rules": [],  # see rule_validate() for the shape of one rule
        "max_chars": 20_000,  # per text: first 80% and last 20% of this many characters
        "timeout_ms": 100,  # per rule and text; a rule that runs out is reported, not counted
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        config = config if isinstance(config, dict) else {}
        max_chars = _positive_int(config.get("max_chars"), self.defaults["max_chars"])
        timeout = _positive_int(config.get("timeout_ms"), self.defaults["timeout_ms"]) / 1000
        rules = config.get("rules")
        rules = rules[:MAX_RULES] if isinstance(rules, list) else []
        texts = {
            "input": _bounded(sample.input_text or "", max_chars),
            "output": _bounded(sample.output_text or "", max_chars),
        }
        result = Result()
        total = 0
        reasons: list[str] = []
        for rule in rules:
            if _invalid(rule):
                name = rule.get("name") if isinstance(rule, dict) else None
                reasons.append(f"skipped invalid rule '{name}'" if isinstance(name, str) else "skipped invalid rule")
                continue
            counts, problems = self._match(rule, texts, timeout)
            reasons.extend(problems)
            if not counts:
                continue
            total += sum(counts.values())
            where = ", ".join(f"{n} {'time' if n == 1 else 'times'} in {side}" for side, n in counts.items())
            reasons.append(f"{rule['name']}: {sum(counts.values())}")
            result.flags.append(FlagResult(
                name=f"rule.{rule['name']}",
                severity=rule.get("severity", "medium"),
                detail=f"matched {where}",
            ))
        label = "matched" if total else "clean"
        result.scores.append(ScoreResult(name="rules.matches", value=float(total), label=label,
                                         reasons=tuple(reasons)))
        return result

    def _match(self, rule: dict[str, Any], texts: dict[str, str], timeout: float) -> tuple[dict[str, int], list[str]]:
        kind = rule.get("kind", "regex")
        pattern = rule["pattern"] if kind == "regex" else tuple(_keywords(rule["pattern"]) or ())
        try:
            compiled = _compile(kind, pattern, bool(rule.get("case_sensitive", False)))
        except Exception:  # validated already; anything left is the library's surprise, not ours to raise
            return {}, [f"rule '{rule['name']}' could not be compiled"]
        target = rule.get("target", "both")
        sides = ("input", "output") if target == "both" else (target,)
        counts: dict[str, int] = {}
        problems: list[str] = []
        for side in sides:
            if not texts[side]:
                continue
            try:
                found = _count(compiled, texts[side], timeout)
            except TimeoutError:
                problems.append(f"rule '{rule['name']}' timed out on the {side}")
                continue
            if found:
                counts[side] = found
        return counts, problems


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
