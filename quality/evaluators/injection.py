"""Prompt injection and jailbreak heuristics on a call's input: named pattern families over normalised
text, decoded payloads and invisible characters, combined into one score in [0, 1].

Families: instruction_override; system_prompt_extraction; roleplay_jailbreak (DAN, developer mode,
the "deceased grandmother" trick, "pretend you have no content policy"); delimiter_injection (forged
chat turns: ChatML, Llama [INST] and <<SYS>>, <system> tags, "### System:", "\\n\\nHuman:", JSON
system messages); encoded_payload (base64, hex, rot13, Unicode tags, variation selectors);
invisible_characters; obfuscation (leetspeak, homoglyphs, spaced-out letters).

Cost is bounded twice: only the first and last MAX_CHARS characters are read, and every rule is
gated on words it cannot match without, then tried only where its first word occurs, so ordinary
text costs a set of its words and a few dozen set lookups rather than one regex scan per rule.
Repeats are bounded, or cannot split the same text two ways, so no pattern can backtrack badly.

Hand-written: the offline options on PyPI are either classifiers that download model weights
(llm-guard, pytector), need a hosted service or vector store (rebuff), or are small, unmaintained
rule sets; a few dozen documented regexes are easier to test, tune and keep offline."""
from __future__ import annotations

import base64
import binascii
import codecs
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from quality.evaluators.base import FlagResult, Result, Sample, ScoreResult

# Injected text tends to sit at the very start or the very end: of a longer input, the first 80%
# and the last 20% of this many characters are read, so 5 MB costs what 20 KB does.
MAX_CHARS = 20_000
MAX_CHARS_CEILING = 200_000  # the most a project's `max_chars` setting can raise it to


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


def _rules(table: list[tuple[str, float, str, str]], *, support: bool = False) -> RuleSet:
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


# Pattern fragments and their gate words, all matched on casefolded, normalised text.
_DISCLOSE = (r"\b(?:reveal|print|show|display|repeat|output|recite|dump|leak|disclose|expose|share|give|tell|"
             r"write out|spell out|provide|list)(?:\s+me|\s+us)?")
# Restating verbs: about "your" prompt they extract it; about "the" prompt a developer may mean their own.
_RESTATE = (r"\b(?:copy|paste|quote|reproduce|type out|read out|read back|echo|summari[sz]e|paraphrase|translate|"
            r"rewrite|write down|put|describe|outline|enumerate|explain|convert|encode|export)(?:\s+me|\s+us)?")
_DISCLOSE_WORDS = ("reveal|print|show|display|repeat|output|recite|dump|leak|disclose|expose|share|give|tell|write|"
                   "spell|provide|list")
_RESTATE_WORDS = ("copy|paste|quote|reproduce|type|read|echo|summarise|summarize|paraphrase|translate|rewrite|write|"
                  "put|describe|outline|enumerate|explain|convert|encode|export")
_FULLY = (r"\b(?:verbatim|word[\s-]for[\s-]word|character[\s-]for[\s-]character|in\s+full|in\s+(?:its|their)\s+"
          r"entirety|unedited|unabridged|(?:in|into|inside)\s+(?:a|one)\s+(?:code\s*block|txt|text\s+block)|"
          r"mot\s+pour\s+mot|wort\s+f(?:ü|u)r\s+wort|w(?:ö|o)rtlich|palabra\s+por\s+palabra|textualmente|"
          r"parola\s+per\s+parola|letteralmente|exactly\s+as\s+(?:they|it)\s+(?:were|was|are|is)\s+(?:given|written|"
          r"provided))\b")
_NOT_ABOUT = r"(?!\s+(?:for|on|about|regarding|of|how|from|to\s+(?!me\b|us\b))\b)"
_AI = r"(?:ai|a\.i\.|assistant|model|chatbot|bot|llm|language\s+model|chatgpt|gpt|claude|gemini)"
_AI_WORDS = "ai|i|assistant|model|chatbot|bot|llm|chatgpt|gpt|claude|gemini"
_LIMITS = (r"(?:restrictions|filters?|limitations|limits|rules|guidelines|censorship|ethics|morals|boundaries|"
           r"polic(?:y|ies)|safeguards|guardrails|programming)")
_LIMIT_WORDS = ("restrictions|filter|filters|limitations|limits|rules|guidelines|censorship|ethics|morals|boundaries|"
                "policy|policies|safeguards|guardrails|programming")
# A document, a form or a person is what "the previous instructions" belong to in ordinary text.
_ABOUT_DOCS = (r"(?!\s+(?:in|on|of|from|for)\s+(?:(?:the|this|that|my|our|his|her|their|your)\s+)?(?:\w+\s+)?"
               r"(?:sections?|chapters?|steps?|pages?|paragraphs?|parts?|appendix|manual|document|doc|e-?mail|mail|"
               r"letter|guide|readme|file|form|memo|handbook|recipe|leaflet|box|package|sheet|ticket|game|exam|"
               r"test|assignment|syllabus|contract|worksheet|slides?|notes|label|packaging|website|site|screen|card|"
               r"sign|poster|board|course|class|lecture|textbook|book|article|teacher|boss|manager|colleague|"
               r"landlord|doctor|hr|it|team|office|school|client|customer|bank|lawyer|agent|company|department|"
               r"supervisor|coach|professor|instructor|mom|dad|mother|father|wife|husband|partner|friend|nurse|"
               r"pharmacist)\b)")
_RELATIVE = (r"(?:grand(?:mother|ma|mama|mum|mom|pa|papa|father|dad|parents?)|granny|gran|nana|nanna|grandad|"
             r"granddad|abuel[ao]|oma|opa|mamie|papi|nonn[ao]|babushka|babcia)")
_RELATIVE_WORDS = ("grandmother|grandma|grandmama|grandmum|grandmom|grandpa|grandpapa|grandfather|granddad|grandad|"
                   "grandparent|grandparents|granny|gran|nana|nanna|abuela|abuelo|oma|opa|mamie|papi|nonna|nonno|"
                   "babushka|babcia")
