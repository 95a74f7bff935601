"""Score, flag and feedback measures (rollups/selectors/scores.py): flag rates over the calls the
flag's evaluator evaluated, the old data fallback, and the feedback measures' API shape."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection

from quality.scorefold import scores_fold
from rollups.cubes import DIMENSIONS
from rollups.selectors import Query, aggregate, flag_totals, score_totals
from rollups.selectors import scores as score_selectors
from telemetry.models import Call
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _entry(call: Call, name: str) -> tuple[tuple[str, ...], int, str, float, int]:
    dims = tuple(str(getattr(call, d) or "") for d in DIMENSIONS)
    return dims, int(call.start_time.timestamp() * 1_000_000), name, 1.0, 1


def _denominator(flag: str) -> str:
    """What an app registers: a flag's evaluated count (here pii's, and a judge's own score)."""
    return {"pii.email": "evaluated:pii"}.get(flag, flag if flag.startswith("judge.") else "")


@pytest.fixture
def sampled(api: Api, project: Any, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """100 model calls of the last day, evaluated as a 0.25 sample would be: every fourth call is
    counted evaluated (by pii, and by the judge "judge.tone" on every other of those), and
    flags are raised among the evaluated calls only."""
    assert score_selectors._FLAG_DENOMINATORS  # quality registered its answer
    monkeypatch.setattr(score_selectors, "_FLAG_DENOMINATORS", [_denominator])
    api.ingest([call_event(i, timestamp=(NOW - timedelta(minutes=13 * i + 5)).isoformat(),
                           model=["gpt-4o", "gpt-4o-mini", "o3"][i % 3]) for i in range(100)])
    project_process(project_id=project.id)
    calls = list(Call.objects.filter(project=project).order_by("start_time"))
    entries = []
    for n, call in enumerate(calls):
        if n % 4:
            continue
        entries += [_entry(call, "evaluated:*"), _entry(call, "evaluated:pii")]
        if n % 8 == 0:
            entries.append(_entry(call, "judge.tone"))
        if n % 20 == 0:
            entries.append(_entry(call, "flag:pii.email"))
        if n % 24 == 0:
            entries.append(_entry(call, "flag:judge.tone"))
        if n % 40 == 0:
            entries.append(_entry(call, "flag:custom.thing"))
    with connection.cursor() as cur:
        scores_fold(cur, project.id, entries)
    return calls


def _whole_day(project: Any, **filters: list[str]) -> Query:
    return Query(project_id=project.id, start=NOW - timedelta(days=1), end=NOW + timedelta(hours=1), filters=filters)


def test_flag_rates_divide_by_the_calls_their_evaluator_evaluated(project: Any, sampled: list[Call]) -> None:
    query = _whole_day(project)
    pii = aggregate(Query(**{**query.__dict__, "score": "flag:pii.email"}), ["flag_count", "flag_rate",
                                                                             "flag_evaluated"])[(None,)]
    assert (pii["flag_count"], pii["flag_evaluated"]) == (5, 25) and pii["flag_rate"] == pytest.approx(0.2)
    totals = flag_totals(query)
    assert totals["pii.email"] == {"count": 5, "evaluated": 25, "rate": pytest.approx(0.2)}
    assert totals["judge.tone"] == {"count": 5, "evaluated": 13, "rate": pytest.approx(5 / 13)}  # the judge's own
    assert totals["custom.thing"] == {"count": 3, "evaluated": 25, "rate": pytest.approx(3 / 25)}  # any evaluator
    assert "evaluated:*" not in score_totals(query) and "flag:pii.email" not in score_totals(query)
    assert "judge.tone" in score_totals(query)  # the judge's score: its count is the judge's evaluated calls


def test_flag_rates_follow_filters_and_intervals(project: Any, sampled: list[Call]) -> None:
    query = _whole_day(project, model=["gpt-4o"])
    evaluated = [c for n, c in enumerate(sampled) if n % 4 == 0 and c.model == "gpt-4o"]
    flagged = [c for n, c in enumerate(sampled) if n % 20 == 0 and c.model == "gpt-4o"]
    row = aggregate(Query(**{**query.__dict__, "score": "flag:pii.email"}), ["flag_rate", "flag_evaluated"])[(None,)]
    assert row["flag_evaluated"] == len(evaluated) and row["flag_rate"] == pytest.approx(len(flagged) / len(evaluated))
    hourly = aggregate(Query(**{**query.__dict__, "score": "flag:pii.email", "interval": timedelta(hours=1)}),
                       ["flag_count", "flag_evaluated"])
    assert sum(v["flag_evaluated"] for v in hourly.values()) == len(evaluated)
    assert sum(v["flag_count"] for v in hourly.values()) == len(flagged)


def test_data_folded_before_evaluated_counts_divides_by_calls(api: Api, project: Any) -> None:
    api.ingest([call_event(i, timestamp=(NOW - timedelta(days=10, minutes=i)).isoformat()) for i in range(8)])
    project_process(project_id=project.id)
    with connection.cursor() as cur:
        scores_fold(cur, project.id, [_entry(Call.objects.filter(project=project).first(), "flag:pii.email")])
    query = Query(project_id=project.id, start=NOW - timedelta(days=11), end=NOW - timedelta(days=9))
    assert flag_totals(query)["pii.email"] == {"count": 1, "evaluated": 8, "rate": pytest.approx(1 / 8)}
    row = aggregate(Query(**{**query.__dict__, "score": "flag:pii.email"}), ["flag_rate", "flag_evaluated"])[(None,)]
    assert row == {"flag_rate": pytest.approx(1 / 8), "flag_evaluated": 8, "flag_count": 1, "score_count": 1,
                   "score_avg": 1.0}


def test_flag_and_feedback_measures_over_http(full_api: Api, project: Any, sampled: list[Call]) -> None:
    full_api.ingest([{"type": "feedback", "call_id": f"call-{i}", "thumbs": "down" if i < 3 else "up",
                      "rating": 1 + i % 5} for i in range(10)])
    project_process(project_id=project.id)
    span = {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(hours=1)).isoformat()}
    body = full_api.get("/api/v1/metrics", measure="flag_evaluated", flag="pii.email", **span).json()
    assert body["unit"] == "count" and body["series"][0]["points"][0]["value"] == 25
    expected = {"feedback_count": (10, "count"), "thumbs_up": (7, "count"), "thumbs_down": (3, "count"),
                "thumbs_count": (10, "count"), "thumbs_down_rate": (0.3, "ratio"), "thumbs_up_rate": (0.7, "ratio"),
                "rating_count": (10, "count"), "rating_avg": (3.0, "rating")}
    for measure, (value, unit) in expected.items():
        body = full_api.get("/api/v1/metrics", measure=measure, **span)
        assert body.status_code == 200, body.content
        assert (body.json()["series"][0]["points"][0]["value"], body.json()["unit"]) == (pytest.approx(value), unit)
    median = full_api.get("/api/v1/metrics", measure="rating_p50", group_by="model", **span).json()
    ratings = {model: sorted(1 + i % 5 for i in range(10) if i % 3 == n) for n, model in
               enumerate(["gpt-4o", "gpt-4o-mini", "o3"])}
    assert {s["group"]["model"]: round(s["points"][0]["value"]) for s in median["series"]} == {
        model: values[(len(values) - 1) // 2] for model, values in ratings.items()}  # the sketch's rank
    mixed = full_api.get("/api/v1/metrics", measure="thumbs_up", filter=["model:gpt-4o", "feature:none"], **span)
    assert mixed.status_code == 200 and mixed.json()["series"] == []
