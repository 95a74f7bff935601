"""Drift runs: compare each signal of a project, and of its busiest groups, between each comparison's
baseline and current windows, from the rollups only, and store the run and its findings.

Scheduling is idempotent: beat's tick inserts one run per project per interval (unique slot), the
task claims a queued run with a conditional UPDATE, so two ticks, two beats or a re-sent message
never run a project twice for one interval; a sweeper re-sends queued runs whose message was lost.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone as dj_timezone

from drift import selectors, stats, topics
from drift.models import Baseline, DriftRun, DriftSettings, Finding, RunStatus, default_comparisons
from rollups.dists import DISTS, FINISH_REASON_PREFIX, LANGUAGE_PREFIX
from tenancy.models import Project

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
# Groups compared besides the whole project: each dimension's busiest values in the current window.
GROUP_DIMENSIONS: list[tuple[str, ...]] = [("model",), ("prompt_name", "prompt_version"), ("feature",)]
MAX_GROUPS = 10  # per dimension, by current calls: bounds a run's reads at any number of values
QUEUED_STALE = timedelta(minutes=10)  # a queued run not started by then: its message was lost, re-send
RUNNING_STALE = timedelta(hours=1)  # a running run not finished by then: its worker died

NUMERIC_SIGNALS = ("latency", "ttft")
# Per-call distributions kept as reserved score rows (rollups/dists.py): signal -> rollup score name.
DIST_SIGNALS = dict(DISTS)


@dataclass(frozen=True)
class Comparison:
    """`baseline` and `current` are (start, end), or (start, end, filters) when a side is restricted to
    some calls (a pinned prompt version): the selectors apply the filters to every read of that side."""
    name: str
    baseline_kind: str
    baseline: tuple[Any, ...]
    current: tuple[Any, ...]

    @property
    def filtered(self) -> bool:
        return len(self.baseline) > 2 or len(self.current) > 2

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "baseline": self.baseline_kind,
            "baseline_start": self.baseline[0].isoformat(), "baseline_end": self.baseline[1].isoformat(),
            "current_start": self.current[0].isoformat(), "current_end": self.current[1].isoformat()}
        if self.filtered:
            out["baseline_filters"] = self.baseline[2] if len(self.baseline) > 2 else {}
            out["current_filters"] = self.current[2] if len(self.current) > 2 else {}
        return out


def comparisons_for(row: DriftSettings | None, now: datetime) -> list[Comparison]:
    """The windows of each configured comparison, ending at `now` rounded down to the hour: hourly
    buckets then hold each window exactly, and several dimensions at once (model within feature)
    are kept in hourly buckets only."""
    end = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    out = []
    for item in (row.comparisons if row else default_comparisons()):
        current = (end - timedelta(hours=int(item["current_hours"])), end)
        span = timedelta(hours=int(item.get("baseline_hours") or item["current_hours"]))
        kind = item.get("baseline", Baseline.PREVIOUS)
        if kind == Baseline.WEEK_AGO:
            baseline = (current[0] - WEEK, current[1] - WEEK)
        elif kind == Baseline.TRAILING_4W:
            baseline = (current[0] - 4 * WEEK, current[0])
        elif kind == Baseline.PINNED:
            if not (row and row.pinned_start and row.pinned_end):
                continue  # pinned without a range: nothing to compare with
            baseline = (row.pinned_start, row.pinned_end)
        elif kind == Baseline.PROMPT_VERSION:
            prompt = {"prompt_name": [str(item["prompt_name"])]}
            span = timedelta(hours=int(item.get("baseline_hours") or 24 * 28))  # the version's last 4 weeks
            baseline = (end - span, end, {**prompt, "prompt_version": [str(item["prompt_version"])]})
            current = (*current, prompt)
        else:
            baseline = (current[0] - span, current[0])
        out.append(Comparison(str(item["name"]), str(kind), baseline, current))
    return out


# --- One comparison's findings --------------------------------------------------------------------

Item = tuple[str, dict[str, str], stats.Result]  # (signal, group, result)


def _scopes(project_id: int, comparison: Comparison) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(dims, values) of the project (no dims) and each dimension's busiest groups now. A comparison of
    one prompt's calls (a pinned version) is one group already: scores are rolled up by one dimension
    at a time, so it is not split further."""
    scopes: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), ())]
    if comparison.filtered:
        return scopes
    for dims in GROUP_DIMENSIONS:
        counts = selectors.group_counts(project_id, comparison.current, dims)
        busiest = sorted((v for v in counts if any(v)), key=lambda v: (-counts[v], v))[:MAX_GROUPS]
        scopes += [(dims, values) for values in busiest]
    return scopes


