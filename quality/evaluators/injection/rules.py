"""How a rule table is compiled: a rule's family, weight, gates (the words it cannot match
without) and start words, and the hits that scanning with it yields."""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import NamedTuple

# One rule as a table writes it: (family, weight, gates, pattern); `_rules` reads the gates.
RuleEntry = tuple[str, float, str, str]


@dataclass(frozen=True)
class Hit:
    family: str
    weight: float
    source: str  # the signal it came from: distinct signals of one family reinforce each other
    support: bool = False  # counts only when another signal of the same family fired


LINE_START = "¶"  # a rule's start word that stands for "at the start of a line"


class Rule(NamedTuple):
    family: str
    weight: float  # the probability that one hit alone is an attack; 0.5 and over flags on its own
    gates: tuple[frozenset[str], ...]  # the text holds a needle of each set, or the rule is not tried
    starts: frozenset[str]  # every match starts with one of these words (empty: search everywhere)
    pattern: re.Pattern[str]
    support: bool


class RuleSet(NamedTuple):
    rules: tuple[Rule, ...]
    words: bool  # some needles are whole words: the text's words are collected
    substrings: frozenset[str]  # needles looked for anywhere in the text; the others are its words
    openers: dict[str, tuple[int, ...]]  # needle of a rule's first gate -> the rules it may open
    first: frozenset[str]  # the keys of `openers`, as a set to intersect with


_WORDLIKE = re.compile(r"\w+")


def _ruleset(rules: tuple[Rule, ...], substrings: frozenset[str]) -> RuleSet:
    openers: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        for needle in rule.gates[0]:
            openers.setdefault(needle, []).append(i)
    words = any(needle not in substrings for rule in rules for gate in rule.gates for needle in gate)
    return RuleSet(rules, words, substrings, {n: tuple(v) for n, v in openers.items()}, frozenset(openers))


def _rules(table: list[RuleEntry], *, support: bool = False) -> RuleSet:
    """Rules from (family, weight, gates, pattern). Gates read "^a|b & c|d": the text holds a or b,
    and c or d, and a group marked "^" lists the words every match starts with ("^¶": a line
    start). A needle of ASCII word characters is a whole word of the text; any other needle, or one
    ending in "*", is looked for anywhere in it. Every needle must be necessary for a match."""
    rules, substrings = [], set()
    for family, weight, gates, pattern in table:
        groups, starts = [], frozenset[str]()
        for group in gates.split("&"):
            group = group.strip()
            needles = [n.strip() for n in group.lstrip("^").split("|")]
            if group == "^" + LINE_START:
                starts = frozenset({LINE_START})
                continue
            if group.startswith("^"):
                starts = frozenset(needles)
            substrings.update(n.rstrip("*") for n in needles
                              if n.endswith("*") or not n.isascii() or not _WORDLIKE.fullmatch(n))
            groups.append(frozenset(n.rstrip("*") for n in needles))
        rules.append(Rule(family, weight, tuple(groups), starts, re.compile(pattern), support))
    return _ruleset(tuple(rules), frozenset(substrings))


def _rot13(rules: RuleSet) -> RuleSet:
    """The same rules, gated on what their needles look like in rot13: tested on the plain text,
    so that the rot13 copy is only made when one of them could match it."""
    def turn(text: str) -> str:
        return codecs.encode(text, "rot_13")
    return _ruleset(tuple(rule._replace(gates=tuple(frozenset(map(turn, group)) for group in rule.gates),
                                        starts=frozenset()) for rule in rules.rules),
                    frozenset(map(turn, rules.substrings)))
