"""Cells of the prompt-version comparison (dashboards/selectors/versions.py): a value in its
column's unit, and its change against the previous version, green when it moved the good way."""
from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from dashboards.templatetags.obs import DASH, compact, duration, pct, usd

register = template.Library()


def _value(value: Any, unit: str) -> str:
    if value is None:
        return DASH
    if unit == "ms":
        return duration(value)
    if unit == "rate":
        return pct(value)
    if unit == "usd":
        return usd(value)
    if unit == "tokens":
        return f"{float(value):,.0f}"
    if unit == "score":
        return f"{float(value):.3f}"
    return compact(value)


@register.simple_tag
def version_cell(row: dict[str, Any], column: dict[str, Any]) -> str:
    key, unit = column["key"], column["unit"]
    change = row["changes"].get(key) if row["changes"] else None
    if change is None:
        return format_html("{}", _value(row["values"].get(key), unit))
    amount = change["value"]
    text = {"pp": f"{amount:+.1f} pp", "abs": f"{amount:+.3f}", "pct": f"{amount:+.0f}%"}[change["kind"]]
    small = abs(amount) < (0.05 if change["kind"] == "pp" else 0.0005 if change["kind"] == "abs" else 0.5)
    tone = "muted" if column["worse_up"] is None or small else (
        "bad" if (amount > 0) == column["worse_up"] else "good")
    return format_html('{} <span class="delta {}" title="vs the previous version">{}</span>',
                       _value(row["values"].get(key), unit), tone, text)
