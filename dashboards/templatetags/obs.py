"""Number formatting for the dashboards: $0.0042, 1.2k, 950 ms, 2.3 s, 12.5%, and the change of a
tile against the previous period. Pure functions, also used by the chart builders."""
from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import format_html

register = template.Library()
DASH = "–"


@register.filter
def usd(value: Any) -> str:
    """One precision everywhere: two decimals ($0.50, $12.35, $1,234.00), and two significant
    digits below a dollar where two decimals would hide the amount ($0.012, $0.000034): LLM calls
    cost fractions of a cent, and a cost must never read as "$0.00" when it is not zero."""
    if value is None:
        return DASH
    amount = float(value)
    if amount == 0 or not math.isfinite(amount):
        return "$0.00" if amount == 0 else DASH
    decimals = max(2, -math.floor(math.log10(abs(amount))) + 1)
    text = f"{amount:,.{decimals}f}"
    if decimals > 2:  # a rounding carry (0.0996 -> 0.100) leaves zeros the rule does not need
        whole, _, fraction = text.partition(".")
        text = f"{whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


@register.filter
def compact(value: Any) -> str:
    """1.2k, 3.4M: counts and tokens."""
    if value is None:
        return DASH
    number = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            text = f"{number / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


@register.filter
def duration(value: Any) -> str:
    """Milliseconds in, 950 ms / 2.3 s / 4.1 min out."""
    if value is None:
        return DASH
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def score(value: Any) -> str:
    return DASH if value is None else f"{float(value):.2f}"


def change(current: Any, previous: Any) -> float | None:
    if current is None or previous is None:
        return None
    cur, prev = float(current), float(previous)
    if prev == 0:
        return None
    return (cur - prev) / abs(prev)


@register.simple_tag
def delta(current: Any, previous: Any, good: str = "down") -> str:
    """'▲ 12%' against the previous period; green when it moved the good way. good: up|down|none."""
    ratio = change(current, previous)
    if ratio is None:
        return format_html('<span class="delta muted" title="no previous figure">{}</span>', "new" if
                           current not in (None, 0) and previous in (None, 0) else DASH)
    arrow = "▲" if ratio > 0 else ("▼" if ratio < 0 else "=")
    tone = "muted" if good == "none" or abs(ratio) < 0.005 else (
        "good" if (ratio < 0) == (good == "down") else "bad")
    return format_html('<span class="delta {}" title="vs previous period">{} {}</span>', tone, arrow,
                       f"{abs(ratio) * 100:.0f}%")


@register.filter
def pretty_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float, Decimal)) else None


@register.inclusion_tag("dashboards/_chart.html")
def chart(fig: dict[str, Any], chart_id: str) -> dict[str, Any]:
    """{% chart figure "cost-by-model" %}: a figure from dashboards.charts, drawn by app.js."""
    return {"fig": fig, "id": chart_id, "data_id": f"{chart_id}-data",
            "title": fig.get("layout", {}).get("title", {}).get("text", "chart")}


@register.filter
def truncation(value: Any) -> dict[str, Any] | None:
    """The marker of a payload cut at ingest (ingest.payloads), or None: {% with cut=p|truncation %}."""
    from ingest.payloads import is_marker

    return value if is_marker(value) else None


@register.filter
def payload_shape(value: Any) -> dict[str, Any]:
    """A payload shaped for _calls_payload.html, as the call detail view shapes its own."""
    from dashboards.views.call_detail import shape

    return shape(value)
