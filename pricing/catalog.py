"""Which price applies to a call, and what the call cost.

The whole price table (a few hundred rows) is held in memory per process and reloaded every
OBSERVATORY_PRICE_CACHE_SECONDS, so pricing a batch of 1,000 calls costs no query at all.
"""
from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django.conf import settings

MILLION = Decimal(1_000_000)
# Snapshot suffixes providers put on model ids: -2024-08-06, -20241022, @20241022, -0613, -latest.
_DATE_SUFFIX = re.compile(r"([-@](\d{4}-\d{2}-\d{2}|\d{8}|\d{4})|-latest)$")
# Bedrock-style ids: anthropic.claude-3-5-sonnet-20241022-v2:0
_VENDOR_DOT_PREFIX = re.compile(r"^(anthropic|meta|mistral|amazon|cohere|ai21|deepseek|openai)\.")
_VERSION_SUFFIX = re.compile(r"-v\d+(:\d+)?$")


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    effective_date: date
    project_id: int | None
    input: Decimal
    output: Decimal
    cached_input: Decimal | None
    long_threshold: int | None
    long_input: Decimal | None
    long_output: Decimal | None
    long_cached_input: Decimal | None


@dataclass(frozen=True)
class Cost:
    input_usd: Decimal
    output_usd: Decimal
    total_usd: Decimal


def candidate_names(model: str) -> list[str]:
    """Names to try, most specific first: the id as sent, then without prefixes and snapshot dates."""
    name = model.strip().lower()
    out: list[str] = []

    def add(value: str) -> None:
        if value and value not in out:
            out.append(value)

    add(name)
    bare = name.rsplit("/", 1)[-1]  # openai/gpt-4o, models/gemini-2.5-pro, together's org/model
    bare = _VENDOR_DOT_PREFIX.sub("", bare)
    bare = _VERSION_SUFFIX.sub("", bare)
    for base in (name, bare):
        add(base)
        stripped = base
        for _ in range(2):  # "-2024-08-06" then a trailing "-latest" or similar
            stripped = _DATE_SUFFIX.sub("", stripped)
            add(stripped)
    return out


class _Catalog:
    def __init__(self, rows: list[Price], patterns: list[tuple[re.Pattern[str], Price]]) -> None:
        self.by_name: dict[str, list[Price]] = defaultdict(list)
        self.patterns = patterns
        for price in rows:
            self.by_name[price.model].append(price)

    def lookup(self, project_id: int | None, provider: str, model: str, on: date) -> Price | None:
        provider = provider.lower()
        for name in candidate_names(model):
            found = _choose(self.by_name.get(name, []), project_id, provider, on)
            if found is not None:
                return found
        lowered = model.strip().lower()
        matches = [price for pattern, price in self.patterns if pattern.search(lowered)]
        return _choose(matches, project_id, provider, on)


def _choose(prices: list[Price], project_id: int | None, provider: str, on: date) -> Price | None:
    """Project rows beat global ones, a matching provider beats others, then newest effective date <= on."""
    own = [p for p in prices if p.project_id == project_id and project_id is not None]
    pool = own or [p for p in prices if p.project_id is None]
    if not pool:
        return None
    same_provider = [p for p in pool if p.provider == provider]
    pool = same_provider or pool
    current = [p for p in pool if p.effective_date <= on]
    if current:
        return max(current, key=lambda p: p.effective_date)
    # A call older than every price we know: the earliest known price beats calling it free.
    return min(pool, key=lambda p: p.effective_date)


_lock = threading.Lock()
_state: dict[str, object] = {"catalog": None, "loaded_at": 0.0}


def invalidate() -> None:
    with _lock:
        _state["catalog"] = None
    _cached_lookup.cache_clear()


def _load() -> _Catalog:
    from pricing.models import ModelPrice

    rows: list[Price] = []
    patterns: list[tuple[re.Pattern[str], Price]] = []
    for row in ModelPrice.objects.all():
        price = Price(
            provider=row.provider.lower(), model=row.model.lower(), effective_date=row.effective_date,
            project_id=row.project_id, input=row.input_per_mtok, output=row.output_per_mtok,
            cached_input=row.cached_input_per_mtok, long_threshold=row.long_context_threshold,
            long_input=row.long_input_per_mtok, long_output=row.long_output_per_mtok,
            long_cached_input=row.long_cached_input_per_mtok,
        )
        rows.append(price)
        for alias in row.aliases or []:
            rows.append(Price(**{**price.__dict__, "model": str(alias).lower()}))
        if row.match_pattern:
            try:
                patterns.append((re.compile(row.match_pattern, re.IGNORECASE), price))
            except re.error:
                pass  # the admin form validates patterns; a bad one in the data is skipped, not fatal
    return _Catalog(rows, patterns)


def _catalog() -> _Catalog:
    with _lock:
        catalog = _state["catalog"]
        fresh = time.monotonic() - float(_state["loaded_at"]) < settings.PRICE_CACHE_SECONDS  # type: ignore[arg-type]
        if isinstance(catalog, _Catalog) and fresh:
            return catalog
    catalog = _load()
    with _lock:
        _state["catalog"] = catalog
        _state["loaded_at"] = time.monotonic()
    _cached_lookup.cache_clear()
    return catalog


@lru_cache(maxsize=4096)
def _cached_lookup(project_id: int | None, provider: str, model: str, on: date) -> Price | None:
    return _catalog().lookup(project_id, provider, model, on)


def price_for(project_id: int | None, provider: str, model: str, on: date) -> Price | None:
    if not model:
        return None
    _catalog()  # refreshes (and clears the memo) when the table is stale
    return _cached_lookup(project_id, provider or "", model, on)


def compute_cost(price: Price, *, input_tokens: int | None, output_tokens: int | None,
                 cached_input_tokens: int | None) -> Cost | None:
    """Cost of one call. Cached tokens are part of input_tokens (OTel GenAI convention), so the
    uncached part is charged at the input price and the cached part at the cached price, never both.
    Reasoning tokens are part of output_tokens and are not charged again."""
    if input_tokens is None and output_tokens is None:
        return None
    tokens_in = input_tokens or 0
    cached = min(cached_input_tokens or 0, tokens_in)
    long = price.long_threshold is not None and tokens_in > price.long_threshold
    p_in = (price.long_input if long and price.long_input is not None else price.input)
    p_out = (price.long_output if long and price.long_output is not None else price.output)
    p_cached = (price.long_cached_input if long and price.long_cached_input is not None else price.cached_input)
    if p_cached is None:
        p_cached = p_in
    input_usd = (Decimal(tokens_in - cached) * p_in + Decimal(cached) * p_cached) / MILLION
    output_usd = Decimal(output_tokens or 0) * p_out / MILLION
    return Cost(input_usd=input_usd, output_usd=output_usd, total_usd=input_usd + output_usd)


def cost_fields(*, project_id: int | None, provider: str, model: str, on: date, input_tokens: int | None,
                output_tokens: int | None, cached_input_tokens: int | None) -> dict[str, object]:
    """The cost columns of a call (telemetry.Call names) from the table: computed, or unknown (unpriced)."""
    price = price_for(project_id, provider, model, on)
    cost = None if price is None else compute_cost(price, input_tokens=input_tokens, output_tokens=output_tokens,
                                                   cached_input_tokens=cached_input_tokens)
    if cost is None:
        return {"cost_input_usd": None, "cost_output_usd": None, "cost_total_usd": None, "cost_source": "unknown"}
    return {"cost_input_usd": cost.input_usd, "cost_output_usd": cost.output_usd, "cost_total_usd": cost.total_usd,
            "cost_source": "computed"}