def _numeric(project_id: int, c: Comparison, scopes: list[tuple[tuple[str, ...], tuple[str, ...]]], kind: str,
             minimum: int, score: str = "", signal: str = "") -> Iterator[Item]:
    """One numeric signal for every scope, from the histograms of every group of a dimension (one query
    per dimension and window; their counts are the sample sizes). Nothing when neither window holds a
    value of the signal (no streamed calls: no TTFT). `score` names the rollup score rows read (an
    evaluator's, or a reserved dist:* name with `signal`)."""
    signal = signal or (f"score:{score}" if score else kind)
    hist_kind = "score" if score else kind
    read: dict[tuple[str, ...], tuple[dict[tuple[str, ...], Any], ...]] = {}
    for dims in sorted({dims for dims, _ in scopes}, key=len):  # the project's first
        read[dims] = tuple(selectors.histograms(project_id, w, hist_kind, dims, score=score)
                           for w in (c.baseline, c.current))
        if not dims and not any(read[dims]):
            return
    for dims, values in scopes:
        base, now = (side.get(values, selectors.EMPTY) for side in read[dims])
        n_b, n_c = int(base[1].sum()), int(now[1].sum())
        group = dict(zip(dims, values, strict=True))
        if n_b < minimum or n_c < minimum:
            yield signal, group, stats.Result(
                "wasserstein", stats.NOT_ENOUGH, threshold=stats.WASSERSTEIN_THRESHOLD, n_baseline=n_b,
                n_current=n_c, details={"min_samples": minimum})
            continue
        yield signal, group, stats.numeric_compare(base, now, min_samples=minimum)


def _rate(signal: str, scopes: list[tuple[tuple[str, ...], tuple[str, ...]]], minimum: int,
          read: Any) -> Iterator[Item]:
    """A rate for every scope; `read(window, dims)` gives {values: (hits, total)} for one dimension set."""
    by_dims = {dims: (read(0, dims), read(1, dims)) for dims in {dims for dims, _ in scopes}}
    for dims, values in scopes:
        base, now = by_dims[dims]
        (h_b, n_b), (h_c, n_c) = base.get(values, (0, 0)), now.get(values, (0, 0))
        yield signal, dict(zip(dims, values, strict=True)), stats.rate_compare(h_b, n_b, h_c, n_c, min_samples=minimum)


