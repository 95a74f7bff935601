"""Guards: a limit on a metric of the version behind a label; when it is crossed the label rolls back
to its previous version, once, and the guard stays tripped until re-armed. Evaluated each minute by
prompts.tasks.evaluate_guards, from the rollups.

Two kinds of limit (Guard.compare):
- threshold: the metric's one-sided 95% confidence bound passes the threshold (Wilson for rates,
  the normal bound from the rollups' sums of squares for cost per call and score averages; p95
  latency on its value);
- previous: the version is worse than the one the label pointed at before by more than the
  threshold (a margin), on the one-sided bound of the always-valid confidence sequence of the
  difference (prompts.stats), so checking every minute never inflates false trips."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from prompts import stats
from prompts.models import Guard, GuardCompare, GuardMetric, GuardState, Label, Prompt
from prompts.services import (
    Actor,
    PromptError,
    audit,
    check_protected,
    label_rollback,
    previous_version,
    validate_label,
)

# Φ⁻¹(0.95), scipy.stats.norm.ppf(0.95), written out: importing scipy here would load it in every web
# process at start (~40 MB) for one constant (tests/prompts check it against scipy).
Z_ONE_SIDED_95 = 1.6448536269514722
RATES = {GuardMetric.ERROR_RATE, GuardMetric.FLAG_RATE, GuardMetric.THUMBS_DOWN_RATE}
HIGHER_IS_BETTER = {GuardMetric.SCORE_AVG}


def wilson_lower(successes: int, n: int, z: float = Z_ONE_SIDED_95) -> float:
    """The lower Wilson score bound of a proportion."""
    if n <= 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def guard_create(*, prompt: Prompt, label: str, metric: str, threshold: float, actor: Actor, flag: str = "",
                 min_sample: int = 100, window_minutes: int = 60, score: str = "",
                 compare: str = GuardCompare.THRESHOLD) -> Guard:
    validate_label(label)
    if metric not in GuardMetric.values:
        raise PromptError(400, "invalid", f"metric: one of {', '.join(GuardMetric.values)}", {"metric": "unknown"})
    if compare not in GuardCompare.values:
        raise PromptError(400, "invalid", f"compare: one of {', '.join(GuardCompare.values)}", {"compare": "unknown"})
    if metric == GuardMetric.FLAG_RATE and not flag:
        raise PromptError(400, "invalid", "flag: a flag_rate guard names its flag", {"flag": "required"})
    if metric == GuardMetric.SCORE_AVG and (not isinstance(score, str) or not 0 < len(score) <= 120):
        raise PromptError(400, "invalid", "score: a score_avg guard names its score (as the metrics API does: "
                                          "`helpfulness`, or `human:helpfulness` for client scores)",
                          {"score": "required"})
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or threshold < 0 or (metric in RATES and threshold >= 1):
        raise PromptError(400, "invalid", "threshold: a number ≥ 0 (a rate below 1)", {"threshold": "out of range"})
    if not isinstance(min_sample, int) or min_sample < 1 or not isinstance(window_minutes, int) \
            or not 1 <= window_minutes <= 7 * 24 * 60:
        raise PromptError(400, "invalid", "min_sample ≥ 1 and window_minutes 1 to 10080",
                          {"min_sample": "≥ 1", "window_minutes": "1 to 10080"})
    with transaction.atomic():
        check_protected(Label.objects.filter(prompt=prompt, name=label).first(), label, actor)
        guard = Guard.objects.create(prompt=prompt, label=label, metric=metric, flag=flag, threshold=float(threshold),
                                     min_sample=min_sample, window_minutes=window_minutes, compare=compare,
                                     score=score if metric == GuardMetric.SCORE_AVG else "",
                                     created_by=actor.label[:255])
        audit(prompt, actor, "prompt.guard_created", before=None,
               after={"guard": guard.pk, "label": label, "metric": metric, "flag": flag, "score": guard.score,
                      "compare": compare, "threshold": threshold})
    return guard


def guard_rearm(*, guard: Guard, actor: Actor) -> Guard:
    with transaction.atomic():
        prompt = guard.prompt
        check_protected(Label.objects.filter(prompt=prompt, name=guard.label).first(), guard.label, actor)
        if Guard.objects.filter(pk=guard.pk, state=GuardState.TRIPPED).update(state=GuardState.ARMED,
                                                                                tripped_at=None):
            audit(prompt, actor, "prompt.guard_rearmed", before={"guard": guard.pk, "state": "tripped"},
                   after={"guard": guard.pk, "state": "armed"})
    guard.refresh_from_db()
    return guard


def version_figures(guard: Guard, version: int, *, start: datetime, end: datetime) -> dict[str, Any]:
    """The guard's metric over the calls of `version` in [start, end), from the rollups:
    {n, value, variance (of one observation; None when unknown), successes (rates)}."""
    from rollups.selectors import Query, aggregate, flag_totals, score_totals
    from rollups.selectors.scores import cost_moments

    query = Query(project_id=guard.prompt.project_id, start=start, end=end,
                  filters={"prompt_name": [guard.prompt.name], "prompt_version": [str(version)]})
    n, successes, value, variance = 0, 0, None, None
    if guard.metric == GuardMetric.FLAG_RATE:
        row = flag_totals(query).get(guard.flag, {})
        n, successes = int(row.get("evaluated") or 0), int(row.get("count") or 0)
    elif guard.metric == GuardMetric.THUMBS_DOWN_RATE:
        row = next(iter(aggregate(query, ["thumbs_down", "thumbs_count"]).values()), {})
        n, successes = int(row.get("thumbs_count") or 0), int(row.get("thumbs_down") or 0)
    elif guard.metric == GuardMetric.ERROR_RATE:
        row = next(iter(aggregate(query, ["count", "errors"]).values()), {})
        n, successes = int(row.get("count") or 0), int(row.get("errors") or 0)
    elif guard.metric == GuardMetric.LATENCY_P95:
        row = next(iter(aggregate(query, ["count", "latency_p95"]).values()), {})
        n, value = int(row.get("count") or 0), row.get("latency_p95")
    elif guard.metric == GuardMetric.COST_PER_CALL:
        row = next(iter(cost_moments(query).values()), {})
        n = int(row.get("count") or 0)
        spread = stats.moments(n, row.get("cost", 0.0), row.get("cost_sumsq", 0.0))
        value, variance = spread if spread else (row["cost"] / n if n else None, None)
    elif guard.metric == GuardMetric.SCORE_AVG:
        row = score_totals(query).get(guard.score, {})
        n = int(row.get("count") or 0)
        spread = stats.moments(n, row.get("sum", 0.0), row.get("sumsq", 0.0))
        value, variance = spread if spread else (row.get("avg"), None)
    if guard.metric in RATES:
        value = successes / n if n else None
        variance = value * (1 - value) if value is not None else None
    return {"version": version, "n": n, "value": value, "variance": variance, "successes": successes}


def _threshold_bound(guard: Guard, figures: dict[str, Any]) -> float | None:
    """The one-sided 95% bound on the side that trips: the lower bound (upper for scores)."""
    n, value, variance = figures["n"], figures["value"], figures["variance"]
    if value is None:
        return None
    if guard.metric in RATES:
        return wilson_lower(figures["successes"], n)
    if variance is None:  # p95 latency: no variance kept for it; the value itself
        return value
    margin = Z_ONE_SIDED_95 * math.sqrt(variance / n)
    return value + margin if guard.metric in HIGHER_IS_BETTER else value - margin


def guard_figures(guard: Guard, *, now: datetime) -> dict[str, Any] | None:
    """The guard's figures over the calls of the label's current version since it moved there
    (at most `window_minutes`): {version, n, value, bound, start, trips, ...}; None without the
    label. With compare=previous, also the previous version's figures (over the window before the
    move and since) and the always-valid bound on how much worse the current one is."""
    label = Label.objects.select_related("version").filter(prompt_id=guard.prompt_id, name=guard.label).first()
    if label is None:
        return None
    start = max(now - timedelta(minutes=guard.window_minutes), label.updated_at)
    current = version_figures(guard, label.version.version, start=start, end=now)
    out = {k: current[k] for k in ("version", "n", "value")} | {"start": start.isoformat(), "compare": guard.compare}
    if guard.compare == GuardCompare.THRESHOLD:
        bound = _threshold_bound(guard, current)
        out["bound"] = bound
        worse = bound is not None and (bound < guard.threshold if guard.metric in HIGHER_IS_BETTER
                                       else bound > guard.threshold)
        out["trips"] = bool(current["n"] >= guard.min_sample and worse)
        return out
    before = previous_version(label)
    out.update(previous=None, bound=None, trips=False)
    if before is None:
        return out
    since = label.updated_at - timedelta(minutes=guard.window_minutes)
    prior = version_figures(guard, before.version, start=since, end=now)
    out["previous"] = {k: prior[k] for k in ("version", "n", "value")}
    if current["value"] is None or prior["value"] is None or min(current["n"], prior["n"]) < guard.min_sample:
        return out
    # How much worse the current version is (positive = worse), and its always-valid lower bound.
    sign = -1 if guard.metric in HIGHER_IS_BETTER else 1
    worse_by = sign * (current["value"] - prior["value"])
    if current["variance"] is None or prior["variance"] is None:
        # p95 latency: no variance in the rollups; the difference itself against the margin.
        out["bound"] = worse_by
    else:
        variance = current["variance"] / current["n"] + prior["variance"] / prior["n"]
        # The two-sided sequence at level 0.05 used on one side: valid, and conservative.
        out["bound"] = worse_by - stats.sequential_halfwidth(variance, current["n"] + prior["n"])
    out["worse_by"] = worse_by
    out["trips"] = out["bound"] > guard.threshold
    return out


def guard_check(guard: Guard, *, now: datetime | None = None) -> bool:
    """Evaluate one armed guard; True when it tripped (and rolled the label back) now."""
    now = now or timezone.now()
    figures = guard_figures(guard, now=now)
    trips = bool(figures and figures.pop("trips"))
    with transaction.atomic():
        if not trips:
            Guard.objects.filter(pk=guard.pk).update(last_checked_at=now, last_value=figures or {})
            return False
        # The conditional update is the claim: of two workers checking at once, one rolls back.
        if not Guard.objects.filter(pk=guard.pk, state=GuardState.ARMED).update(
                state=GuardState.TRIPPED, tripped_at=now, last_checked_at=now, last_value=figures):
            return False
        details = {"guard": guard.pk, "metric": guard.metric, "flag": guard.flag, "threshold": guard.threshold,
                   **figures}
        what = f"{guard.metric}{f' {guard.flag}' if guard.flag else ''}{f' {guard.score}' if guard.score else ''}"
        if guard.compare == GuardCompare.PREVIOUS:
            why = (f"worse than v{figures['previous']['version']} by at least {figures['bound']:.4g} "
                   f"(margin {guard.threshold:g})")
        else:
            side = "<" if guard.metric in HIGHER_IS_BETTER else ">"
            why = f"bound {figures['bound']:.4g} {side} {guard.threshold:g}"
        label_rollback(prompt=guard.prompt, label=guard.label, actor=Actor.system("guard"),
                       reason=f"guard tripped: {what} {why} over {figures['n']} (version {figures['version']})",
                       details=details)
    return True


def guards_evaluate(*, now: datetime | None = None) -> int:
    """Check every armed guard; the number that tripped."""
    tripped = 0
    for guard in Guard.objects.filter(state=GuardState.ARMED).select_related("prompt"):
        tripped += guard_check(guard, now=now)
    return tripped
