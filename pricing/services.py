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


PRICE_FIELDS = ["provider", "model", "match_pattern", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
                "long_context_threshold", "long_input_per_mtok", "long_output_per_mtok", "long_cached_input_per_mtok",
                "effective_date", "source"]


def _price_values(price: ModelPrice) -> dict[str, Any]:
    return {name: getattr(price, name) for name in PRICE_FIELDS}


def _price_audit(*, actor: Any, action: str, price: ModelPrice, before: dict[str, Any] | None,
                 after: dict[str, Any] | None) -> None:
    from audit.services import audit_record

    project = price.project
    audit_record(actor=actor, action=action, organization=project.organization_id if project else None,
                 project=project, target_type="model_price", target_id=price.pk,
                 target_label=f"{price.model or price.match_pattern} from {price.effective_date}",
                 before=before, after=after)


def price_override_create(*, project: Any, model: str, input_per_mtok: Decimal, output_per_mtok: Decimal,
                          cached_input_per_mtok: Decimal | None = None, provider: str = "", match_pattern: str = "",
                          effective_date: date | None = None, actor: Any = "system") -> ModelPrice:
    """A project's own price for a model (or, with `match_pattern`, for every model whose name matches
    and that has no price of its own). New calls use it at once in this process (pricing.signals),
    within OBSERVATORY_PRICE_CACHE_SECONDS in the workers; stored calls keep their cost."""
    from django.utils import timezone

    # The catalog compares lower-cased names (pricing.catalog._load); store them that way too,
    # so the unique constraint sees "GPT-X" and "gpt-x" as the same model.
    with transaction.atomic():
        price = ModelPrice.objects.create(
            project=project, provider=provider.strip().lower(), model=model.strip().lower(),
            match_pattern=match_pattern, input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok,
            cached_input_per_mtok=cached_input_per_mtok, effective_date=effective_date or timezone.now().date(),
            source="project settings", is_builtin=False)
        _price_audit(actor=actor, action="price.override_set", price=price, before=None, after=_price_values(price))
    return price


def price_override_delete(*, price: ModelPrice, actor: Any = "system") -> None:
    if price.project_id is None:
        raise ValueError("shipped (global) prices are not deleted here; edit them in the admin")
    with transaction.atomic():
        _price_audit(actor=actor, action="price.override_deleted", price=price, before=_price_values(price),
                     after=None)
        price.delete()


def price_save(*, price: ModelPrice, actor: Any = "system") -> ModelPrice:
    """Save a price edited in the admin (a project's or a global one). It is marked as an admin's
    edit (is_builtin=False) so the next load_prices run keeps it. Project prices are audited; global
    prices belong to no organization, so their history is the admin's own log."""
    with transaction.atomic():
        stored = ModelPrice.objects.filter(pk=price.pk).first() if price.pk else None
        before = _price_values(stored) if stored is not None else None
        price.is_builtin = False
        price.save()
        if price.project_id is not None:
            from audit.services import changed

            after = _price_values(price)
            if before is None:
                _price_audit(actor=actor, action="price.override_set", price=price, before=None, after=after)
            elif stored is not None and stored.project_id != price.project_id:
                _price_audit(actor=actor, action="price.override_set", price=price, before=None, after=after)
            else:
                old, new = changed(before, after)
                if new:
                    _price_audit(actor=actor, action="price.changed", price=price, before=old, after=new)
    return price