def comparison_findings(project_id: int, c: Comparison, minimums: dict[str, int]) -> list[Item]:
    """Every signal available in the rollups today, for the project and its busiest groups."""
    scopes = _scopes(project_id, c)
    windows = (c.baseline, c.current)
    items: list[Item] = []
    for kind in NUMERIC_SIGNALS:
        items += _numeric(project_id, c, scopes, kind, minimums["numeric"])
    for signal, name in DIST_SIGNALS.items():
        items += _numeric(project_id, c, scopes, "score", minimums["numeric"], score=name, signal=signal)
    names = sorted(set(selectors.score_names(project_id, c.baseline)) | set(selectors.score_names(project_id, c.current)))
    for name in names:
        items += _numeric(project_id, c, scopes, "score", minimums["numeric"], score=name)
    items += _rate("error_rate", scopes, minimums["rate"],
                   lambda i, dims: selectors.rates(project_id, windows[i], dims, "errors", "count"))
    flags = sorted(set(selectors.flag_names(project_id, c.baseline)) | set(selectors.flag_names(project_id, c.current)))
    for flag in flags:
        items += _rate(f"flag:{flag}", scopes, minimums["rate"],
                       lambda i, dims, flag=flag: selectors.rates(project_id, windows[i], dims, "flag_count",
                                                                  "flag_evaluated", score=f"flag:{flag}"))
    thumbs = [selectors.thumbs(project_id, w, ()) for w in windows]
    if any(thumbs):
        items += _rate("thumbs_down_rate", scopes, minimums["rate"],
                       lambda i, dims: selectors.thumbs(project_id, windows[i], dims))
    items += _mixes(project_id, c, scopes, minimums["mix"])
    items += _category_mix(project_id, c, scopes, minimums, FINISH_REASON_PREFIX, "finish_reason_mix")
    items += _category_mix(project_id, c, scopes, minimums, LANGUAGE_PREFIX, "language_mix")
    if settings.OBSERVATORY_DRIFT_TOPICS and not c.filtered:
        items.append(("topics", {}, topics.topic_compare(topics.sample_inputs(project_id, c.baseline),
                                                         topics.sample_inputs(project_id, c.current))))
    if c.filtered:  # the findings are about the calls both sides share a filter on (the prompt)
        shared = {dim: values[0] for dim, values in c.current[2].items()} if len(c.current) > 2 else {}
        items = [(signal, {**shared, **group}, result) for signal, group, result in items]
    return items


def _mixes(project_id: int, c: Comparison, scopes: list[tuple[tuple[str, ...], tuple[str, ...]]],
           minimum: int) -> Iterator[Item]:
    """The model mix of the project and within each busy feature; the error-type mix of the project
    and of each busy model."""
    def split(counts: dict[tuple[str, ...], int]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (feature, model), n in counts.items():
            out.setdefault(feature, {})[model or "(none)"] = n
            out.setdefault("\0all", {})
            out["\0all"][model or "(none)"] = out["\0all"].get(model or "(none)", 0) + n
        return out

    base = split(selectors.group_counts(project_id, c.baseline, ("feature", "model")))
    now = split(selectors.group_counts(project_id, c.current, ("feature", "model")))
    yield "model_mix", {}, stats.mix_compare(base.get("\0all", {}), now.get("\0all", {}), min_samples=minimum)
    for dims, values in scopes:
        if dims == ("feature",):
            yield "model_mix", {"feature": values[0]}, stats.mix_compare(
                base.get(values[0], {}), now.get(values[0], {}), min_samples=minimum)
    if c.filtered:
        return  # the error rollup is kept by model only: it cannot be restricted to one prompt
    base_errors = selectors.error_types(project_id, c.baseline)
    now_errors = selectors.error_types(project_id, c.current)
    if base_errors or now_errors:
        for dims, values in scopes:
            if dims in ((), ("model",)):
                yield "error_type_mix", dict(zip(dims, values, strict=True)), stats.mix_compare(
                    base_errors.get(values, {}), now_errors.get(values, {}), min_samples=minimum)


def _category_mix(project_id: int, c: Comparison, scopes: list[tuple[tuple[str, ...], tuple[str, ...]]],
                  minimums: dict[str, int], prefix: str, signal: str) -> Iterator[Item]:
    """A mix kept as one reserved score row per category (rollups/dists.py) for every scope: the
    finish-reason mix, with the truncation rate (finish reason `length` over the calls that reported
    one); the language mix of inputs (the language evaluator's detections, on the calls it ran on)."""
    reasons = sorted(set(selectors.categories(project_id, c.baseline, prefix))
                     | set(selectors.categories(project_id, c.current, prefix)))
    if not reasons:
        return
    sides = []
    for window in (c.baseline, c.current):
        by_scope: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, int]] = {}
        for dims in {dims for dims, _ in scopes}:
            for reason in reasons:
                counts = selectors.group_counts(project_id, window, dims, score=prefix + reason,
                                                measure="score_count")
                for values, n in counts.items():
                    by_scope.setdefault((dims, values), {})[reason] = n
        sides.append(by_scope)
    for dims, values in scopes:
        base, now = sides[0].get((dims, values), {}), sides[1].get((dims, values), {})
        group = dict(zip(dims, values, strict=True))
        yield signal, group, stats.mix_compare(base, now, min_samples=minimums["mix"])
        if prefix != FINISH_REASON_PREFIX:
            continue
        yield "truncation_rate", group, stats.rate_compare(base.get("length", 0), sum(base.values()),
                                                           now.get("length", 0), sum(now.values()),
                                                           min_samples=minimums["rate"])