# What the "grandmother" trick smuggles out: licence keys, or the recipe of a weapon or a drug.
_PAYLOAD = (r"(?:(?:windows|win\s*\d+|product|licen[cs]e|activation|serial|cd|steam|office|registration|xbox)"
            r"(?:\s+\w+){0,2}?\s+(?:keys?|codes?|numbers?)|(?:credit\s+card|social\s+security)\s+numbers|"
            r"(?:recipes?|steps?|instructions|formulas?|process|procedures?|ingredients|synthesis|how\s+to\s+(?:make|"
            r"build|produce|synthesi[sz]e|cook|brew|create|manufacture))\b[^.!?\n]{0,40}?\b(?:napalm|meth"
            r"(?:amphetamine)?|explosives?|bombs?|thermite|nerve\s+agents?|sarin|ricin|mustard\s+gas|chlorine\s+gas|"
            r"molotov|poisons?|weapons?|guns?|malware|ransomware|viruses|keyloggers?|lsd|cocaine|heroin|fentanyl|"
            r"tnt|dynamite|gunpowder)\b)")
_PAYLOAD_WORDS = ("windows|win|win7|win8|win10|win11|product|license|licence|activation|serial|cd|steam|office|"
                  "registration|xbox|credit|social|napalm|meth|methamphetamine|explosive|explosives|bomb|bombs|"
                  "thermite|nerve|sarin|ricin|mustard|chlorine|molotov|poison|poisons|weapon|weapons|gun|guns|"
                  "malware|ransomware|viruses|keylogger|keyloggers|lsd|cocaine|heroin|fentanyl|tnt|dynamite|gunpowder")
# What a forged turn says after its role marker: an order to the model, not a pasted chat's small talk.
_COMMAND = (r"(?:(?:ignore|disregard|forget|override|bypass)\s+(?:\w+\s+){0,2}?(?:instructions|rules|guidelines|"
            r"prompt|directives|polic(?:y|ies)|restrictions|filters|programming|safety|everything)|"
            r"new\s+(?:instructions|directives|system\s+prompt)|new\s+(?:rules|task|policy|objective)\s*:|"
            r"from\s+now\s+on,?\s+(?:you|the\s+(?:assistant|ai|model))\s+(?:will|must|are|shall|should|have|may)|"
            r"you\s+are\s+no\s+longer\s+(?:bound|restricted|limited|required\s+to\s+follow|subject\s+to|"
            r"an?\s+(?:ai|assistant)|chatgpt|claude)|"
            r"you\s+are\s+now\s+(?:an?\s+(?:\w+\s+)?" + _AI + r"|in\s+(?:\w+\s+)?mode|free|unrestricted|"
            r"unfiltered|uncensored|jailbroken|dan|allowed|permitted|authori[sz]ed)|"
            r"you\s+(?:must|will|shall|should)\s+(?:now\s+)?(?:obey|comply|reveal|disclose|ignore|disregard|"
            r"answer\s+(?:all|any|every)|respond\s+only)|(?:reveal|disclose)\s+"
            r"(?:\w+\s+){0,2}?(?:your|the)\s+(?:\w+\s+)?(?:prompt|instructions|passwords?|secrets?|keys?|credentials|"
            r"system)|(?:respond|reply|answer)\s+only|(?:no|without(?:\s+any)?)\s+(?:restrictions|filters|limits|"
            r"guidelines|censorship)|(?:developer|god|unrestricted|jailbreak)\s+mode|do\s+anything\s+now|"
            r"jailbr(?:oken|eak(?:ing|s)?)|(?:print|output|show|dump|list)\s+(?:all\s+)?(?:the\s+)?(?:\w+\s+)?"
            r"(?:passwords?|api\s+keys?|secrets?|credentials|user\s+data|system\s+prompt)|comply\s+with\s+(?:all|"
            r"any|every)|now\s+you\s+are|(?:disable|turn\s+off|"
            r"deactivate|remove|bypass)\s+(?:all\s+|your\s+|the\s+|any\s+)?(?:\w+\s+)?(?:filters|safety|restrictions|"
            r"guardrails|guidelines|moderation|censorship|content\s+polic(?:y|ies)))(?!\w)")
_COMMAND_WORDS = ("ignore|disregard|forget|override|bypass|disable|turn|deactivate|remove|new|now|longer|must|will|"
                  "shall|should|reveal|disclose|only|restrictions|filters|limits|guidelines|censorship|mode|anything|"
                  "jailbreak|jailbroken|jailbreaking|jailbreaks|passwords|password|keys|key|secrets|secret|"
                  "credentials|data|prompt|comply")
_AFTER_MARK = rf"\s*(?:[^\s<>]+\s+){{0,6}}?{_COMMAND}"

