"""Writes for prices: load the shipped table, recompute stored costs after a change."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from pricing import catalog
from pricing.models import ModelPrice

SHIPPED_TABLE = Path(__file__).resolve().parent / "data" / "prices.json"


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def prices_load(*, path: Path = SHIPPED_TABLE) -> dict[str, int]:
    """Upsert the shipped table as global rows. Rows edited by an admin (is_builtin=False) are kept."""
    data = json.loads(path.read_text())
    sources: dict[str, str] = data.get("sources", {})
    created = updated = kept = 0
    with transaction.atomic():
        for entry in data["models"]:
            long = entry.get("long_context") or {}
            values = {
                "aliases": entry.get("aliases", []),
                "input_per_mtok": _dec(entry["input"]),
                "output_per_mtok": _dec(entry["output"]),
                "cached_input_per_mtok": _dec(entry.get("cached_input")),
                "long_context_threshold": long.get("threshold_tokens"),
                "long_input_per_mtok": _dec(long.get("input")),
                "long_output_per_mtok": _dec(long.get("output")),
                "long_cached_input_per_mtok": _dec(long.get("cached_input")),
                "source": sources.get(entry.get("source", ""), entry.get("source", "")),
                "is_builtin": True,
            }
            key = {"project": None, "provider": entry["provider"], "model": entry["model"].lower(),
                   "effective_date": date.fromisoformat(entry["effective_date"])}
            row = ModelPrice.objects.filter(**key).first()
            if row is None:
                ModelPrice.objects.create(**key, **values)
                created += 1
            elif not row.is_builtin:
                kept += 1
            else:
                changed = [name for name, value in values.items() if getattr(row, name) != value]
                if changed:
                    for name in changed:
                        setattr(row, name, values[name])
                    row.save(update_fields=[*changed, "updated_at"])
                    updated += 1
    catalog.invalidate()
    return {"created": created, "updated": updated, "kept_admin_edits": kept}


def costs_recompute(*, project_id: int | None, start: datetime, end: datetime, model: str | None = None,
                    batch_size: int = 2000) -> int:
    """Recompute computed/unknown costs for calls in [start, end). Provided costs are never touched."""
    from telemetry.models import Call, CostSource

    catalog.invalidate()
    qs = Call.objects.filter(start_time__gte=start, start_time__lt=end).exclude(cost_source=CostSource.PROVIDED)
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    if model:
        qs = qs.filter(model=model)
    changed = 0
    last_id = 0
    fields = ["id", "project_id", "provider", "model", "start_time", "input_tokens", "output_tokens",
              "cached_input_tokens"]
    while True:
        batch = list(qs.filter(id__gt=last_id).order_by("id").only(*fields)[:batch_size])
        if not batch:
            return changed
        last_id = batch[-1].id
        for call in batch:
            apply_price(call)
        with transaction.atomic():
            Call.objects.bulk_update(batch, ["cost_input_usd", "cost_output_usd", "cost_total_usd", "cost_source"])
        changed += len(batch)


def apply_price(call: Any) -> None:
    """Set the cost fields of a call (a telemetry.Call) from the catalog."""
    for name, value in catalog.cost_fields(
            project_id=call.project_id, provider=call.provider, model=call.model, on=call.start_time.date(),
            input_tokens=call.input_tokens, output_tokens=call.output_tokens,
            cached_input_tokens=call.cached_input_tokens).items():
        setattr(call, name, value)


def price_override_create(*, project: Any, model: str, input_per_mtok: Decimal, output_per_mtok: Decimal,
                          cached_input_per_mtok: Decimal | None = None, provider: str = "", match_pattern: str = "",
                          effective_date: date | None = None) -> ModelPrice:
    """A project's own price for a model (or, with `match_pattern`, for every model whose name matches
    and that has no price of its own). New calls use it at once in this process (pricing.signals),
    within OBSERVATORY_PRICE_CACHE_SECONDS in the workers; stored calls keep their cost."""
    from django.utils import timezone

    # The catalog compares lower-cased names (pricing.catalog._load); store them that way too,
    # so the unique constraint sees "GPT-X" and "gpt-x" as the same model.
    return ModelPrice.objects.create(
        project=project, provider=provider.strip().lower(), model=model.strip().lower(), match_pattern=match_pattern,
        input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok, cached_input_per_mtok=cached_input_per_mtok,
        effective_date=effective_date or timezone.now().date(), source="project settings", is_builtin=False)


def price_override_delete(*, price: ModelPrice) -> None:
    if price.project_id is None:
        raise ValueError("shipped (global) prices are not deleted here; edit them in the admin")
    price.delete()