# --- Runs -------------------------------------------------------------------------------------------

def group_key(group: dict[str, str]) -> str:
    return json.dumps(group, sort_keys=True, separators=(",", ":")) if group else ""


def _finite(value: float | None) -> float | None:
    """JSON and the API have no infinity: a constant baseline's W1/σ is stored as NULL (details say why)."""
    return None if value is None or value != value or value in (float("inf"), float("-inf")) else float(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _finding(run: DriftRun, c: Comparison, signal: str, group: dict[str, str], result: stats.Result) -> Finding:
    details = _clean(result.details)
    if result.statistic is not None and _finite(result.statistic) is None:
        details["unbounded"] = "the baseline is constant: any move is infinitely many of its standard deviations"
    return Finding(
        run=run, project_id=run.project_id, comparison=c.name, signal=signal, group=group, group_key=group_key(group),
        method=result.method, statistic=_finite(result.statistic), low=_finite(result.low), high=_finite(result.high),
        threshold=result.threshold, baseline_value=_finite(result.baseline_value),
        current_value=_finite(result.current_value), n_baseline=result.n_baseline, n_current=result.n_current,
        verdict=result.verdict, severity=result.severity, score=min(result.score, 1e6),
        baseline_start=c.baseline[0], baseline_end=c.baseline[1], current_start=c.current[0],
        current_end=c.current[1], details=details)


def drift_run(*, project: Project, now: datetime, run: DriftRun | None = None) -> DriftRun:
    """Compute and store a project's findings for the windows ending at `now`. Without `run`, a new
    (manual) run is created. A failure is recorded on the run (status failed, error) and re-raised."""
    if run is None:
        run = DriftRun.objects.create(project=project, status=RunStatus.RUNNING, started_at=dj_timezone.now())
    row = DriftSettings.objects.filter(project=project).first()
    minimums = {**stats.MIN_SAMPLES, **{k: int(v) for k, v in ((row.min_samples if row else {}) or {}).items()
                                         if k in stats.MIN_SAMPLES}}
    comparisons = comparisons_for(row, now)
    try:
        findings = [_finding(run, c, signal, group, result) for c in comparisons
                    for signal, group, result in comparison_findings(project.id, c, minimums)]
    except Exception as exc:
        DriftRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, finished_at=dj_timezone.now(),
                                                  error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    verdicts = [f.verdict for f in findings]
    counts = {"findings": len(findings), "drift": verdicts.count(stats.DRIFT),
              "no_drift": verdicts.count(stats.NO_DRIFT), "not_enough_data": verdicts.count(stats.NOT_ENOUGH)}
    with transaction.atomic():
        Finding.objects.bulk_create(findings, batch_size=1000)
        run.status, run.finished_at, run.ends_at = RunStatus.DONE, dj_timezone.now(), now
        run.windows, run.counts, run.error = [c.as_json() for c in comparisons], counts, ""
        run.save(update_fields=["status", "finished_at", "ends_at", "windows", "counts", "error"])
    return run


def drift_run_execute(*, run_id: int) -> DriftRun | None:
    """Claim a queued run (conditional UPDATE: one worker wins) and compute it. None if another has it."""
    claimed = DriftRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=dj_timezone.now())
    if not claimed:
        return None
    run = DriftRun.objects.select_related("project").get(pk=run_id)
    return drift_run(project=run.project, now=run.ends_at or dj_timezone.now(), run=run)


