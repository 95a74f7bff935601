"""Sticky assignment: the documented hash, weights honoured over 100k units, the same arm every time."""
from __future__ import annotations

import hashlib
from collections import Counter

from prompts.assignment import assign, unit_hash


def test_the_hash_is_the_documented_rule() -> None:
    digest = hashlib.sha256(b"s4lt:user-42").digest()
    assert unit_hash("s4lt", "user-42") == int.from_bytes(digest[:8], "big") / 2**64


def test_each_arm_gets_its_weight_within_one_percent_over_100k_units() -> None:
    weights = [0.1, 0.3, 0.6]
    counts = Counter(assign("exp-salt", f"user-{i}", weights) for i in range(100_000))
    for arm, weight in enumerate(weights):
        assert abs(counts[arm] / 100_000 - weight) < 0.01, (arm, counts)


def test_assignment_is_sticky_and_changes_with_the_salt() -> None:
    weights = [1, 1]
    first = [assign("a", f"u{i}", weights) for i in range(1000)]
    assert first == [assign("a", f"u{i}", weights) for i in range(1000)]
    other = [assign("b", f"u{i}", weights) for i in range(1000)]
    assert 350 < sum(x != y for x, y in zip(first, other, strict=True)) < 650  # reshuffled, about half


def test_unnormalised_weights_are_shares_of_their_sum() -> None:
    counts = Counter(assign("x", str(i), [9, 1]) for i in range(20_000))
    assert abs(counts[1] / 20_000 - 0.1) < 0.01
