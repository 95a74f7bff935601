"""Writes for prices: load the shipped table, recompute stored costs after a change."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

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


def apply_price(call: object) -> None:
    """Set the cost fields of a call-like object (attributes as on telemetry.Call) from the catalog."""
    from telemetry.models import CostSource

    price = catalog.price_for(call.project_id, call.provider, call.model, call.start_time.date())  # type: ignore[attr-defined]
    cost = None if price is None else catalog.compute_cost(
        price, input_tokens=call.input_tokens, output_tokens=call.output_tokens,  # type: ignore[attr-defined]
        cached_input_tokens=call.cached_input_tokens)  # type: ignore[attr-defined]
    if cost is None:
        call.cost_input_usd = call.cost_output_usd = call.cost_total_usd = None  # type: ignore[attr-defined]
        call.cost_source = CostSource.UNKNOWN  # type: ignore[attr-defined]
    else:
        call.cost_input_usd, call.cost_output_usd, call.cost_total_usd = (  # type: ignore[attr-defined]
            cost.input_usd, cost.output_usd, cost.total_usd)
        call.cost_source = CostSource.COMPUTED  # type: ignore[attr-defined]