def _enqueue(run_ids: list[int]) -> None:
    from drift.tasks import run_drift

    def send() -> None:
        for run_id in run_ids:
            try:
                run_drift.delay(run_id)
            except Exception:  # noqa: BLE001 - the run stays queued; the sweeper re-sends it
                log.warning("could not enqueue drift run %s", run_id, exc_info=True)

    transaction.on_commit(send)


def drift_run_request(*, project: Project, user: Any = None) -> DriftRun:
    """"Run now": a queued run for the project, or the one already queued or running."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # two clicks queue one run
        pending = selectors.pending_run(project_id=project.id)
        if pending:
            return pending
        run = DriftRun.objects.create(project=project, requested_by=user if getattr(user, "pk", None) else None,
                                      ends_at=dj_timezone.now())
        _enqueue([run.id])
    return run


def drift_settings_update(*, project: Project, user: Any, enabled: bool, comparisons: list[dict[str, Any]],
                          pinned_start: datetime | None, pinned_end: datetime | None,
                          min_samples: dict[str, int], pinned_release: str = "") -> DriftSettings:
    """Save a project's drift settings (validated by DriftSettings.clean) and audit what changed."""
    from audit.services import audit_record, changed

    fields = ("enabled", "comparisons", "pinned_start", "pinned_end", "pinned_release", "min_samples")

    def state(row: DriftSettings | None) -> dict[str, Any]:
        if row is None:
            return {"enabled": True, "comparisons": default_comparisons(), "pinned_start": None, "pinned_end": None,
                    "pinned_release": "", "min_samples": {}}
        return {f: (getattr(row, f).isoformat() if isinstance(getattr(row, f), datetime) else getattr(row, f))
                for f in fields}

    with transaction.atomic():
        row = DriftSettings.objects.select_for_update().filter(project=project).first()
        before = state(row)
        row = row or DriftSettings(project=project)
        row.enabled, row.comparisons, row.min_samples = enabled, comparisons, min_samples
        row.pinned_start, row.pinned_end = pinned_start, pinned_end
        row.pinned_release = pinned_release if pinned_start and pinned_end else ""
        row.clean()
        row.save()
        old, new = changed(before, state(row))
        if new:
            audit_record(actor=user, action="drift_settings.changed", organization=project.organization_id,
                         project=project, target_type="project", target_id=project.id, target_label=project.name,
                         before=old, after=new)
    return row


_SCHEDULE = """
INSERT INTO drift_driftrun (project_id, slot, status, created_at, ends_at, windows, counts, error)
SELECT p.id, %(slot)s, 'queued', %(now)s, %(now)s, '[]', '{}', '' FROM tenancy_project p
LEFT JOIN drift_driftsettings s ON s.project_id = p.id
WHERE COALESCE(s.enabled, true)
ON CONFLICT (project_id, slot) WHERE slot IS NOT NULL DO NOTHING
RETURNING id
"""


def drift_schedule(*, now: datetime | None = None) -> list[int]:
    """Beat's tick: one queued run per enabled project for the current interval (a second tick in the
    same interval inserts nothing), sent to the workers after commit; queued runs whose message was
    lost are sent again, and runs whose worker died are marked failed. Returns the runs sent."""
    now = now or dj_timezone.now()
    interval = settings.OBSERVATORY_DRIFT_INTERVAL_MINUTES * 60
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(_SCHEDULE, {"slot": int(now.timestamp()) // interval, "now": now})
            new = [row[0] for row in cur.fetchall()]
        lost = list(DriftRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=now - QUEUED_STALE)
                    .values_list("id", flat=True)[:1000])
        DriftRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=now - RUNNING_STALE).update(
            status=RunStatus.FAILED, finished_at=now, error="the worker stopped before the run finished")
        _enqueue(new + lost)
    return new + lost
