"""Sticky assignment of a unit (a user id, a session id, any key) to an experiment's arm.

The rule, so an app can compute it locally (docs/prompts.md):

    h = int.from_bytes(sha256(f"{salt}:{unit}".encode("utf-8")).digest()[:8], "big") / 2**64
    arm = the first arm, in position order, whose cumulative weight is greater than h

Weights are normalised to sum to 1. The same salt and unit always give the same arm; a new
experiment gets a new salt, so units are shuffled again between experiments.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import accumulate


def unit_hash(salt: str, unit: str) -> float:
    """A number in [0, 1) from the first 8 bytes of SHA-256("salt:unit"), big-endian."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(salt: str, unit: str, weights: Sequence[float]) -> int:
    """The index of the arm `unit` falls in."""
    total = float(sum(weights))
    h = unit_hash(salt, unit) * total
    for index, edge in enumerate(accumulate(weights)):
        if h < edge:
            return index
    return len(weights) - 1  # rounding at the very top
