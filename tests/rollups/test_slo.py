"""Latency SLO reads (rollups/selectors/slo.py): the share of calls slower than a latency, per
group, from the merged sketches, against the same share counted directly on the ingested calls."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from rollups.selectors import MetricsError, Query, aggregate, parse_measure, unit_of
from rollups.selectors.slo import first_key_over, parse_over, shares_over
from rollups.sketch import MAPPING, value_of
from telemetry.services import project_process
from tests.conftest import Api, call_event

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
MODELS = ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]


def _latencies(rng: np.random.Generator, n: int, threshold: float) -> np.ndarray:
    """Lognormal latencies around the threshold, none within 3% of it: the sketch's bins are 2%
    wide, so every call is on a definite side of the threshold's bin and the shares are exact."""
    values = rng.lognormal(np.log(threshold * 0.7), 0.6, n * 2)
    values = values[np.abs(values / threshold - 1) > 0.03]
    return np.round(values[:n], 3)


def _ingest(api: Api, project: Any, *, hours: float, per_model: int, threshold: float) -> dict[str, np.ndarray]:
    """per_model calls of each model spread over the last `hours` (so a window reads minute, hour and
    day buckets alike), folded by the worker code; returns each model's latencies."""
    rng = np.random.default_rng(13)
    events, sent = [], {}
    for m, model in enumerate(MODELS):
        latencies = _latencies(rng, per_model, threshold * (1 + m * 0.3))
        offsets = rng.uniform(60, hours * 3600 - 60, per_model)
        sent[model] = latencies
        events += [call_event(m * 10_000 + i, model=model, latency_ms=float(latency),
                              timestamp=(NOW - timedelta(seconds=float(offset))).isoformat())
                   for i, (latency, offset) in enumerate(zip(latencies, offsets, strict=True))]
    for start in range(0, len(events), 500):
        assert api.ingest(events[start:start + 500]).status_code == 202
    while project_process(project_id=project.id):
        pass
    return sent


def test_first_key_over_is_the_first_bin_whose_value_passes_the_latency() -> None:
    for threshold in (1.0, 250.0, 2000.0, 2000.5, 123_456.0):
        key = first_key_over(threshold)
        assert value_of(key - 1) <= threshold < value_of(key)
    # The threshold's own bin counts as over exactly when its value (what latency_pNN reports) is.
    key = int(MAPPING.key(2000.0))
    assert (first_key_over(2000.0) <= key) == (value_of(key) > 2000.0)


def test_share_over_measures_parse_and_read_as_ratios() -> None:
    assert parse_measure("latency_over_2000") == ("over", None)
    assert parse_over("ttft_over_500") == ("ttft", 500.0)
    assert parse_over("latency_p99") is None
    assert unit_of("latency_over_2000") == "ratio"
    assert parse_over("latency_over_0") is None
    with pytest.raises(MetricsError):
        parse_measure("latency_over_0")
    with pytest.raises(MetricsError):
        parse_measure("latency_over_2s")


@pytest.mark.django_db
def test_the_share_over_a_latency_per_model_matches_the_calls(api: Api, project: Any) -> None:
    sent = _ingest(api, project, hours=3, per_model=400, threshold=2000)
    query = Query(project_id=project.id, start=NOW - timedelta(hours=3), end=NOW + timedelta(minutes=1),
                  group_by=("model",))
    shares = shares_over(query, "latency", 2000)
    assert {key[1] for key in shares} == set(MODELS)
    for model, latencies in sent.items():
        over, timed = shares[(None, model)]
        assert timed == len(latencies)
        assert over == int((latencies > 2000).sum())  # exact: no call near the threshold
    # Through aggregate (the metrics API, previews, incident charts): the ratio, beside call measures.
    rows = aggregate(query, ["latency_over_2000", "count"])
    for model, latencies in sent.items():
        assert rows[(None, model)]["latency_over_2000"] == pytest.approx(float((latencies > 2000).mean()))
        assert rows[(None, model)]["count"] == len(latencies)


@pytest.mark.django_db
def test_the_share_over_agrees_with_the_percentiles(api: Api, project: Any) -> None:
    """Read from the same bins: at most 10% of calls (DDSketch's rank, to one call) are over p90,
    and more than 10% are over the bin below it."""
    sent = _ingest(api, project, hours=1, per_model=300, threshold=1500)
    n = sum(len(latencies) for latencies in sent.values())
    query = Query(project_id=project.id, start=NOW - timedelta(hours=1), end=NOW + timedelta(minutes=1))
    p90 = aggregate(query, ["latency_p90"])[(None,)]["latency_p90"]
    above, below = f"latency_over_{int(p90) + 1}", f"latency_over_{int(p90 / 1.03)}"
    row = aggregate(query, [above, below])[(None,)]
    assert row[above] <= 0.10 + 1 / n
    assert row[below] > 0.10


@pytest.mark.django_db
def test_no_timed_calls_means_no_share(project: Any) -> None:
    query = Query(project_id=project.id, start=NOW - timedelta(hours=1), end=NOW, group_by=("model",))
    assert shares_over(query, "latency", 2000) == {}
    assert aggregate(query, ["latency_over_2000"]) == {}
