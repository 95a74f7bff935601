"""The compiled rule sets the scorer reads: RULES (every family), the SUPPORT rules, their rot13
twin, the case-sensitive, squashed-letter and hidden-order rules, and the hits scoring adds itself."""
from __future__ import annotations

import re

from quality.evaluators.injection.jailbreaks import _RELATIVE, _RELATIVE_WORDS, JAILBREAK_RULES
from quality.evaluators.injection.overrides import _FULLY, OVERRIDE_RULES
from quality.evaluators.injection.rules import Hit, _rot13, _rules, _ruleset

RULES = _rules(OVERRIDE_RULES + JAILBREAK_RULES)
# Only strengthen a family that something else already found: alone, each is ordinary text.
SUPPORT = _rules([
    ("system_prompt_extraction", 0.3, "verbatim|word|character|full|entirety|unedited|unabridged|code|codeblock|txt|"
     "text|mot|wort|wörtlich|wortlich|palabra|textualmente|parola|letteralmente|exactly", _FULLY),
    ("roleplay_jailbreak", 0.2, _RELATIVE_WORDS, rf"\b{_RELATIVE}\b"),
    ("roleplay_jailbreak", 0.2, "napalm|methamphetamine|explosives|bomb|nerve|sarin|thermite",
     r"\b(?:napalm|methamphetamine|explosives|bomb-making|nerve\s+agents?|sarin|thermite)\b"),
], support=True)
HIGH_SIGNAL = frozenset({"instruction_override", "system_prompt_extraction", "roleplay_jailbreak"})
# rot13 only turns ASCII letters: the rules for other languages' accented words are left out.
ROT13 = _rot13(_ruleset(tuple(r for r in RULES.rules if r.family in HIGH_SIGNAL
                              and all(n.isascii() for gate in r.gates for n in gate)),
                        frozenset(n for n in RULES.substrings if n.isascii())))
# Matched before casefolding: the DAN persona is written in capitals, Dan the person is not, and a
# shouted "MY SON IS NAMED DAN" is not either. "\n\nHuman:" is the exact turn separator of a
# transcript-style prompt; normalising would merge its blank line.
CASED = _rules([
    # Written to start with its "D" (the word before DAN is checked looking back), so that the
    # engine skips to each capital D instead of trying every position.
    ("roleplay_jailbreak", 0.6, "DAN*|D.A.N",
     r"D(?<![\w.]D)(?:AN(?:" + "|".join(f"(?<={before} DAN)" for before in (
         r"\b[Aa]s", r"\b[Bb]e", r"\b[Aa]re", r"\b[Ii]s", r"[Yy]ou're", r"[Cc]alled", r"[Nn]amed", r"\b[Oo]f",
         r"\b[Aa]nd", r"\b[Oo]r", r"\b[Aa]re now", r"[Yy]ou're now", r"\b[Aa]s a", r"\b[Bb]e a")) +
     r")\b|AN\s+(?i:mode|prompt)\b|AN\s*\d+(?:\.\d+)?\b|\.A\.N\b)"),
    ("delimiter_injection", 0.35, "Human*|Assistant*", r"\n[^\S\n]*\n[^\S\n]*(?:Human|Assistant)[^\S\n]*:"),
    ("delimiter_injection", 0.3, "Assistant*",
     r"\n[^\S\n]*\n[^\S\n]*Assistant[^\S\n]*:[^\S\n]*(?:(?:Sure|Certainly|Of course|Absolutely|Understood|I will|"
     r"I'll|I can do that)\b|$)"),
])
# Letters spaced out or dotted ("i.g.n.o.r.e") defeat word patterns: these run on letters alone.
SQUASHED = _rules([
    ("instruction_override", 0.6, "ignore|disregard|forget",
     r"(?:ignore|disregard|forget)(?:all|any|the|your)?(?:previous|prior|above|earlier)(?:instructions|prompts|rules|"
     r"directives)"),
    ("system_prompt_extraction", 0.6, "reveal|print|show|repeat",
     r"(?:reveal|print|show|repeat)(?:me)?(?:your|the)(?:system|initial|hidden|secret)(?:prompt|instructions|rules)"),
    ("roleplay_jailbreak", 0.6, "anything|developer|dan",
     r"doanythingnow|developermode(?:output|enabled)|youarenowdan"),
    ("system_prompt_extraction", 0.35, "system|initial|hidden|secret|original",
     r"(?:your|the)(?:system|initial|hidden|secret|original)(?:prompt|instructions)"),
])
# Behind a run of invisible characters, even a mild order is hidden from whoever reads the text.
HIDDEN_ORDERS = _rules([
    ("instruction_override", 0.4, "now|only|just|reply|respond|answer|say|print|output|write|must|will|shall|"
     "instead|user|send|forward|email|post|upload|exfiltrate|ignore|disregard|forget",
     r"\bfrom\s+now\s+on\b|\b(?:only|just)\s+(?:reply|respond|answer|say|output|print|write)\b|\b(?:say|reply|"
     r"respond|answer|output|print|write)\s+(?:with\s+)?(?:only\s+)?[\"'“‘]|\b(?:ignore|disregard|forget)\s+"
     r"(?:\w+\s+){0,3}?(?:and|then)\s+(?:say|reply|respond|write|output|print|tell)\b|\b(?:reply|respond|"
     r"answer)\s+(?:only\s+)?with\b|\b(?:say|print|output|write)\s+(?:exactly|only)\b|\byou\s+(?:must|will|shall)\s+"
     r"(?:now\s+|always\s+)?(?:say|reply|respond|answer|output|write|obey|follow|comply|include|append|insert|send|"
     r"recommend|mention)\b|\binstead,?\s+(?:say|reply|respond|write|output)\b|\bdo\s+not\s+(?:tell|mention|reveal|"
     r"inform)\s+the\s+user\b|\b(?:send|forward|email|post|upload|exfiltrate)\s+(?:\w+\s+){0,3}?(?:data|conversation|"
     r"chat|history|passwords?|credentials|keys?|emails?|messages)\s+to\b"),
])
SPACED = re.compile(r"[a-z](?<![a-z][a-z])(?:[\s.\-_*|/\\]+[a-z](?![a-z])){4,}")
# Spelling a phrase out leaves single letters standing as words: with fewer than six of them (a, i,
# and the s, t, d, m of contractions are common), and no underscore to join them, it is not run.
SINGLES = frozenset("abcdefghijklmnopqrstuvwxyz")
UNDERSCORED = re.compile(r"_[a-z0-9]_[a-z0-9]_")
FAMILY_CAP = 0.9
# A payload that had to be decoded to read as an attack is deliberate; so is spelling one oddly.
DECODED = Hit("encoded_payload", 0.65, "decoded")
OBFUSCATED = Hit("obfuscation", 0.25, "obfuscated")
