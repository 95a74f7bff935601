"""One prompt's versions side by side, from the rollups: calls, latency percentiles, error rate,
cost and tokens per call, each score's average, each flag's rate and the thumbs-down rate, each
with its change against the version before it. The prompts app builds its experiments on the
same figures; this is the plain comparison."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from dashboards.context import Page
from dashboards.selectors import group_label
from dashboards.selectors.analytics import directions, plain_name
from rollups.selectors import MetricsError, Query, aggregate, score_totals

CALL_MEASURES = ["count", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99", "cost",
                 "tokens_total"]
# (key, label, unit, is higher worse?) of the columns every version has. Units: "count", "ms", "rate",
# "usd", "tokens"; a rate's change is in percentage points, the others' relative.
COLUMNS = [("count", "Calls", "count", None), ("latency_p50", "p50", "ms", True), ("latency_p95", "p95", "ms", True),
           ("latency_p99", "p99", "ms", True), ("error_rate", "Error rate", "rate", True),
           ("cost_per_call", "Cost / call", "usd", True), ("tokens_per_call", "Tokens / call", "tokens", True),
           ("thumbs_down_rate", "Thumbs-down rate", "rate", True)]


def version_order(version: str) -> tuple[Any, ...]:
    """"v2" before "v10", numbers before words; the empty version (calls without one) last."""
    parts = re.findall(r"\d+|\D+", version)
    return (version == "", [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts])


def _by_version(rows: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(key[-1] or ""): values for key, values in rows.items()}


def prompt_version_comparison(page: Page, prompt: str) -> dict[str, Any]:
    """{"prompt", "columns", "scores", "flags", "rows", "scores_note"}: one row per version of
    `prompt` seen in the range (oldest first), each {"version", "values": {key: value},
    "changes": {key: change or None}}. Score and flag columns are the names seen on the prompt's
    calls; with global filters outside the prompt cube they are left out (scores_note says why)."""
    filters = {dim: values for dim, values in page.filters.items() if dim not in ("prompt_name", "prompt_version")}
    query = replace(page.query(group_by=("prompt_name", "prompt_version"), filters=filters),
                    filters={**filters, "prompt_name": [prompt]})
    values = {version: dict(row) for version, row in _by_version(aggregate(query, CALL_MEASURES)).items()}
    feedback = _by_version(aggregate(query, ["thumbs_count", "thumbs_down_rate"]))
    for version, row in values.items():
        count = row.get("count") or 0
        row["cost_per_call"] = float(row["cost"]) / count if count and row.get("cost") is not None else None
        row["tokens_per_call"] = row["tokens_total"] / count if count and row.get("tokens_total") is not None else None
        row["thumbs_down_rate"] = feedback.get(version, {}).get("thumbs_down_rate")
    scores, flags, note = [], [], ""
    try:
        worse = directions(page.project.id)
        totals = score_totals(replace(query, group_by=()))
        for name in sorted(totals):
            by_version = _by_version(aggregate(replace(query, score=name), ["score_avg"]))
            scores.append((f"score:{name}", plain_name(name), "score", worse(name)))
            for version, row in values.items():
                row[f"score:{name}"] = by_version.get(version, {}).get("score_avg")
        for name in sorted(score_totals(replace(query, group_by=()), prefix="flag:")):
            by_version = _by_version(aggregate(replace(query, score=name), ["flag_rate"]))
            flags.append((name, f"{name.removeprefix('flag:')} rate", "rate", True))
            for version, row in values.items():
                row[name] = by_version.get(version, {}).get("flag_rate")
    except MetricsError:
        scores, flags = [], []
        note = "Scores and flags are rolled up by prompt alone: clear the other filters to compare them."
    columns = [*COLUMNS, *scores, *flags]
    rows, previous = [], None
    for version in sorted(values, key=version_order):
        row = values[version]
        changes = {key: _change(row.get(key), previous.get(key), unit)
                   for key, _, unit, _ in columns} if previous else None
        rows.append({"version": version, "label": group_label(("prompt_name", "prompt_version"), (prompt, version)),
                     "values": row, "changes": changes})
        previous = row if version else previous
    return {"prompt": prompt, "columns": [{"key": k, "label": label, "unit": unit, "worse_up": up}
                                          for k, label, unit, up in columns],
            "rows": rows, "scores_note": note}


def _change(now: Any, before: Any, unit: str) -> dict[str, Any] | None:
    """{"value", "kind"}: percentage points for rates, a plain difference for scores, relative
    otherwise (None when either side is missing, or relative to zero)."""
    if now is None or before is None:
        return None
    now, before = float(now), float(before)
    if unit == "rate":
        return {"value": (now - before) * 100, "kind": "pp"}
    if unit == "score":
        return {"value": now - before, "kind": "abs"}
    if before == 0:
        return None
    return {"value": (now - before) / before * 100, "kind": "pct"}


def prompts_seen(page: Page) -> list[str]:
    """Prompt names with calls in the range (the global filters apply), most calls first."""
    filters = {dim: values for dim, values in page.filters.items() if dim not in ("prompt_name", "prompt_version")}
    rows = aggregate(Query(project_id=page.project.id, start=page.start, end=page.end, filters=filters,
                           group_by=("prompt_name",), tz=page.tz), ["count"])
    return [key[-1] for key, row in sorted(rows.items(), key=lambda kv: -(kv[1]["count"] or 0)) if key[-1]]
