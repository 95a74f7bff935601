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

from quality.evaluators.injection.evaluator import InjectionEvaluator
from quality.evaluators.injection.rules import LINE_START, Hit, Rule, RuleSet
from quality.evaluators.injection.scoring import MAX_CHARS, MAX_CHARS_CEILING, injection_score
from quality.evaluators.injection.tables import RULES, SUPPORT
from quality.evaluators.injection.text import deobfuscate, normalise

__all__ = ["LINE_START", "MAX_CHARS", "MAX_CHARS_CEILING", "RULES", "SUPPORT", "Hit", "InjectionEvaluator", "Rule",
           "RuleSet", "deobfuscate", "injection_score", "normalise"]
