"""Reads for drift: the rollups a run compares (through rollups.selectors only; never raw calls) and
the runs and findings the page and the API show."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import QuerySet, Sum

from drift.models import DriftRun, Finding, RunStatus
from rollups.models import ErrorRollup
from rollups.selectors import Query, aggregate, distribution, distributions, score_totals
from rollups.signals import FEEDBACK_PREFIX

Histogram = tuple[np.ndarray, np.ndarray]
EMPTY: Histogram = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _query(project_id: int, window: tuple[Any, ...], **kwargs: Any) -> Query:
    """A window is (start, end), or (start, end, filters) for a side restricted to some calls."""
    filters = {**(window[2] if len(window) > 2 else {}), **kwargs.pop("filters", {})}
    return Query(project_id=project_id, start=window[0], end=window[1], filters=filters, **kwargs)


def group_counts(project_id: int, window: tuple[datetime, datetime], dims: tuple[str, ...], *, score: str = "",
                 measure: str = "count") -> dict[tuple[str, ...], int]:
    """{group values: count} of model calls (or of a score's values) in the window, one query."""
    rows = aggregate(_query(project_id, window, group_by=dims, score=score), [measure])
    return {tuple(key[1:]): int(values.get(measure) or 0) for key, values in rows.items()}


def histogram(project_id: int, window: tuple[datetime, datetime], kind: str, filters: dict[str, list[str]], *,
              score: str = "") -> Histogram:
    """The merged sketch histogram (keys, counts) of latency, ttft or one score over the window."""
    return distribution(_query(project_id, window, filters=filters, score=score), kind)


def histograms(project_id: int, window: tuple[datetime, datetime], kind: str, dims: tuple[str, ...], *,
               score: str = "") -> dict[tuple[str, ...], Histogram]:
    """The merged histogram of every group of `dims` over the window, in one query: {group values: (keys, counts)}."""
    return distributions(_query(project_id, window, group_by=dims, score=score), kind)


def score_names(project_id: int, window: tuple[datetime, datetime]) -> list[str]:
    """Every evaluator and client score seen in the window (flags, evaluated counts and feedback left out)."""
    return sorted(score_totals(_query(project_id, window)))


def flag_names(project_id: int, window: tuple[datetime, datetime]) -> list[str]:
    return sorted(name.removeprefix("flag:") for name in score_totals(_query(project_id, window), prefix="flag:"))


def categories(project_id: int, window: tuple[Any, ...], prefix: str) -> list[str]:
    """The categories of a mix kept as reserved score rows (`mix:finish_reason:`, `mix:language:`) seen
    in the window."""
    return sorted(name.removeprefix(prefix) for name in score_totals(_query(project_id, window), prefix=prefix))


def rates(project_id: int, window: tuple[datetime, datetime], dims: tuple[str, ...], hits: str, total: str, *,
          score: str = "") -> dict[tuple[str, ...], tuple[int, int]]:
    """{group values: (hits, total)}: errors of calls, a flag's flagged of evaluated, thumbs down of rated."""
    rows = aggregate(_query(project_id, window, group_by=dims, score=score), [hits, total])
    return {tuple(key[1:]): (int(values.get(hits) or 0), int(values.get(total) or 0)) for key, values in rows.items()}


def thumbs(project_id: int, window: tuple[datetime, datetime], dims: tuple[str, ...]
           ) -> dict[tuple[str, ...], tuple[int, int]]:
    return rates(project_id, window, dims, "thumbs_down", "thumbs_count", score=FEEDBACK_PREFIX)


def error_types(project_id: int, window: tuple[datetime, datetime]) -> dict[tuple[str, ...], dict[str, int]]:
    """{(model,): {error type: errors}} from the hourly error rollups (windows are whole hours), and
    {(): ...} for the project. rollups.selectors has no reader for this table yet: this is the one
    read of a rollup table outside it (docs/drift.md, "Not yet")."""
    rows = (ErrorRollup.objects.filter(project_id=project_id, grain="h", bucket__gte=window[0], bucket__lt=window[1])
            .values("model", "error_type").annotate(n=Sum("count")))
    out: dict[tuple[str, ...], dict[str, int]] = {}
    for row in rows:
        kind = row["error_type"] or "(none)"
        for key in ((), (row["model"],)):
            out.setdefault(key, {})
            out[key][kind] = out[key].get(kind, 0) + int(row["n"])
    return out


# --- Runs and findings ----------------------------------------------------------------------------

def runs_for(*, project_id: int) -> QuerySet[DriftRun]:
    return DriftRun.objects.filter(project_id=project_id).order_by("-created_at", "-id")


def latest_run(*, project_id: int) -> DriftRun | None:
    """The newest finished run (done or failed), for the page."""
    return runs_for(project_id=project_id).filter(status__in=[RunStatus.DONE, RunStatus.FAILED]).first()


def pending_run(*, project_id: int) -> DriftRun | None:
    return runs_for(project_id=project_id).filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()


def findings_ranked(*, run: DriftRun) -> QuerySet[Finding]:
    """A run's findings, what changed most first: drift by how far past its threshold, then the rest."""
    return run.findings.order_by("-score", "comparison", "signal", "group_key", "id")


def finding_history(*, finding: Finding, limit: int = 50) -> list[Finding]:
    """The same signal × group × comparison over the project's past runs, oldest first."""
    rows = (Finding.objects.filter(project_id=finding.project_id, signal=finding.signal,
                                   comparison=finding.comparison, group_key=finding.group_key)
            .select_related("run").order_by("-run_id")[:limit])
    return list(reversed(rows))


def release_span(*, project_id: int, release: str, timeout_ms: int = 15_000) -> tuple[datetime, datetime] | None:
    """The hours a release's calls cover: (first call's hour, the hour after its last call), or None
    when no call carries it. Read once, when someone pins a release as drift's baseline (rollups have
    no release dimension, so the baseline is this range). No index serves release: the scan follows
    call_project_time under a statement timeout, so a huge project answers "too slow" (QueryCanceled)
    rather than holding the request."""
    from datetime import timedelta

    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL statement_timeout = %s", [int(timeout_ms)])
        cur.execute("SELECT min(start_time), max(start_time) FROM telemetry_call WHERE project_id = %s"
                    " AND release = %s", [project_id, release])
        first, last = cur.fetchone()
    if first is None:
        return None
    return (first.replace(minute=0, second=0, microsecond=0),
            last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))

