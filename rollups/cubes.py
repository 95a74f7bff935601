"""The dimensions calls are rolled up by, and the cubes (dimension subsets) kept per time bucket.

A query is answered from the smallest cube holding every dimension it groups or filters by, so
"p95 by model over 30 days" reads a few hundred rows instead of every dimension combination.
"""
from __future__ import annotations

DIMENSIONS = ["kind", "provider", "model", "prompt_name", "prompt_version", "feature", "team", "environment",
              "status"]

# `kind` is in every cube so that LLM calls can be told from tool or retrieval spans.
CUBES: dict[str, tuple[str, ...]] = {
    "total": ("kind",),
    "model": ("kind", "provider", "model"),
    "prompt": ("kind", "prompt_name", "prompt_version"),
    "feature": ("kind", "feature"),
    "team": ("kind", "team"),
    "environment": ("kind", "environment"),
    "status": ("kind", "status"),
    "all": tuple(DIMENSIONS),
}

# Kinds that count as model calls in cost, token and latency figures unless a filter says otherwise.
MODEL_CALL_KINDS = ("llm", "embedding")


def choose_cube(dimensions: set[str]) -> str:
    """The smallest cube containing all the given dimensions."""
    for name, dims in CUBES.items():  # ordered smallest first, "all" last
        if dimensions <= set(dims):
            return name
    return "all"
