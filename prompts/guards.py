"""Guards: a limit on a metric of the version behind a label; when it is crossed (on the 95%
confidence bound for rates) the label rolls back to its previous version, once, and the guard stays
tripped until re-armed. Evaluated each minute by prompts.tasks.evaluate_guards, from the rollups."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from prompts.models import Guard, GuardMetric, GuardState, Label, Prompt
from prompts.services import Actor, PromptError, audit, check_protected, label_rollback, validate_label

# Φ⁻¹(0.95), scipy.stats.norm.ppf(0.95), written out: importing scipy here would load it in every web
# process at start (~40 MB) for one constant (tests/prompts check it against scipy).
Z_ONE_SIDED_95 = 1.6448536269514722
RATES = {GuardMetric.ERROR_RATE, GuardMetric.FLAG_RATE, GuardMetric.THUMBS_DOWN_RATE}


def wilson_lower(successes: int, n: int, z: float = Z_ONE_SIDED_95) -> float:
    """The lower Wilson score bound of a proportion."""
    if n <= 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def guard_create(*, prompt: Prompt, label: str, metric: str, threshold: float, actor: Actor, flag: str = "",
                 min_sample: int = 100, window_minutes: int = 60) -> Guard:
    validate_label(label)
    if metric not in GuardMetric.values:
        raise PromptError(400, "invalid", f"metric: one of {', '.join(GuardMetric.values)}", {"metric": "unknown"})
    if metric == GuardMetric.FLAG_RATE and not flag:
        raise PromptError(400, "invalid", "flag: a flag_rate guard names its flag", {"flag": "required"})
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
                                     min_sample=min_sample, window_minutes=window_minutes,
                                     created_by=actor.label[:255])
        audit(prompt, actor, "prompt.guard_created", before=None,
               after={"guard": guard.pk, "label": label, "metric": metric, "flag": flag, "threshold": threshold})
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


def guard_figures(guard: Guard, *, now: datetime) -> dict[str, Any] | None:
    """The guard's metric over the calls of the label's current version since it moved there
    (at most `window_minutes`): {version, n, value, bound, start}; None without the label."""
    from rollups.selectors import Query, aggregate, flag_totals

    label = Label.objects.select_related("version").filter(prompt_id=guard.prompt_id, name=guard.label).first()
    if label is None:
        return None
    start = max(now - timedelta(minutes=guard.window_minutes), label.updated_at)
    version = label.version.version
    query = Query(project_id=guard.prompt.project_id, start=start, end=now,
                  filters={"prompt_name": [guard.prompt.name], "prompt_version": [str(version)]})
    n, successes, value = 0, 0, None
    if guard.metric == GuardMetric.FLAG_RATE:
        row = flag_totals(query).get(guard.flag, {})
        n, successes = int(row.get("evaluated") or 0), int(row.get("count") or 0)
    elif guard.metric == GuardMetric.THUMBS_DOWN_RATE:
        row = next(iter(aggregate(query, ["thumbs_down", "thumbs_count"]).values()), {})
        n, successes = int(row.get("thumbs_count") or 0), int(row.get("thumbs_down") or 0)
    else:
        row = next(iter(aggregate(query, ["count", "errors", "cost", "latency_p95"]).values()), {})
        n = int(row.get("count") or 0)
        successes = int(row.get("errors") or 0)
        if guard.metric == GuardMetric.LATENCY_P95:
            value = row.get("latency_p95")
        elif guard.metric == GuardMetric.COST_PER_CALL:
            value = float(row["cost"]) / n if n and row.get("cost") is not None else None
    if guard.metric in RATES:
        value = successes / n if n else None
        bound = wilson_lower(successes, n) if n else None
    else:
        bound = value  # no variance in the rollups for these: the value itself
    return {"version": version, "n": n, "value": value, "bound": bound, "start": start.isoformat()}


def guard_check(guard: Guard, *, now: datetime | None = None) -> bool:
    """Evaluate one armed guard; True when it tripped (and rolled the label back) now."""
    now = now or timezone.now()
    figures = guard_figures(guard, now=now)
    trips = bool(figures and figures["n"] >= guard.min_sample and figures["bound"] is not None
                 and figures["bound"] > guard.threshold)
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
        what = f"{guard.metric}{f' {guard.flag}' if guard.flag else ''}"
        label_rollback(prompt=guard.prompt, label=guard.label, actor=Actor.system("guard"),
                       reason=f"guard tripped: {what} bound {figures['bound']:.4g} > {guard.threshold:g} "
                              f"over {figures['n']} (version {figures['version']})", details=details)
    return True


def guards_evaluate(*, now: datetime | None = None) -> int:
    """Check every armed guard; the number that tripped."""
    tripped = 0
    for guard in Guard.objects.filter(state=GuardState.ARMED).select_related("prompt"):
        tripped += guard_check(guard, now=now)
    return tripped
