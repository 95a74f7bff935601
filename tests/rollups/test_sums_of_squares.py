"""Sums of squares in the rollups (migration 0011): a score's and cost per call's variance read back
from the rollups equals numpy's on the raw values, through every writer (the call fold, quality's
score fold, client scores folded by signals, the compactor) and a rebuild."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from prompts.stats import moments
from quality.scorefold import scores_fold
from rollups.compact import project_compact
from rollups.cubes import DIMENSIONS
from rollups.selectors import Query, score_totals
from rollups.selectors.scores import cost_moments
from telemetry.models import Call
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _query(project: Any, **filters: list[str]) -> Query:
    return Query(project_id=project.id, start=NOW - timedelta(days=3), end=NOW + timedelta(hours=1), filters=filters)


def _variance(count: int, total: float, squares: float) -> float:
    found = moments(count, total, squares)
    assert found is not None
    return found[1]


def test_score_and_cost_variances_match_the_raw_values(full_api: Api, project: Any) -> None:
    rng = np.random.default_rng(11)
    costs = np.round(rng.gamma(2.0, 0.0007, 60), 6)
    human = np.round(rng.random(60), 3)
    events = [call_event(i, timestamp=(NOW - timedelta(hours=i, minutes=-5)).isoformat(), cost_usd=float(costs[i]),
                         prompt={"name": "answer", "version": str(1 + i % 2)}) for i in range(60)]
    events += [{"type": "score", "call_id": f"call-{i}", "name": "helpfulness", "value": float(human[i]),
                "source": "human"} for i in range(60)]
    assert full_api.ingest(events).status_code == 202
    project_process(project_id=project.id)
    calls = {c.external_id: c for c in Call.objects.filter(project=project)}
    judged = np.round(rng.random(60), 3)
    entries = [(tuple(str(getattr(calls[f"call-{i}"], d) or "") for d in DIMENSIONS),
                int(calls[f"call-{i}"].start_time.timestamp() * 1_000_000), "judge.quality", float(judged[i]), 1)
               for i in range(60)]
    # A re-scored call: its old value folds out with weight -1, the new one in.
    entries += [(entries[0][0], entries[0][1], "judge.quality", float(judged[0]), -1),
                (entries[0][0], entries[0][1], "judge.quality", 0.5, 1)]
    judged[0] = 0.5
    with connection.cursor() as cur:
        scores_fold(cur, project.id, entries)

    def check(*, evaluator: bool = True) -> None:
        for version in ("1", "2"):
            pick = np.arange(60) % 2 == int(version) - 1
            query = _query(project, prompt_name=["answer"], prompt_version=[version])
            totals = score_totals(query)
            scores = [("judge.quality", judged[pick])] if evaluator else []
            for name, raw in [*scores, ("human:helpfulness", human[pick])]:
                row = totals[name]
                assert row["count"] == raw.size
                assert _variance(row["count"], row["sum"], row["sumsq"]) == pytest.approx(raw.var(ddof=1), rel=1e-6)
            cost = next(iter(cost_moments(query).values()))
            assert cost["count"] == pick.sum()
            assert cost["cost"] / cost["count"] == pytest.approx(costs[pick].mean(), rel=1e-9)
            assert _variance(cost["count"], cost["cost"], cost["cost_sumsq"]) == pytest.approx(
                costs[pick].var(ddof=1), rel=1e-6)

    check()
    project_compact(project_id=project.id)
    check()
    # A rebuild folds the range again from the raw rows (the evaluator scores above were folded
    # straight in, with no evaluation rows behind them for quality to fold again).
    call_command("rebuild_rollups", "--from", (NOW - timedelta(days=4)).isoformat(),
                 "--to", (NOW + timedelta(hours=2)).isoformat(), "--project", str(project.id), stdout=StringIO())
    project_compact(project_id=project.id)
    check(evaluator=False)
