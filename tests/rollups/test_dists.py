"""Per-call distributions and mixes (rollups/dists.py): tokens, cost and characters per call and the
finish-reason mix, folded with the calls as reserved score rows; compaction, rebuild and score lists."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from rollups import compact
from rollups.dists import DISTS, FINISH_REASON_PREFIX
from rollups.selectors import Query, aggregate, distribution, score_totals
from rollups.services import rollups_rebuild
from rollups.sketch import value_of
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _ingest(api: Api, project: Any) -> list[dict[str, Any]]:
    events = []
    for i in range(60):
        event = call_event(i, timestamp=(NOW - timedelta(hours=2, minutes=i)).isoformat())
        event.update(model=["gpt-4o-mini", "claude-sonnet-4-5"][i % 2], input="q" * (10 + i),
                     output=[{"role": "assistant", "content": "a" * (100 + 10 * i)}],
                     usage={"input_tokens": 50 + i, "output_tokens": 200 + i}, cost_usd=f"{0.0001 * (1 + i % 5):.6f}",
                     metadata={"finish_reasons": ["length" if i % 4 == 0 else "stop"]})
        events.append(event)
    events.append({**call_event(99, timestamp=(NOW - timedelta(hours=2)).isoformat()), "kind": "tool",
                   "input": "not a model call", "metadata": {"finish_reason": "stop"}})
    assert api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    return events


def _read(project_id: int, **filters: list[str]) -> dict[str, Any]:
    query = Query(project_id=project_id, start=NOW - timedelta(days=1), end=NOW, filters=filters)
    out: dict[str, Any] = {}
    for signal, name in DISTS.items():
        keys, counts = distribution(Query(**{**query.__dict__, "score": name}), "score")
        out[signal] = (keys.tolist(), counts.tolist())
    out["finish"] = {n.removeprefix(FINISH_REASON_PREFIX): row["count"]
                     for n, row in score_totals(query, prefix=FINISH_REASON_PREFIX).items()}
    return out


def _mean(hist: tuple[list[int], list[int]]) -> float:
    keys, counts = hist
    return float(np.dot([value_of(k) for k in keys], counts) / sum(counts))


def test_the_fold_keeps_tokens_cost_characters_and_finish_reasons_per_call(api: Api, project: Any) -> None:
    _ingest(api, project)
    figures = _read(project.id)
    for signal in DISTS:
        assert sum(figures[signal][1]) == 60, signal  # model calls only: the tool span is not counted
    # Within the sketch's 1% of the exact means.
    assert _mean(figures["output_chars"]) == pytest.approx(np.mean([100 + 10 * i for i in range(60)]), rel=0.01)
    assert _mean(figures["input_chars"]) == pytest.approx(np.mean([10 + i for i in range(60)]), rel=0.01)
    assert _mean(figures["output_tokens"]) == pytest.approx(np.mean([200 + i for i in range(60)]), rel=0.01)
    assert _mean(figures["cost"]) == pytest.approx(300.0, rel=0.01)  # micro-dollars: 100..500, 12 each
    assert figures["finish"] == {"length": 15, "stop": 45}
    by_model = _read(project.id, model=["claude-sonnet-4-5"])  # odd calls: none of them a multiple of 4
    assert sum(by_model["output_chars"][1]) == 30 and by_model["finish"] == {"stop": 30}
    # Reserved names are not quality scores.
    assert not [n for n in score_totals(Query(project_id=project.id, start=NOW - timedelta(days=1), end=NOW))
                if n.startswith(("dist:", "mix:"))]


def test_compaction_and_rebuild_keep_the_same_distributions(api: Api, project: Any) -> None:
    _ingest(api, project)
    before = _read(project.id)
    compact.project_compact(project_id=project.id)
    assert _read(project.id) == before
    rollups_rebuild(project_id=project.id, start=NOW - timedelta(days=1), end=NOW)
    assert _read(project.id) == before
    cost = aggregate(Query(project_id=project.id, start=NOW - timedelta(days=1), end=NOW), ["cost"])[(None,)]["cost"]
    assert _mean(before["cost"]) * 60 / 1e6 == pytest.approx(float(cost), rel=0.01)


def test_the_sql_backfill_writes_what_the_fold_wrote(api: Api, project: Any) -> None:
    from django.db import connection, transaction

    from rollups.dists import backfill
    from rollups.models import Rollup

    _ingest(api, project)
    compact.project_compact(project_id=project.id)
    folded = _read(project.id)
    rows = Rollup.objects.filter(project=project, score__startswith="dist:").count()
    with transaction.atomic(), connection.cursor() as cur:
        written = backfill(cur, project.id, NOW - timedelta(days=1), NOW)
    assert Rollup.objects.filter(project=project, score__startswith="dist:").count() == rows
    assert written == Rollup.objects.filter(project=project, score__regex=r"^(dist|mix):").count()
    again = _read(project.id)
    assert again["finish"] == folded["finish"]
    for signal in DISTS:  # the same values; a key may differ where numpy's and SQL's log round apart
        assert sum(again[signal][1]) == sum(folded[signal][1]), signal
        assert _mean(again[signal]) == pytest.approx(_mean(folded[signal]), rel=0.01), signal
