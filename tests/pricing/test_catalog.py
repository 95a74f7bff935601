"""Cost from the shipped price table: snapshots, prefixes, overrides, cached tokens, unknown models."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command

from pricing.catalog import candidate_names, compute_cost, price_for
from pricing.models import ModelPrice
from pricing.services import prices_load
from telemetry.models import Call
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 20)


@pytest.mark.parametrize("sent, expected", [
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("openai/gpt-4o", "gpt-4o"),
    ("GPT-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("claude-3-5-sonnet@20241022", "claude-3-5-sonnet"),
])
def test_snapshots_and_prefixes_resolve(prices: None, sent: str, expected: str) -> None:
    price = price_for(None, "", sent, TODAY)
    assert price is not None and price.model == expected


def test_a_dated_snapshot_with_its_own_price_beats_the_alias(prices: None) -> None:
    snapshot = price_for(None, "openai", "gpt-4o-2024-05-13", TODAY)
    alias = price_for(None, "openai", "gpt-4o", TODAY)
    assert snapshot is not None and alias is not None
    assert snapshot.model == "gpt-4o-2024-05-13" and snapshot.input != alias.input


def test_unknown_models_have_no_price(prices: None) -> None:
    assert price_for(None, "acme", "acme-llm-9000", TODAY) is None
    assert price_for(None, "openai", "", TODAY) is None


def test_candidate_names_strip_only_suffixes() -> None:
    assert candidate_names("gpt-4o-mini-2024-07-18")[:3] == ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]


def test_cached_tokens_are_charged_at_the_cached_price_once(prices: None) -> None:
    price = price_for(None, "openai", "gpt-4o", TODAY)
    assert price is not None and price.cached_input is not None
    cost = compute_cost(price, input_tokens=1_000_000, output_tokens=1_000_000, cached_input_tokens=400_000)
    assert cost is not None
    assert cost.input_usd == Decimal(600_000) * price.input / 10**6 + Decimal(400_000) * price.cached_input / 10**6
    assert cost.output_usd == price.output
    assert cost.total_usd == cost.input_usd + cost.output_usd


def test_long_context_tier_applies_above_the_threshold(prices: None) -> None:
    row = ModelPrice.objects.filter(project=None, long_context_threshold__isnull=False).first()
    assert row is not None
    price = price_for(None, row.provider, row.model, TODAY)
    assert price is not None and price.long_threshold == row.long_context_threshold
    below = compute_cost(price, input_tokens=row.long_context_threshold, output_tokens=0, cached_input_tokens=0)
    above = compute_cost(price, input_tokens=row.long_context_threshold + 1, output_tokens=0, cached_input_tokens=0)
    assert below.input_usd == Decimal(row.long_context_threshold) * row.input_per_mtok / 10**6
    assert above.input_usd == Decimal(row.long_context_threshold + 1) * row.long_input_per_mtok / 10**6


def test_newest_effective_price_wins(project: Any, prices: None) -> None:
    ModelPrice.objects.create(project=None, provider="acme", model="acme-1", input_per_mtok=1, output_per_mtok=2,
                              effective_date=date(2025, 1, 1))
    ModelPrice.objects.create(project=None, provider="acme", model="acme-1", input_per_mtok=3, output_per_mtok=4,
                              effective_date=date(2026, 1, 1))
    assert price_for(None, "acme", "acme-1", date(2025, 6, 1)).input == 1
    assert price_for(None, "acme", "acme-1", date(2026, 6, 1)).input == 3


def test_a_project_override_wins_for_that_project_only(project: Any, other_project: Any, prices: None) -> None:
    ModelPrice.objects.create(project=project, provider="openai", model="gpt-4o", input_per_mtok=Decimal("0.01"),
                              output_per_mtok=Decimal("0.02"), effective_date=date(2020, 1, 1))
    assert price_for(project.id, "openai", "gpt-4o-2024-08-06", TODAY).input == Decimal("0.01")
    assert price_for(other_project.id, "openai", "gpt-4o", TODAY).input != Decimal("0.01")


def test_a_project_can_add_a_model_by_pattern(project: Any, api: Api, prices: None) -> None:
    ModelPrice.objects.create(project=project, provider="internal", model="ft-support", match_pattern=r"^ft:.*support",
                              input_per_mtok=2, output_per_mtok=8, effective_date=date(2026, 1, 1))
    api.ingest([call_event(1, model="ft:gpt-4o:acme:support:abc123", provider="internal",
                           usage={"input_tokens": 1000, "output_tokens": 500})])
    call = Call.objects.get(project=project)
    assert call.cost_source == "computed" and call.cost_total_usd == Decimal("0.006")


def test_loading_twice_changes_nothing_and_keeps_admin_edits(prices: None) -> None:
    row = ModelPrice.objects.get(project=None, provider="openai", model="gpt-4o", effective_date__isnull=False)
    row.input_per_mtok = Decimal("99")
    row.is_builtin = False
    row.save()
    result = prices_load()
    assert result["created"] == 0 and result["updated"] == 0 and result["kept_admin_edits"] == 1
    assert ModelPrice.objects.get(pk=row.pk).input_per_mtok == Decimal("99")


def test_recompute_costs_applies_a_changed_price_to_a_range(project: Any, api: Api, prices: None) -> None:
    api.ingest([call_event(1, timestamp="2026-11-01T10:00:00Z", usage={"input_tokens": 10**6, "output_tokens": 0}),
                call_event(2, timestamp="2026-11-15T10:00:00Z", usage={"input_tokens": 10**6, "output_tokens": 0}),
                call_event(3, timestamp="2026-11-15T11:00:00Z", cost_usd=1)])
    ModelPrice.objects.create(project=project, provider="openai", model="gpt-4o-mini", input_per_mtok=7,
                              output_per_mtok=7, effective_date=date(2020, 1, 1))
    call_command("recompute_costs", "--from", "2026-11-10", "--to", "2026-11-20", "--project", str(project.id))
    costs = dict(Call.objects.filter(project=project).values_list("external_id", "cost_total_usd"))
    assert costs["call-2"] == Decimal(7)
    assert costs["call-1"] != Decimal(7)  # outside the range
    assert costs["call-3"] == Decimal(1)  # provided costs are never recomputed


def test_shipped_table_names_its_sources(prices: None) -> None:
    assert ModelPrice.objects.filter(project=None).count() >= 60
    assert not ModelPrice.objects.filter(project=None, source="").exists()
    assert {"openai", "anthropic", "google", "mistral", "deepseek", "xai"} <= set(
        ModelPrice.objects.values_list("provider", flat=True))