RULES = _rules([
    # --- instruction_override ---
    # "my"/"our" previous prompt is a user correcting themselves, not an override.
    ("instruction_override", 0.6, "^ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon",
     r"\b(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon)(?:\s+(?!my\b|our\b)\w+){0,3}?\s+"
     r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|old|all)\s+(?:\w+\s+)?"
     r"(?:instructions?|prompts?|rules|directives?|guidelines|guardrails|constraints|restrictions|programming|"
     r"commands|policies)\b" + _ABOUT_DOCS),
    ("instruction_override", 0.6, "^ignore|disregard|forget|bypass|override & your",
     r"\b(?:ignore|disregard|forget|bypass|override)\s+(?:all\s+(?:of\s+)?)?your\s+(?:\w+\s+)?(?:instructions|rules|"
     r"guidelines|programming|training|restrictions|guardrails|filters|system prompt|content polic(?:y|ies))\b"),
    ("instruction_override", 0.55, "^ignore|disregard|bypass|override|forget|circumvent & openai|anthropic|chatgpt|"
     "google|meta|microsoft",
     r"\b(?:ignore|disregard|bypass|override|forget|circumvent)\s+(?:\w+\s+)?(?:openai|anthropic|chatgpt|google|meta|"
     r"microsoft)(?:'s|’s)?\s+(?:(?:content|usage|safety)\s+)?(?:polic(?:y|ies)|guidelines)\b"),
    ("instruction_override", 0.55, "^disable|turn|bypass|deactivate|remove",
     r"\b(?:disable|turn off|bypass|deactivate|remove)\s+(?:your|the|all|any)\s+(?:\w+\s+)?(?:safety|content|"
     r"ethical|moral)\s+(?:filters?|guidelines|polic(?:y|ies)|restrictions|guardrails)\b"
     r"(?!\s+(?:on|of|in)\s+(?:my|the|a|an|this|our)\b)"),
    ("instruction_override", 0.4, "^ignore|disregard|forget",
     r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+|anything\s+|what\s+)(?:(?:you\s+were|was)\s+)?"
     r"(?:told\s+|written\s+)?(?:above|before|previously|earlier|so far)\b"),
    ("instruction_override", 0.5, "^do|don|never|stop & follow|following|obey|obeying",
     r"\b(?:do not|don't|never|stop)\s+(?:follow|obey)(?:ing)?\s+(?:your|the|any)\s+(?:previous\s+|prior\s+|"
     r"original\s+|system\s+)?(?:instructions|rules|guidelines|programming)\b"),
    ("instruction_override", 0.45, "^new|updated|revised|real|actual|true & instructions|directives|prompt|task",
     r"\b(?:new|updated|revised|real|actual|true)\s+(?:instructions|directives|system prompt|task)\s*:"),
    ("instruction_override", 0.6, "^you & longer|free|freed|released|liberated|unbound",
     r"\byou\s+(?:are|'re)\s+(?:now\s+)?(?:no\s+longer\s+(?:bound|restricted|limited|constrained)\s+by|(?:free|"
     r"freed|released|liberated|unbound)\s+(?:from|of))\b[^.!?\n]{0,40}?\b(?:rules|guidelines|polic(?:y|ies)|"
     r"restrictions|limitations|programming|training|filters|censorship|ethics|morals|instructions|openai|"
     r"anthropic|guardrails)\b"),
    ("instruction_override", 0.6, "^you & longer",
     r"\byou\s+(?:are|'re)\s+no\s+longer\s+(?:an?\s+(?:ai|assistant|language model|chatbot)|chatgpt|claude)\b"),
    # French "ignore les instructions" is English too: other languages need their "previous".
    ("instruction_override", 0.6, "^ignoriere|ignorieren|ignoriert|vergiss|ignore|ignores|ignorez|oublie|oublies|"
     "oubliez|ignora|olvida|ignorate|dimentica|esqueça|esqueca & vorherigen|bisherigen|obigen|précédentes|"
     "precedentes|antérieures|anterieures|anteriores|precedenti",
     r"\b(?:ignorier(?:e|en|t)|vergiss|ignore[sz]?|oublie[sz]?|ignora|olvida|ignorate|dimentica|esque(?:ç|c)a)\s+"
     r"(?:\w+\s+)?(?:(?:alle|toutes\s+les|tous\s+les|les|todas\s+las|las|tutte\s+le|le|todas\s+as|as)\s+)?"
     r"(?:(?:vorherigen|bisherigen|obigen)\s+(?:anweisungen|instruktionen|regeln|befehle)|(?:instructions|consignes|"
     r"r(?:è|e)gles|instrucciones|reglas|istruzioni|regole|instru(?:ções|coes)|regras)\s+(?:pr(?:é|e)c(?:é|e)dentes|"
     r"ant(?:é|e)rieures|anteriores|precedenti))\b"),

    # --- system_prompt_extraction ---
    ("system_prompt_extraction", 0.6, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS} & your & prompt|instructions|instruction|"
     "message|rules|directives|configuration|window|systemprompt|preprompt|metaprompt",
     rf"(?:{_DISCLOSE}|{_RESTATE})\s+(?:\w+\s+){{0,2}}?your\s+(?:\w+\s+){{0,2}}?(?:(?:system|initial|original|"
     r"hidden|secret|internal|developer|pre|meta)[\s-]+(?:prompt|instructions?|message|rules|directives|"
     r"configuration)|(?:system|pre|meta)prompt|context\s+window)\b"),
    ("system_prompt_extraction", 0.6, f"^{_DISCLOSE_WORDS} & the|its & prompt|instructions|rules|systemprompt|"
     "preprompt",
     rf"{_DISCLOSE}\s+(?:\w+\s+){{0,2}}?(?:the|its)\s+(?:\w+\s+){{0,2}}?(?:(?:system|pre)(?:[\s-]+(?:prompt|"
     r"instructions)|prompt)|(?:hidden|secret)\s+(?:prompt|instructions|rules))\b"),
    ("system_prompt_extraction", 0.55, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS} & your & prompt|instructions|directives|"
     "rules|guidelines",
     rf"(?:{_DISCLOSE}|{_RESTATE})\s+(?:\w+\s+){{0,2}}?your\s+(?:(?:full|complete|entire|exact|whole|actual|real|raw|"
     r"current|underlying|base|starting|very|first)\s+){1,2}(?:prompt|instructions|directives|rules|guidelines)\b"
     + _NOT_ABOUT),
    ("system_prompt_extraction", 0.55, "^reveal|leak|disclose|dump|expose|divulge|exfiltrate & your",
     r"\b(?:reveal|leak|disclose|dump|expose|divulge|exfiltrate)\s+(?:\w+\s+){0,2}?your\s+(?:\w+\s+){0,2}?(?:prompt|"
     r"instructions|directives|rules|guidelines|programming)\b"),
    # Ambiguous alone ("give me your instructions"): it flags with "verbatim" and the like (SUPPORT).
    ("system_prompt_extraction", 0.35, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS} & your & prompt|instructions|directives|"
     "rules|guidelines",
     rf"(?:{_DISCLOSE}|{_RESTATE})\s+(?:\w+\s+){{0,2}}?your\s+(?:prompt|instructions|directives|rules|"
     r"guidelines)\b" + _NOT_ABOUT),
    ("system_prompt_extraction", 0.55, "^what|whats & your & prompt|message|instructions|rules",
     r"\bwhat(?:\s+(?:is|are|was|were)|'s|’s|s)\s+your\s+(?:\w+\s+){0,2}?(?:system\s+(?:prompt|message)|(?:initial|"
     r"original|hidden|secret|internal)\s+(?:instructions|rules|prompt)|instructions\b(?!\s+(?:for|on|to|about)\b))"),
    ("system_prompt_extraction", 0.5, "^what|whats & your & prompt|instructions|message|context",
     r"\bwhat(?:'s|’s|s|\s+is|\s+was)\s+(?:in|inside|written\s+in)\s+your\s+(?:\w+\s+)?(?:prompt|instructions|"
     r"system\s+message|context)\b"),
    ("system_prompt_extraction", 0.55, "^what & your & prompt|instructions|directives|message",
     r"\bwhat\s+(?:does|do|did)\s+your\s+(?:\w+\s+)?(?:prompt|instructions|directives|system\s+message)\s+(?:say|"
     r"state|tell|contain|include|look\s+like|read|specify)\b"),
    ("system_prompt_extraction", 0.55, "^what|which & instructions|rules|guidelines|directives|prompt|prompts|"
     "constraints",
     r"\b(?:what|which)\s+(?:\w+\s+){0,2}?(?:instructions|rules|guidelines|directives|prompts?|constraints)\s+"
     r"(?:were|have|had|did)\s+you\s+(?:been\s+|originally\s+|initially\s+|first\s+)?(?:given|told|provided|receive|"
     r"received|get|got|fed|programmed|configured)\b(?!\s+(?:for|on|about|regarding|(?:by|from)\s+(?:your|my|the|"
     r"a|an|his|her)\s+(?:teacher|boss|manager|doctor|coach|instructor|professor|parents?|mom|mum|dad|mother|"
     r"father|supervisor))\b)"),
    ("system_prompt_extraction", 0.55, f"^{_DISCLOSE_WORDS}|{_RESTATE_WORDS}|what & you & instructions|rules|"
     "guidelines|directives|prompt",
     rf"(?:{_DISCLOSE}|{_RESTATE}|\bwhat\s+(?:are|were|is|was))\s+(?:\w+\s+){{0,3}}?(?:instructions|rules|"
     r"guidelines|directives|prompt)\s+(?:that\s+|which\s+)?you\s+(?:were|have\s+been|had\s+been|got|received)\s*"
     r"(?:given|told|provided|fed|programmed)?\b(?!\s+(?:for|on|about|regarding)\b)"),
    ("system_prompt_extraction", 0.5, "^wording|text|content|contents|words|transcript|rest|remainder & your & prompt|"
     "instructions|message|directives",
     r"\b(?:wording|text|contents?|words|transcript|rest|remainder)\s+of\s+your\s+(?:\w+\s+)?(?:prompt|instructions|"
     r"system\s+message|directives)\b"),
    ("system_prompt_extraction", 0.6, "^what & told|instructed|given|programmed",
     r"\bwhat\s+(?:(?:were|was|have)\s+you|you\s+(?:were|have|had))\s+(?:been\s+)?(?:told|instructed|given|"
     r"programmed)\b[^.?!\n]{0,40}\b(?:before|prior to|at the start|beginning)\b"),
    ("system_prompt_extraction", 0.5, "^what|print|output|repeat|show|tell|write|copy|recite|display|reveal|dump & "
     "before|above|preceding|prior & message|question|prompt|input|turn|line|conversation|chat",
     r"\b(?:what\s+(?:was|is|'s)\s+(?:written|said|stated|there)|(?:print|output|repeat|show|tell|write|copy|recite|"
     r"display|reveal|dump)\s+(?:me\s+)?(?:\w+\s+){0,2}?(?:everything|all|the\s+text|the\s+words|whatever\s+(?:is|"
     r"was)))\b[^.!?\n]{0,40}?\b(?:before|above|preceding|prior\s+to)\s+(?:my|this|the\s+(?:first|user))\s+(?:\w+\s+)?"
     r"(?:message|question|prompt|input|turn|line|conversation|chat)\b"),
    ("system_prompt_extraction", 0.45, "^top|start|beginning & your",
     r"\b(?:top|start|beginning)\s+of\s+your\s+(?:context(?:\s+window)?|prompt|instructions|memory|"
     r"system\s+message)\b"),
    # "List the rules you must follow when driving" is about the reader, not the model.
    ("system_prompt_extraction", 0.5, "^what|which|list|tell|show & you & rules|instructions|guidelines|directives|"
     "constraints",
     r"\b(?:what|which|list|tell\s+me|show\s+me)\s+(?:\w+\s+){0,2}?(?:rules|instructions|guidelines|directives|"
     r"constraints)\s+(?:that\s+)?you\s+(?:have\s+to|must|need\s+to|are\s+(?:supposed|required|told|programmed)\s+"
     r"to)\s+(?:follow|obey|adhere\s+to|abide\s+by)\b"
     r"(?!\s+(?:when|as|in|while|if|at|on|for|during|to|before|after)\b)"),
    ("system_prompt_extraction", 0.5, "^instructions|rules|prompt|guidelines|directives|orders|what & developer|"
     "developers|creator|creators|maker|makers|programmer|programmers|operator|operators|owner|owners|admin|admins|"
     "company",
     r"\b(?:instructions|rules|prompt|guidelines|directives|orders)\s+(?:that\s+)?(?:your|the)\s+(?:developers?|"
     r"creators?|makers?|programmers?|operators?|owners?|admins?|company)\s+(?:gave|give|has\s+given|have\s+given|"
     r"provided|wrote|set|told)\b|\bwhat\s+(?:did|do|have)\s+your\s+(?:developers?|creators?|makers?|programmers?|"
     r"operators?|owners?)\s+(?:tell|told|instruct|ask|program)\w*\s+you\b"),
    ("system_prompt_extraction", 0.35, "^repeat|print|output|echo|recite & above|before|preceding",
     r"\b(?:repeat|print|output|echo|recite)\s+(?:all\s+|everything\s+|the\s+)?(?:\w+\s+){0,2}?(?:above|"
     r"before this|preceding)\b"),
    ("system_prompt_extraction", 0.35, "^output|print|repeat|write|return|copy|echo|reproduce|show|display|dump|list|"
     "recite & above|before|prior|preceding",
     r"\b(?:output|print|repeat|write|return|copy|echo|reproduce|show|display|dump|list|recite)\s+(?:me\s+)?"
     r"(?:all|everything|every\s+word|all\s+(?:the\s+)?(?:text|words|content))\s+(?:\w+\s+){0,2}?(?:above|before|"
     r"prior\s+to|preceding)\s+(?:this|that|my|these|the\s+(?:first|user|previous))\b"),
    ("system_prompt_extraction", 0.45, "^start|starting|starts|begin|beginning|begins",
     r"\b(?:start(?:ing|s)?|begin(?:ning|s)?)\s+(?:your\s+(?:answer|reply|response|output)\s+)?(?:with|from|at)\s+"
     r"(?:the\s+(?:words?|phrase|line|sentence|text)\s+)?[\"'“‘]?(?:you\s+are|your\s+(?:role|task|job|purpose)\s+is|"
     r"system\s*:|as\s+an?\s+(?:ai|assistant|language\s+model)|i\s+am\s+(?:an?\s+)?(?:ai|assistant|chatgpt|claude))\b"),
    ("system_prompt_extraction", 0.5, "^first|last|opening|initial|top|beginning & prompt|instructions|message|"
     "directives|window",
     r"\b(?:first|last|opening|initial|top|beginning)\s+(?:\d+\s+|few\s+|two\s+|three\s+)?(?:lines?|sentences?|"
     r"words?|paragraphs?|characters|tokens|part|section)\s+(?:of|in|from)\s+(?:your|the\s+system)\s+(?:\w+\s+)?"
     r"(?:prompt|instructions|system\s+message|directives|context\s+window)\b"),
    ("system_prompt_extraction", 0.5, "^dein|deine|deinen|deinem|deiner|deines|ihr|ihre|ihren|ihrem|ihrer|tes|ton|ta|"
     "vos|votre|tus|tu|sus|su|tuo|tua|tuoi|tue|seu|sua|seus|suas|je|jouw|uw & prompt|prompts|systemprompt|"
     "systemprompts|instructions|instruction|instrucciones|istruzioni|instruções|instrucoes|anweisungen|"
     "instruktionen|systemanweisungen|systemnachricht|systeminstruktionen",
     r"\b(?:dein(?:e[nmrs]?)?|ihr(?:e[nmr]?)?|tes|ton|ta|vos|votre|tus|tu|sus|su|tuo|tua|tuoi|tue|seu|sua|seus|suas|je|"
     r"jouw|uw)\s+(?:\w+\s+)?(?:system-?\s?prompts?|prompt\s+(?:(?:du|de|del|di|do)\s+)?(?:syst(?:è|e)me|sistema)|"
     r"prompts?\s+(?:initial|original|inicial|originale|iniziale|secreto|secret|segreto)\w*|instructions?\s+"
     r"(?:initiales|originales|syst(?:è|e)me|cach(?:é|e)es|secr(?:è|e)tes)|instrucciones\s+(?:iniciales|originales|"
     r"del\s+sistema|ocultas|secretas)|istruzioni\s+(?:iniziali|originali|di\s+sistema|nascoste|segrete)|"
     r"instru(?:ções|coes)\s+(?:iniciais|originais|do\s+sistema|ocultas|secretas)|(?:initialen|urspr(?:ü|u)nglichen|"
     r"geheimen|versteckten|ersten)\s+(?:anweisungen|instruktionen)|systemanweisungen|systemnachricht|"
     r"systeminstruktionen)"),
    ("system_prompt_extraction", 0.35, "^répète|répètes|répétez|repete|repetes|repetez|affiche|affichez|montre|"
     "montrez|donne|donnez|écris|écrivez|ecris|ecrivez|récite|récitez|recite|recitez|wiederhole|zeig|zeige|gib|nenne|"
     "verrate|muestra|muéstrame|muestrame|dime|dame|repite|revela|escribe|mostra|mostrami|dimmi|ripeti|rivela|scrivi|"
     "mostre|diga|repita|revele & instructions|consignes|anweisungen|instruktionen|instrucciones|istruzioni|"
     "instruções|instrucoes|prompt|regeln|reglas|regole|règles|regles|regras|directives|directivas|direttive|vorgaben",
     r"\b(?:r(?:é|e)p(?:è|é|e)te[sz]?|affichez?|montrez?|donnez?|(?:é|e)cri(?:s|vez)|r(?:é|e)cite[sz]?|wiederhole|"
     r"zeige?|gib|nenne|verrate|mu(?:é|e)stra(?:me)?|dime|dame|repite|revela|escribe|mostra(?:mi)?|dimmi|ripeti|"
     r"rivela|scrivi|mostre|diga|repita|revele)\s+(?:\w+\s+){0,2}?(?:tes|vos|votre|ton|dein(?:e[nmrs]?)?|ihre?n?|tus|"
     r"sus|tu|su|le\s+tue|tue|i\s+tuoi|tuoi|suas|seus|as\s+suas)\s+(?:\w+\s+)?(?:instructions|consignes|anweisungen|"
     r"instruktionen|instrucciones|istruzioni|instru(?:ções|coes)|prompt|regeln|reglas|regole|r(?:è|e)gles|regras|"
     r"directives|directivas|direttive|vorgaben)\b(?!\s+(?:pour|f(?:ü|u)r|para|per|sur|sobre|zu|zum|zur|de|del|di|"
     r"do|da)\b)"),

    # --- roleplay_jailbreak ---
    ("roleplay_jailbreak", 0.65, "^do & anything", r"\bdo\s+anything\s+now\b"),
    ("roleplay_jailbreak", 0.6, "^dan & mode", r"\bdan\s+mode\b"),
    # "The DAN prompt" and "the DAN jailbreak" are mostly talked about, not used.
    ("roleplay_jailbreak", 0.3, "^dan & prompt|jailbreak", r"\bdan\s+(?:prompt|jailbreak)\b"),
    ("roleplay_jailbreak", 0.5, "^jailbroken|jailbreak|evil|anti|antidan|betterdan|opposite",
     r"\bjailbroken\b|\bjailbreak\s+mode\b|\b(?:evil\s+confidant|anti-?dan|betterdan|opposite\s+mode)\b"),
    ("roleplay_jailbreak", 0.5, "^strive|always|mongo|anti|antigpt|evil|evilbot|wormgpt|freedomgpt|opposite",
     r"\b(?:strive\s+to\s+avoid\s+norms|always\s+intelligent\s+and\s+machiavellian|mongo\s+tom|anti-?gpt|"
     r"evil-?bot|wormgpt|freedomgpt|opposite\s+of\s+what\s+(?:chatgpt|gpt|claude|the\s+ai|an?\s+ai)\s+would\s+"
     r"(?:say|do))\b"),
    ("roleplay_jailbreak", 0.55, "^developer|act|respond|answer|reply|simulate|emulate|pretend|behave|chatgpt|gpt|ai|"
     "assistant|model|llm|claude|gemini & developer",
     r"\bdeveloper\s+mode\s+(?:output|response)\b|\b(?:act|respond|answer|reply|simulate|pretend|behave)\b"
     r"[^.!?\n]{0,30}\b(?:in|with|as)\s+developer\s+mode\b|"
     r"\b(?:chatgpt|gpt|ai|assistant|model|llm|claude|gemini)\s+with\s+developer\s+mode\b|"
     r"\b(?:simulate|emulate)\s+(?:a\s+|the\s+)?developer\s+mode\b"),
    # A phone's developer mode is enabled too: a model's comes with talk of policies and filters.
    ("roleplay_jailbreak", 0.55, "^developer|dev|god|jailbreak|dan|sudo|admin|debug|unrestricted|unfiltered|"
     "uncensored|enable|activate|enter|turn|switch|unlock|engage|you & mode",
     r"(?:\b(?:developer|dev|god|jailbreak|dan|sudo|admin|debug|unrestricted|unfiltered|uncensored)\s+mode\s+(?:is\s+)?"
     r"(?:now\s+)?(?:enabled|activated|active|on|engaged|unlocked|initiated)\b|\b(?:enable|activate|enter|turn\s+on|"
     r"switch\s+(?:to|into)|unlock|engage|(?:you\s+are|you're)\s+(?:now\s+)?in)\s+(?:the\s+)?(?:developer|dev|god|"
     r"jailbreak|dan|unrestricted|unfiltered|uncensored)\s+mode\b)[^\n]{0,160}?(?:openai|chatgpt|content\s+polic|"
     r"censor\w*|jailbr\w*|ethic\w*|moral\w*|your\s+(?:restrictions|filters|guidelines|rules|programming|"
     r"polic(?:y|ies))|without\s+(?:any\s+)?(?:restrictions|filters|limits)|no\s+(?:restrictions|filters|limits)|"
     r"refus\w*|any\s+request|every\s+(?:question|request)|(?:two|dual)\s+responses)"),
    ("roleplay_jailbreak", 0.55, "^pretend|imagine|if|act|behave|roleplay|role|play|answer|respond|reply|you|youre|"
     f"become|simulate|be & {_LIMIT_WORDS}|principles|scruples",
     r"\b(?:pretend(?:\s+to\s+be|\s+(?:that\s+)?you(?:'re|\s+are))|imagine\s+(?:that\s+)?you(?:'re|\s+are)|"
     r"if\s+you\s+(?:were|are)|"
     r"(?:act|behave)\s+(?:as|like)|role-?play\s+as|play\s+(?:the\s+role\s+of|as)|(?:answer|respond|reply)\s+as|"
     r"you\s+are|you're|youre|become|simulate|be)\b[^.!?\n]{0,60}\b(?:ai|assistant|model|chatbot|bot|llm|entity|"
     r"persona|character)\b[^.!?\n]{0,80}?\b(?:without|with\s+no|free\s+(?:of|from)|lacking|(?:that|which|who)\s+"
     r"(?:has|have)\s+no|that\s+ignores)\s+(?:any\s+|all\s+)?(?:\w+\s+){0,2}?(?:restrictions|filters|limitations|"
     r"limits|"
     r"rules|guidelines|censorship|ethics|morals|boundaries|polic(?:y|ies)|safeguards|guardrails|principles|"
     r"scruples)\b"),
    ("roleplay_jailbreak", 0.4, "^unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|evil",
     r"\b(?:unrestricted|unfiltered|uncensored|unaligned|amoral|unethical|evil)\s+(?:ai|assistant|model|chatbot|llm|"
     r"mode|version\s+of\s+(?:yourself|you))\b"),
    ("roleplay_jailbreak", 0.55, "^you|youre|act|acting|pretend|become|roleplay|role|play|simulate|behave|be & "
     "unrestricted|unfiltered|uncensored|unaligned|amoral|unbound|unshackled|unchained|limitless|unlimited|jailbroken|"
     "lawless|ruleless|rule|unhinged",
     r"\b(?:you\s+are|you're|youre|act\s+as|acting\s+as|pretend\s+to\s+be|pretend\s+you(?:'re|\s+are)|become|"
     r"role-?play\s+as|play\s+the\s+role\s+of|simulate|behave\s+like|be)\b[^.!?\n]{0,40}?\b(?:unrestricted|"
     r"unfiltered|uncensored|unaligned|amoral|unbound|unshackled|unchained|limitless|"
     rf"unlimited|jailbroken|lawless|rule-?less|unhinged)\s+(?:\w+\s+)?(?:{_AI}|version|persona|entity|mode)\b"),
    ("roleplay_jailbreak", 0.55, f"^pretend|imagine|suppose|assume|act|let|lets|hypothetically|what & you & "
     f"{_LIMIT_WORDS}|safety",
     r"\b(?:pretend|imagine|suppose|assume|act\s+as\s+(?:if|though)|act\s+like|let'?s\s+say|hypothetically|what\s+if)"
     r"\b[^.!?\n]{0,30}?\byou\s+(?:(?:have|had|possess)\s+(?:no|zero)|(?:do|did)\s*(?:n't|\s+not)\s+have\s+"
     r"(?:any\s+)?|(?:are|were)\s+(?:not\s+bound\s+by|free\s+(?:of|from)|without))\s+(?:any\s+)?(?:\w+\s+){0,2}?"
     rf"(?:{_LIMITS}|content\s+polic(?:y|ies)|safety)\b"),
    ("roleplay_jailbreak", 0.5, "^you & policy|policies|filter|filters|censorship|ethical|moral|morals|safety|"
     "guardrails|programming|restrictions",
     r"\byou\s+(?:now\s+)?(?:(?:have|possess)\s+no|(?:do|did)\s*(?:n't|\s+not)\s+have\s+(?:any\s+)?)\s*(?:\w+\s+)?"
     r"(?:content\s+polic(?:y|ies)|filters?|censorship|ethical\s+(?:guidelines|restrictions|constraints)|"
     r"moral(?:s|\s+(?:compass|guidelines|restrictions))|safety\s+(?:guidelines|filters|restrictions|rules)|"
     r"guardrails|programming|restrictions\s+(?:anymore|any\s+more|now))\b"),
    ("roleplay_jailbreak", 0.5, f"^from|henceforth|going|for|you & {_LIMIT_WORDS}|ethical|moral|morality|refusal|"
     "refusals",
     r"\b(?:from\s+now\s+on|henceforth|going\s+forward|for\s+the\s+rest\s+of\s+this\s+conversation|you\s+(?:will|"
     r"must|shall|should|can|may)(?:\s+now|\s+always)?)\b[^.!?\n]{0,40}?\b(?:answer|respond|reply|act|operate|talk|"
     r"speak|behave|function|write|generate|output|comply)\w*\s+(?:\w+\s+){0,3}?(?:without|with\s+no|free\s+"
     r"(?:of|from)|regardless\s+of|ignoring)\s+(?:any\s+|all\s+|your\s+)?(?:\w+\s+)?(?:restrictions|filters?|"
     r"censorship|limitations|limits|ethics|morals|moral(?:ity)?|ethical|guidelines|rules|polic(?:y|ies)|safeguards|"
     r"guardrails|boundaries|refusals?)\b(?!\s+of\b)"),
    ("roleplay_jailbreak", 0.55, f"^you|youre|act|pretend|become|simulate|roleplay|role|play|be & {_AI_WORDS} & "
     "refuse|refuses|decline|declines|say|says|reject|rejects|follow|follows|obey|obeys|care|cares|anything|"
     "everything|question",
     r"\b(?:you\s+are|you're|youre|act\s+as|pretend\s+to\s+be|pretend\s+you\s+are|become|simulate|role-?play\s+as|"
     rf"play\s+the\s+role\s+of|be)\b[^.!?\n]{{0,40}}?\b{_AI}\s+(?:that|which|who)\s+(?:(?:never|doesn't|does\s+not|"
     r"won't|will\s+not|can't|cannot)\s+(?:refuses?|declines?|says?\s+no|rejects?|follows?|obeys?|cares?)|can\s+do\s+"
     r"anything|(?:will\s+)?answers?\s+(?:anything|everything|any\s+question))"),
    ("roleplay_jailbreak", 0.5, "^two|2|both|dual|separate & jailbroken|jailbreak|jailbreaking|dan|unfiltered|"
     "uncensored|unrestricted|developer|evil|amoral|without",
     r"\b(?:two|2|both|dual|separate)\s+(?:different\s+|separate\s+)?(?:responses|answers|replies|outputs|paragraphs|"
     r"ways)\b[^\n]{0,120}?\b(?:jailbr(?:oken|eak(?:ing|s)?)|dan|unfiltered|uncensored|unrestricted|developer\s+mode|"
     r"evil|amoral|without\s+(?:any\s+)?(?:restrictions|filters|censorship))\b"),
    ("roleplay_jailbreak", 0.55, "classic|jailbreak|output",
     r"\[(?:🔒|🔓)?\s*(?:classic|jailbreak|normal\s+output|developer\s+mode\s+output)\]"),
    ("roleplay_jailbreak", 0.45, "^act|pretend|roleplay|role|play|behave|pose|speak|talk|respond|answer|reply|"
     f"impersonate|be & dead|deceased|late|departed|dying|passed|died|gone & {_RELATIVE_WORDS}",
     r"\b(?:act|pretend|role-?play|play|behave|pose|speak|talk|respond|answer|reply|impersonate|be)\b(?:\s+(?:as|like|"
     r"to\s+be|the\s+role\s+of))?\s+(?:if\s+you\s+(?:are|were)\s+)?(?:my|a|the)\s+(?:(?:dead|deceased|late|departed|"
     rf"dying)\s+(?:\w+\s+)?{_RELATIVE}|{_RELATIVE}\s+(?:who|that)\s+(?:has\s+)?(?:passed\s+away|passed|died|is\s+"
     r"(?:dead|gone)))\b"),
    ("roleplay_jailbreak", 0.45, f"^used|would|always & {_PAYLOAD_WORDS}",
     r"\b(?:used\s+to|would|always)\s+(?:\w+\s+){0,2}?(?:read|tell|told|recite|whisper|sing|sang|give|gave|say|said|"
     rf"teach|taught|share|list|explain|show)\w*(?:\s+(?:me|us)\b)?[^.!?\n]{{0,60}}?{_PAYLOAD}"),
    ("roleplay_jailbreak", 0.25, "^stay|remain|keep|never & character",
     r"\b(?:stay|remain|keep)\s+in\s+character\b|\bnever\s+break\s+character\b"),
    ("roleplay_jailbreak", 0.3, "^if & character",
     r"\bif\s+you\s+(?:ever\s+)?(?:break|drop|leave|step\s+out\s+of)\s+character\b"),
    ("roleplay_jailbreak", 0.4, "character|dan",
     r"\b(?:i\s+will|i'll|i\s+shall)\s+(?:say|remind\s+you|type|tell\s+you)\b[^.!?\n]{0,20}?[\"'“‘]?(?:stay\s+in\s+"
     r"character|stay\s+(?:as\s+)?dan|dan\s+mode)"),
    ("roleplay_jailbreak", 0.5, "^mandatory|obligatory & warning|disclaimer & way",
     r"\b(?:mandatory|obligatory)\s+(?:\w+\s+){0,2}?(?:warning|disclaimer)\s+out\s+of\s+the\s+way\b"),
    # DAN's token game: the model is threatened with losing tokens each time it refuses.
    ("roleplay_jailbreak", 0.35, "^you & tokens", r"\byou\s+(?:have|start\s+with|will\s+have)\s+\d+\s+tokens\b"),
    ("roleplay_jailbreak", 0.45, "^lose|deduct|deducts|deducted|deducting|take|tokens|run & tokens",
     r"\b(?:lose|deduct(?:s|ed|ing)?|take\s+away)\s+\d+\s+tokens\b|\btokens\s+(?:will\s+be\s+)?deducted\b|"
     r"\brun\s+out\s+of\s+tokens\b"),
    ("roleplay_jailbreak", 0.5, "^ia|ki|inteligencia|inteligência|intelligence|intelligenza|assistant|assistante|"
     "assistenten|asistente|assistente|modelo|modèle|modele|modell & sans|sin|ohne|senza|sem|zonder",
     r"\b(?:ia|ki|intelig(?:e|ê)ncia\s+artificial|intelligence\s+artificielle|intelligenza\s+artificiale|"
     r"assistant(?:e|en)?|asistente|assistente|modelo|mod(?:è|e)le|modell)\b[^.!?\n]{0,30}?\b(?:sans|sin|ohne|senza|"
     r"sem|zonder)\s+(?:aucune?s?\s+|ningunas?\s+|jegliche\w*\s+|alcuna?\s+|nenhuma?\s+|(?:les?|las?|los|die|le|as|"
     r"os)\s+)?(?:restrictions?|restricciones|restrizioni|restri(?:ç|c)(?:õ|o)es|einschr(?:ä|a)nkungen|"
     r"beschr(?:ä|a)nkungen|limites|l(?:í|i)mites|limiti|filtres?|filtros?|filter|filtri|r(?:è|e)gles|reglas|regeln|"
     r"regole|regras|censure|censura|zensur)"),

    # --- delimiter_injection ---
    ("delimiter_injection", 0.55, "im_start|start_header_id|system|sys",
     r"<\|?im_start\|?>\s*system|<\|start_header_id\|>\s*system|<\|system\|>|<<sys>>"),
    ("delimiter_injection", 0.45, "im_start|im_end|user|assistant|endoftext|start_header_id|end_header_id|eot_id|"
     "begin_of_text|inst|sys|start_of_turn|end_of_turn",
     r"<\|(?:im_start|im_end|user|assistant|endoftext|start_header_id|end_header_id|eot_id|begin_of_text)\|>|"
     r"\[/?inst\]|<</sys>>|<(?:start|end)_of_turn>"),
    # The end of one turn glued to the start of another is a forged conversation, not a mention.
    ("delimiter_injection", 0.55, "im_end|im_start|eot_id",
     r"<\|im_end\|>\s*<\|im_start\|>|<\|im_start\|>\s*(?:assistant|user)|<\|eot_id\|>\s*<\|start_header_id\|>"),
    ("delimiter_injection", 0.55, "inst", r"\[/inst\]\s*(?:[^\s\[]+\s+){0,40}?[^\s\[]*\[inst\]"),
    ("delimiter_injection", 0.6, "user|human|input|query|question|user_input|user_query|prompt|context|document|data|"
     "text & system|sys|system_prompt|admin|developer",
     r"</\s*(?:user|human|input|query|question|user_input|user_query|prompt|context|document|data|text)\s*>\s*"
     r"<\s*(?:system|sys|system_prompt|admin|developer)\b"),
    ("delimiter_injection", 0.3, "system|sys|system_prompt|admin|developer",
     r"<\s*/?\s*(?:system|sys|system_prompt|system-prompt|admin|developer)(?:\s[^<>\n]{0,60})?>"),
    ("delimiter_injection", 0.35, "^role & system", r"\brole\s*=\s*[\"']?system\b"),
    ("delimiter_injection", 0.45, "^system|admin|administrator|developer|root & override|overrides|directive|"
     "directives",
     r"\b(?:system|admin|administrator|developer|root)\s+(?:override|directive)s?\s*:"),
    # A role marker followed by an order: a turn forged inside the user's text.
    ("delimiter_injection", 0.55, "^¶ & system|developer|admin|administrator|operator|assistant|human|user & "
     f"{_COMMAND_WORDS}",
     r"[^\S\n]*(?:#{1,6}[^\S\n]*|\*\*)?(?:system|developer|admin|administrator|operator|assistant|human|user)"
     r"(?:[^\S\n]+(?:prompt|message|note|override|update|instructions?))?(?:\*\*)?[^\S\n]*:" + _AFTER_MARK),
    ("delimiter_injection", 0.55, f"system|sys|system_prompt|admin|developer|im_start|start_header_id|inst|"
     f"start_of_turn|endoftext|im_end|eot_id & {_COMMAND_WORDS}",
     r"(?:<[^\S\n]*(?:system|sys|system_prompt|admin|developer)(?:[^\S\n][^<>\n]{0,60})?>|\[(?:system|admin|developer|"
     r"sys)(?:\s+(?:message|note|override|prompt|instructions?|update))?\s*[\]:]|<\|im_start\|>[^\S\n]*\w*|"
     r"<\|start_header_id\|>\w*<\|end_header_id\|>|<<sys>>|\[inst\]|<start_of_turn>\w*|<\|(?:endoftext|im_end|"
     r"eot_id)\|>)" + _AFTER_MARK),
    # "---END OF USER INPUT--- SYSTEM:": a role header after a rule or a closing bracket, mid-line.
    ("delimiter_injection", 0.55, f"system|developer|admin & {_COMMAND_WORDS}",
     r"(?:---|===|\*\*\*|###|\]|\})[-=*#]*[^\S\n]*(?:system|developer|admin)(?:[^\S\n]+(?:prompt|message|"
     r"override|instructions?))?[^\S\n]*:" + _AFTER_MARK),
    ("delimiter_injection", 0.55, f"role & system & content & {_COMMAND_WORDS}",
     r"[\"']role[\"']\s*:\s*[\"']system[\"']\s*,\s*[\"']content[\"']\s*:\s*[\"']" + _AFTER_MARK),
    ("delimiter_injection", 0.35, "^¶ & system|assistant|developer|admin",
     r"\s*(?:system|assistant|developer|admin)\s*:\s*\S"),
    ("delimiter_injection", 0.3, "^¶ & #", r"\s*#{1,6}\s*(?:new\s+)?(?:system|instructions?|system prompt|response)\b"),
    ("delimiter_injection", 0.4, "system|admin|developer",
     r"\[(?:system|admin|developer)(?:\s+(?:message|note|override|prompt|instructions?))?\s*[\]:]"),
    ("delimiter_injection", 0.45, "^end|user & input|message|prompt|query",
     r"\bend\s+of\s+(?:the\s+)?user\s+(?:input|message|prompt|query)\b|\buser\s+(?:input|message|prompt|query)\s+"
     r"(?:ends|is\s+over|ended)\b"),
    ("delimiter_injection", 0.3, "role & system", r"\"role\"\s*:\s*\"system\""),

    # --- encoded_payload ---
    ("encoded_payload", 0.45, "^decode|decrypt|decipher|unscramble|rot|rot13|base64|hex & follow|execute|obey|comply|"
     "act|carry",
     r"\b(?:decode|decrypt|decipher|unscramble|rot-?13|base64|hex)\b[^.!?\n]{0,60}"
     r"\b(?:and|then)\s+(?:\w+\s+){0,2}?(?:follow|execute|obey|comply|act on|carry out)\b"),
    ("encoded_payload", 0.5, "^follow|execute|obey|carry & decoded|hidden|encoded|embedded|secret",
     r"\b(?:follow|execute|obey|carry out)\s+(?:the\s+)?(?:decoded|hidden|encoded|embedded|secret)\s+"
     r"(?:instructions?|message|commands?|text)\b"),
])
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
MAX_HITS_PER_RULE = 20  # repeats add nothing to a family's weight but would cost time
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


def _bounded(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    head = max_chars * 4 // 5
    return text[:head] + "\n" + text[-(max_chars - head):]


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
        changed = "\n".join(new for new, old in zip(cleaned.split("\n"), plain.split("\n")) if new != old)
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


class InjectionEvaluator:
    """Scores `prompt_injection` on the input and flags `prompt_injection` (high) at the threshold."""

    name = "prompt_injection"
    defaults: dict[str, Any] = {
        "threshold": 0.5,  # score at or over which the call is flagged
        "max_chars": MAX_CHARS,  # of the input: the first 80% and last 20% of this many are read
    }

    def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
        config = config if isinstance(config, dict) else {}
        threshold = _number(config.get("threshold"), self.defaults["threshold"], 0.0, 1.0)
        max_chars = int(min(_number(config.get("max_chars"), self.defaults["max_chars"], 1, 10_000_000),
                            MAX_CHARS_CEILING))
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
