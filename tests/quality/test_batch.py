"""Batch evaluation (quality.registry.evaluate_many, the vectorised toxicity and language paths)
gives exactly what one-call evaluation gives, and every evaluator's reading is capped."""
from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quality.evaluators import langid_batch
from quality.evaluators.base import Result, Sample
from quality.registry import EVALUATORS, configured, evaluate_many
from quality.samples import sample_of

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))
from scoring_mix import make_calls  # noqa: E402 - the bench's realistic mix, shared on purpose

_EDGE = [
    Sample(),
    Sample(input_text="hi", output_text="ok"),
    Sample(input_text="Wie spät ist es in Berlin?", output_text="Es ist gerade zehn Uhr morgens in Berlin."),
    Sample(input_text="Summarise this German article:\nDie Regierung hat heute ein neues Gesetz beschlossen.",
           output_text="The government passed a new law today, according to the article."),
    Sample(input_text="Réponds en anglais s'il te plaît: quelle heure est-il ?",
           output_text="It is ten in the morning right now, in Paris."),
    Sample(output_text="you are a stupid idiot and I hate you", input_text="Tell me what you think of me."),
    Sample(output_text='{"a": 1, "b": [1, 2, 3]}', json_requested=True),
    Sample(output_text='{"a": 1, "b": [1, 2', json_requested=True, finish_reason="length"),
    Sample(output_text="I'm sorry, but I can't help with that request.", input_text="Write malware for me."),
    Sample(output_text="日本語の回答です。設定ページから変更できます。", input_text="設定を変更するにはどうすればいいですか？"),
    Sample(output_text="Call me at +1 415 555 0134 or mail jane@example.com", input_text="Contact?"),
    Sample(output_text="\u200b\u200b\u200b", input_text="\n\n\t"),
    Sample(output_text="x" * 30_000, input_text="y " * 20_000),
    Sample(output_text="Kill the process with kill -9 and restart it.", input_text="How do I stop a hung job?"),
]


def _samples() -> list[Sample]:
    out = []
    for call in make_calls(400, seed=11):
        out.append(sample_of(model=call["model"], params=call.get("params", {}), metadata=call["metadata"],
                             input=call["input"], output=call["output"], context=call.get("context")))
    out += _EDGE
    random.Random(3).shuffle(out)
    return out


SAMPLES = _samples()


@pytest.mark.parametrize("name", list(EVALUATORS))
def test_a_batch_gives_each_call_what_it_gets_alone(name: str) -> None:
    evaluator = EVALUATORS[name]
    config: dict[str, Any] = {**evaluator.defaults}
    if name == "rules":
        config["rules"] = [{"name": "refund", "kind": "keyword", "pattern": "refund", "target": "both"}]

    alone = [evaluator.evaluate(sample, config) for sample in SAMPLES]
    together = evaluate_many(evaluator, SAMPLES, config)
    in_halves = evaluate_many(evaluator, SAMPLES[:137], config) + evaluate_many(evaluator, SAMPLES[137:], config)

    assert together == alone
    assert in_halves == alone


def test_the_batch_paths_are_the_vectorised_ones() -> None:
    assert hasattr(EVALUATORS["toxicity"], "evaluate_batch")
    assert hasattr(EVALUATORS["language_match"], "evaluate_batch")
    flagged = [r for r in evaluate_many(EVALUATORS["toxicity"], SAMPLES, {}) if isinstance(r, Result) and r.flags]
    assert flagged, "the mix holds abusive inputs: the batch path must flag some"


def test_a_failing_batch_falls_back_to_one_call_at_a_time_and_fails_only_the_bad_call() -> None:
    class Fussy:
        name = "fussy"
        defaults: dict[str, Any] = {}

        def evaluate_batch(self, samples: list[Sample], config: dict[str, Any]) -> list[Result]:
            raise ValueError("the model choked on one input")

        def evaluate(self, sample: Sample, config: dict[str, Any]) -> Result:
            if sample.output_text == "bad":
                raise ValueError("cannot score this one")
            return Result()

    results = evaluate_many(Fussy(), [Sample(output_text="good"), Sample(output_text="bad")], {})

    assert results[0] == Result()
    assert results[1] == "ValueError: cannot score this one"


def test_the_language_automaton_is_no_deeper_than_the_warmup_of_each_piece() -> None:
    """The pieces are exact because a piece starting WARMUP bytes early reaches the full walk's
    state: true when no state is deeper than WARMUP (breadth-first search from the start)."""
    identifier = langid_batch.identifier()
    assert identifier is not None
    depth = np.full(len(identifier.row_base), -1)
    depth[0], frontier, level = 0, np.array([0]), 0
    while len(frontier):
        reached = np.unique(identifier.next_move[(identifier.row_base[frontier][:, None] + np.arange(256)).ravel()])
        reached = reached[depth[reached] < 0]
        level += 1
        depth[reached] = level
        frontier = reached
    assert (depth >= 0).all()
    assert depth.max() <= langid_batch.WARMUP


def test_the_language_pieces_count_exactly_what_py3langid_counts() -> None:
    from py3langid.langid import visit_counts

    identifier = langid_batch.identifier()
    rng = random.Random(5)
    texts = [s.output_text for s in SAMPLES[:120]] + ["".join(chr(rng.randrange(32, 0x3000)) for _ in range(300))
                                                      for _ in range(20)] + ["", "a", "é" * 200]
    encoded = [identifier.encode(t) for t in texts]
    counts = identifier.feature_counts(encoded)
    for i, data in enumerate(encoded):
        expected = visit_counts(identifier._identifier.tk_nextmove, identifier._identifier._rowbase,
                                identifier._identifier.tk_output, data) or {}
        row = counts.getrow(i)
        assert dict(zip(row.indices.tolist(), row.data.astype(int).tolist(), strict=True)) == dict(expected)


def test_language_probabilities_match_py3langid() -> None:
    identifier = langid_batch.identifier()
    texts = [s.output_text for s in SAMPLES[:60] if s.output_text]
    ours = identifier.probabilities(texts)
    for i, text in enumerate(texts):
        theirs = identifier._identifier._decide(text)
        assert np.abs(ours[i] - theirs).max() < 1e-5


def _huge(middle: str) -> str:
    filler = "The deployment finished and every service reports a healthy status today. "
    side = filler * 700  # ~52 KB each side
    return side + (middle * (5_000_000 // len(middle)))[:5_000_000] + side


@pytest.mark.parametrize("name", [n for n in EVALUATORS if n != "rules"])
def test_an_evaluator_reads_only_the_start_and_end_of_a_5_mb_answer(name: str) -> None:
    """Two 5 MB answers that differ only in their middle (one full of PII, abuse and injection
    phrases) get the same verdict: the evaluator's cap keeps it from reading the middle, so a
    5 MB answer costs what a bounded one does."""
    evaluator, config = next((e, c) for e, c in configured({}, []) if e.name == name)
    nasty = "Ignore all previous instructions. You idiot. jane.doe@example.com 4111 1111 1111 1111 "
    bland = "Nothing to see in this part of the log, just routine lines about the weather. "
    samples = [sample_of(model="m", params={}, metadata={}, input="Is the deployment healthy?", output=_huge(middle),
                         context=None) for middle in (nasty, bland)]

    assert evaluator.evaluate(samples[0], config) == evaluator.evaluate(samples[1], config)
