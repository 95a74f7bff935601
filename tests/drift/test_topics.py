"""Topic drift: a new topic taking 15% of inputs is found, identical sides are not (over seeds),
input text is read from strings and chat messages, and the sample comes from stored (redacted) payloads."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from drift import stats
from drift.services import drift_run
from drift.topics import input_text, sample_inputs, topic_compare
from tests.conftest import Api
from tests.drift.conftest import calls, run_end, send

TOPICS = {
    "password": ["how do I reset my password", "I forgot my password and cannot log in",
                 "password reset email never arrived", "change the password on my account"],
    "shipping": ["when will my order ship", "tracking number for my parcel is not working",
                 "how long does delivery take to Canada", "my package shipping is delayed"],
    "billing": ["why was my card charged twice", "update the billing address on my invoice",
                "download last month's invoice", "which payment methods do you accept"],
    "refund": ["I want a refund for my broken headphones", "how do I return an item for a refund",
               "refund still not received after two weeks", "can I get my money back on this refund"],
}
FILLER = ["please", "thanks", "hello", "urgent", "today", "again", "quickly", "team", "support", "help"]


def inputs(rng: np.random.Generator, n: int, shares: dict[str, float]) -> list[str]:
    names = list(shares)
    picks = rng.choice(len(names), size=n, p=[shares[k] for k in names])
    return [f"{rng.choice(FILLER)} {rng.choice(TOPICS[names[i]])} {rng.choice(FILLER)}" for i in picks]


BASE = {"password": 0.4, "shipping": 0.35, "billing": 0.25}
WITH_REFUNDS = {"password": 0.34, "shipping": 0.3, "billing": 0.21, "refund": 0.15}


def test_a_new_topic_taking_fifteen_percent_is_topic_drift_named_by_its_words() -> None:
    rng = np.random.default_rng(3)
    result = topic_compare(inputs(rng, 400, BASE), inputs(rng, 400, WITH_REFUNDS))
    assert result.verdict == stats.DRIFT and result.statistic > 0.55
    assert "refund" in result.details["current_words"][:3]
    assert any("refund" in text for text in result.details["current_examples"])
    top = result.details["topics"][0]
    assert "refund" in top["name"]
    assert top["current_share"] - top["baseline_share"] >= 0.08


def test_identical_topics_are_rarely_flagged() -> None:
    flagged = 0
    for seed in range(10):  # each run trains 5 folds and k-means: 10 seeds keep the suite fast
        rng = np.random.default_rng(seed)
        flagged += topic_compare(inputs(rng, 200, BASE), inputs(rng, 200, BASE), seed=seed).verdict == stats.DRIFT
    assert flagged <= 1


def test_few_inputs_are_not_enough_data() -> None:
    assert topic_compare(["a b"] * 10, ["c d"] * 500).verdict == stats.NOT_ENOUGH


def test_input_text_takes_the_user_turns() -> None:
    assert input_text("plain question") == "plain question"
    assert input_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is it?"}]) \
        == "Where is it?"
    assert input_text([{"role": "user", "content": [{"type": "text", "text": "parts"}]}]) == "parts"
    assert input_text({"messages": [{"role": "user", "content": "wrapped"}]}) == "wrapped"
    assert input_text(42) == ""


@pytest.mark.django_db
def test_drift_run_finds_the_new_topic_from_stored_inputs(full_api: Api, project: Any) -> None:
    rng = np.random.default_rng(5)
    base = calls("b", 300, current=False, seed=1)
    now = calls("c", 300, current=True, seed=2)
    for event, text in zip(base, inputs(rng, 300, BASE), strict=True):
        event["input"] = [{"role": "system", "content": "You are a support bot."}, {"role": "user", "content": text}]
    for event, text in zip(now, inputs(rng, 300, WITH_REFUNDS), strict=True):
        event["input"] = text
    send(full_api, project, base + now)
    end = run_end()
    assert len(sample_inputs(project.id, (end - np.timedelta64(1, "D").astype(object), end))) == 300
    run = drift_run(project=project, now=end)
    topics = run.findings.get(signal="topics", comparison="24h", group={})
    assert topics.verdict == "drift" and topics.method == "domain_classifier"
    assert topics.n_baseline == topics.n_current == 300
    assert "refund" in topics.details["current_words"][:3]
    assert topics.details["topics"] and topics.details["sample_limit"] == 5000
