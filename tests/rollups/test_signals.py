"""Feedback and client scores in the rollups (rollups/signals.py): exact sums by the call's time,
late arrivals, updates and deletes, several workers at once, retention and rebuilds."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections

from rollups import signals
from rollups.compact import project_compact
from rollups.models import PendingSignal, Rollup, SignalFold
from rollups.retention import project_purge
from rollups.selectors import Query, aggregate, distribution
from rollups.sketch import value_of
from telemetry import services as telemetry_services
from telemetry.models import Call, Feedback, Score
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
FEEDBACK = ["feedback_count", "thumbs_count", "thumbs_up", "thumbs_down", "thumbs_down_rate", "rating_count",
            "rating_avg"]


def _ingest(api: Api, events: list[dict[str, Any]]) -> None:
    response = api.ingest(events)
    assert response.status_code == 202, response.content
    assert not response.json()["rejected"], response.json()


def _process(project: Any) -> None:
    project_process(project_id=project.id)  # also folds signals, even when no call is new


def _feedback(project: Any, start: datetime = NOW - timedelta(days=40), end: datetime = NOW + timedelta(hours=2),
              **filters: list[str]) -> dict[str, Any]:
    query = Query(project_id=project.id, start=start, end=end, filters=filters)
    values = aggregate(query, FEEDBACK).get((None,), dict.fromkeys(FEEDBACK, 0))
    return {measure: values[measure] for measure in FEEDBACK}


def _ratings(project: Any) -> dict[int, int]:
    query = Query(project_id=project.id, start=NOW - timedelta(days=40), end=NOW + timedelta(hours=2),
                  score="feedback:rating")
    keys, counts = distribution(query, "score")
    return {round(value_of(int(k))): int(c) for k, c in zip(keys, counts, strict=True)}


def _score(project: Any, name: str, **filters: list[str]) -> dict[str, Any]:
    query = Query(project_id=project.id, start=NOW - timedelta(days=40), end=NOW + timedelta(hours=2),
                  filters=filters, score=name)
    values = aggregate(query, ["score_count", "score_avg"]).get((None,), {"score_count": 0, "score_avg": None})
    return {"score_count": values["score_count"], "score_avg": values["score_avg"]}


def _at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago, minutes=-7)).isoformat()


def test_feedback_rolls_up_with_its_calls_dimensions(api: Api, project: Any) -> None:
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]
    calls = [call_event(i, timestamp=_at(i), model=models[i % 3]) for i in range(30)]
    feedback = [{"type": "feedback", "call_id": f"call-{i}", "thumbs": "down" if i % 4 == 0 else "up",
                 **({"rating": 1 + i % 5} if i % 2 else {})} for i in range(0, 30, 2)]
    feedback += [{"type": "feedback", "call_id": f"call-{i}", "rating": 1 + i % 5} for i in range(1, 30, 6)]
    _ingest(api, calls + feedback)
    _process(project)
    rows = Feedback.objects.filter(project=project)
    total = _feedback(project)
    assert total["feedback_count"] == rows.count() == 20
    assert total["thumbs_up"] == rows.filter(thumbs=1).count()
    assert total["thumbs_down"] == rows.filter(thumbs=-1).count()
    assert total["thumbs_count"] == rows.filter(thumbs__isnull=False).count()
    assert total["rating_avg"] == pytest.approx(sum(r.rating for r in rows if r.rating) / rows.filter(
        rating__isnull=False).count())
    expected: dict[int, int] = {}
    for row in rows.filter(rating__isnull=False):
        expected[row.rating] = expected.get(row.rating, 0) + 1
    assert _ratings(project) == expected
    mini = rows.filter(call__model="gpt-4o-mini")
    assert _feedback(project, model=["gpt-4o-mini"])["thumbs_down"] == mini.filter(thumbs=-1).count()
    # Two dimensions at once: feedback is kept in the every-dimension cube too.
    both = _feedback(project, model=["gpt-4o"], status=["ok"])
    assert both["feedback_count"] == rows.filter(call__model="gpt-4o", call__status="ok").count()


def test_feedback_sent_before_its_call_is_folded_once_linked(api: Api, project: Any) -> None:
    _ingest(api, [{"type": "feedback", "call_id": "call-1", "thumbs": "down", "rating": 2}])
    _process(project)
    assert not PendingSignal.objects.exists()  # not queued until it has a call
    assert _feedback(project)["feedback_count"] == 0
    _ingest(api, [call_event(1, timestamp=_at(5), model="gpt-4o")])
    _process(project)
    assert Feedback.objects.get().call_id is not None
    assert _feedback(project, model=["gpt-4o"])["thumbs_down"] == 1
    assert _ratings(project) == {2: 1}
    assert not PendingSignal.objects.exists()


def test_signals_of_a_call_not_processed_yet_wait_for_it(api: Api, project: Any) -> None:
    _ingest(api, [call_event(1, timestamp=_at(1)), {"type": "feedback", "call_id": "call-1", "thumbs": "up"}])
    assert Feedback.objects.get().call_id is not None  # linked at ingest: the call came first
    assert signals.project_signals_fold(project_id=project.id) == 0
    assert PendingSignal.objects.count() == 1 and _feedback(project)["thumbs_up"] == 0
    _process(project)
    assert _feedback(project)["thumbs_up"] == 1 and not PendingSignal.objects.exists()


def test_a_rating_after_its_bucket_was_folded_and_compacted_lands_there_once(api: Api, project: Any) -> None:
    started = NOW - timedelta(days=3, hours=5, minutes=-20)
    _ingest(api, [call_event(1, timestamp=started.isoformat(), model="gpt-4o")])
    _process(project)
    project_compact(project_id=project.id)
    assert not Rollup.objects.filter(project=project, compacted=False).exists()
    _ingest(api, [{"type": "feedback", "call_id": "call-1", "thumbs": "down", "rating": 4}])
    _process(project)
    project_compact(project_id=project.id)
    thumbs = Rollup.objects.filter(project=project, score="feedback:thumbs", cube="model")
    hour = started.replace(minute=0)
    assert {(r.grain, r.bucket, r.model, r.score_count) for r in thumbs} == {
        ("h", hour, "gpt-4o", 1), ("d", hour.replace(hour=0), "gpt-4o", 1)}  # no minute rows: past their horizon
    assert _feedback(project, start=hour, end=hour + timedelta(hours=1))["thumbs_down"] == 1
    assert _feedback(project, start=NOW - timedelta(days=1))["feedback_count"] == 0  # not when it arrived
    # Queued again (a repeated trigger, a lost acknowledgement): nothing changes.
    PendingSignal.objects.create(kind="f", row_id=Feedback.objects.get().id, project_id=project.id)
    _process(project)
    assert _feedback(project)["thumbs_down"] == 1 and _ratings(project) == {4: 1}


def test_client_scores_roll_up_by_source_apart_from_evaluator_scores(full_api: Api, project: Any) -> None:
    _ingest(full_api, [call_event(i, timestamp=_at(i), model=["gpt-4o", "gpt-4o-mini"][i % 2]) for i in range(6)] + [
        {"type": "score", "call_id": f"call-{i}", "name": "helpfulness", "value": 0.25 * (i % 4), "source": "human"}
        for i in range(6)] + [
        {"type": "score", "call_id": "call-0", "name": "helpfulness", "value": 1.0},  # source api
        {"type": "score", "call_id": "call-1", "name": "helpfulness", "label": "good", "source": "human"},  # no value
    ])
    _process(project)
    human = Score.objects.filter(project=project, source="human", value__isnull=False)
    assert _score(project, "human:helpfulness") == {
        "score_count": 6, "score_avg": pytest.approx(sum(s.value for s in human) / 6)}
    assert _score(project, "api:helpfulness")["score_count"] == 1
    assert _score(project, "helpfulness")["score_count"] == 0  # the evaluators' name space is untouched
    mini = [s.value for s in human if s.call.model == "gpt-4o-mini"]
    assert _score(project, "human:helpfulness", model=["gpt-4o-mini"])["score_avg"] == pytest.approx(
        sum(mini) / len(mini))
    body = full_api.get("/api/v1/metrics", measure="score_avg", score="helpfulness", source="human",
                        **{"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(hours=1)).isoformat()})
    assert body.status_code == 200, body.content
    assert body.json()["series"][0]["points"][0]["value"] == pytest.approx(sum(s.value for s in human) / 6)
    bad = full_api.get("/api/v1/metrics", measure="score_avg", score="helpfulness", source="robot")
    assert bad.status_code == 400 and "source" in bad.json()["error"]["details"]


def test_updates_and_deletes_fold_the_old_value_out(api: Api, project: Any) -> None:
    _ingest(api, [call_event(i, timestamp=_at(i), model="gpt-4o") for i in range(4)]
            + [{"type": "feedback", "call_id": f"call-{i}", "thumbs": "up", "rating": 5} for i in range(4)]
            + [{"type": "score", "call_id": f"call-{i}", "name": "accuracy", "value": 0.5, "source": "human"}
               for i in range(4)])
    _process(project)
    assert _feedback(project)["thumbs_up"] == 4 and _score(project, "human:accuracy")["score_count"] == 4
    Feedback.objects.filter(call__external_id="call-0").update(thumbs=-1, rating=1)
    Feedback.objects.filter(call__external_id="call-1").update(rating=None)
    Feedback.objects.filter(call__external_id="call-2").delete()
    Feedback.objects.filter(call__external_id="call-3").update(comment="edited")  # nothing rolled up changes
    assert PendingSignal.objects.count() == 3
    Score.objects.filter(call__external_id="call-0").update(value=0.9)
    Score.objects.filter(call__external_id="call-1").update(source="user")
    Score.objects.filter(call__external_id="call-2").delete()
    _process(project)
    assert _feedback(project) == {"feedback_count": 3, "thumbs_count": 3, "thumbs_up": 2, "thumbs_down": 1,
                                  "thumbs_down_rate": pytest.approx(1 / 3), "rating_count": 2, "rating_avg": 3.0}
    assert _ratings(project) == {1: 1, 5: 1}  # the old bins cancelled out, none left at zero or below
    assert _score(project, "human:accuracy") == {"score_count": 2, "score_avg": pytest.approx(0.7)}
    assert _score(project, "user:accuracy")["score_count"] == 1
    assert SignalFold.objects.count() == 6 and not PendingSignal.objects.exists()
    project_compact(project_id=project.id)
    assert _feedback(project)["thumbs_down"] == 1 and _ratings(project) == {1: 1, 5: 1}


def test_evaluator_scores_are_not_queued(project: Any, api: Api) -> None:
    _ingest(api, [call_event(1, timestamp=_at(1))])
    _process(project)
    call = Call.objects.get()
    Score.objects.create(project=project, external_id=f"eval:{call.id}:toxicity", call=call,
                         call_external_id="call-1", name="toxicity", value=0.1, source="heuristic", created_at=NOW)
    Score.objects.filter(external_id__startswith="eval:").update(value=0.2)
    Score.objects.filter(external_id__startswith="eval:").delete()
    assert not PendingSignal.objects.exists()


def test_feedback_on_any_kind_of_span_counts(api: Api, project: Any) -> None:
    _ingest(api, [{"type": "span", "id": "root", "trace_id": "t", "kind": "agent", "name": "answer",
                   "timestamp": _at(2), "latency_ms": 900},
                  {"type": "feedback", "call_id": "root", "thumbs": "down"}])
    _process(project)
    assert _feedback(project)["thumbs_down"] == 1
    assert _feedback(project, kind=["llm"])["thumbs_down"] == 0


def test_thumbs_down_rate_over_30_days_with_a_model_filter_matches_the_raw_rows(full_api: Api, project: Any) -> None:
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]
    events = [call_event(i, timestamp=(NOW - timedelta(hours=2.4 * i, minutes=7)).isoformat(), model=models[i % 3],
                         feature=["chat", "search"][i % 2]) for i in range(300)]
    events += [{"type": "feedback", "call_id": f"call-{i}", "thumbs": "down" if (i * 7) % 10 < 3 else "up"}
               for i in range(300) if i % 5 < 3]
    _ingest(full_api, events)
    while project_process(project_id=project.id):
        pass
    start, end = NOW - timedelta(days=30), NOW
    raw = Feedback.objects.filter(project=project, call__model="gpt-4o", call__start_time__gte=start,
                                  call__start_time__lt=end, thumbs__isnull=False)
    expected = raw.filter(thumbs=-1).count() / raw.count()
    body = full_api.get("/api/v1/metrics", measure="thumbs_down_rate", filter=["model:gpt-4o"],
                        **{"from": start.isoformat(), "to": end.isoformat()})
    assert body.status_code == 200, body.content
    assert body.json()["unit"] == "ratio"
    assert body.json()["series"][0]["points"][0]["value"] == pytest.approx(expected)
    daily = full_api.get("/api/v1/metrics", measure="thumbs_down", interval="1d", filter=["model:gpt-4o"],
                         **{"from": start.isoformat(), "to": end.isoformat()}).json()
    assert sum(p["value"] or 0 for p in daily["series"][0]["points"]) == raw.filter(thumbs=-1).count()
    chat = raw.filter(call__feature="chat")
    both = _feedback(project, start=start, end=end, model=["gpt-4o"], feature=["chat"])
    assert both["thumbs_down_rate"] == pytest.approx(chat.filter(thumbs=-1).count() / chat.count())


def test_purged_calls_keep_their_feedback_in_the_rollups(api: Api, project: Any) -> None:
    project.retention_call_days = 20
    project.save()
    _ingest(api, [call_event(1, timestamp=(NOW - timedelta(days=30)).isoformat()),
                  {"type": "feedback", "call_id": "call-1", "thumbs": "down"},
                  {"type": "score", "call_id": "call-1", "name": "accuracy", "value": 0.3, "source": "human"}])
    _process(project)
    assert SignalFold.objects.count() == 2
    assert project_purge(project=project)["calls"] == 1
    assert not Feedback.objects.exists() and not SignalFold.objects.exists()
    _process(project)  # the deletes were queued: they fold nothing out
    assert not PendingSignal.objects.exists()
    assert _feedback(project)["thumbs_down"] == 1 and _score(project, "human:accuracy")["score_count"] == 1


def test_rebuilding_a_range_folds_its_signals_again_once(api: Api, project: Any) -> None:
    _ingest(api, [call_event(i, timestamp=_at(30 * i)) for i in range(3)]
            + [{"type": "feedback", "call_id": f"call-{i}", "thumbs": "up", "rating": 3} for i in range(3)]
            + [{"type": "score", "call_id": f"call-{i}", "name": "accuracy", "value": 0.5, "source": "human"}
               for i in range(3)])
    _process(project)
    before = _feedback(project), _ratings(project), _score(project, "human:accuracy")
    call_command("rebuild_rollups", "--from", (NOW - timedelta(days=3)).isoformat(), "--to",
                 (NOW - timedelta(hours=1)).isoformat(), "--project", str(project.id), stdout=StringIO())
    assert (_feedback(project), _ratings(project), _score(project, "human:accuracy")) == before
    assert SignalFold.objects.count() == 6


def _race(*jobs: Any) -> None:
    """Run the jobs at once, each on a thread with its own database connection."""
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def work(job: Any) -> None:
        try:
            start.wait()
            job()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def _queue_thrice() -> None:
    """Every queued signal queued three times, the copies side by side: with batches of 7, two
    workers' batches share a signal at every boundary."""
    with connection.cursor() as cur:
        cur.execute("WITH queued AS (DELETE FROM rollups_pendingsignal RETURNING kind, row_id, project_id)"
                    " INSERT INTO rollups_pendingsignal (kind, row_id, project_id) SELECT kind, row_id, project_id"
                    " FROM queued CROSS JOIN generate_series(1, 3) ORDER BY kind, row_id")


@pytest.mark.django_db(transaction=True)
def test_several_workers_at_once_count_each_signal_once(api: Api, project: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry_services, "_AFTER_ANY_RUN", [])  # leave the signals queued
    monkeypatch.setattr(signals, "BATCH", 7)  # many small transactions, interleaved
    _ingest(api, [call_event(i, timestamp=_at(i % 50), model=["gpt-4o", "gpt-4o-mini"][i % 2]) for i in range(120)]
            + [{"type": "feedback", "call_id": f"call-{i}", "thumbs": "up" if i % 3 else "down", "rating": 1 + i % 5}
               for i in range(120)]
            + [{"type": "score", "call_id": f"call-{i}", "name": "accuracy", "value": (i % 10) / 10,
                "source": "human"} for i in range(0, 120, 2)])
    while project_process(project_id=project.id):
        pass
    _queue_thrice()
    assert PendingSignal.objects.count() == 3 * 180

    def fold() -> None:
        for _ in range(5):
            signals.project_signals_fold(project_id=project.id)

    def flip() -> None:  # end users change their minds while the workers fold
        for i in range(0, 120, 4):
            Feedback.objects.filter(project=project, call__external_id=f"call-{i}").update(thumbs=-1, rating=2)

    _race(fold, fold, fold, fold, flip)
    # Signals folded before, changed, and queued thrice: the workers now meet on existing ledger rows.
    Feedback.objects.filter(project=project).update(thumbs=1)
    Score.objects.filter(project=project).update(value=0.75)
    _queue_thrice()
    _race(fold, fold, fold, fold)
    while signals.project_signals_fold(project_id=project.id):
        pass
    assert not PendingSignal.objects.exists()
    rows = Feedback.objects.filter(project=project)
    assert _feedback(project) == {
        "feedback_count": 120, "thumbs_count": 120, "thumbs_up": 120, "thumbs_down": 0, "thumbs_down_rate": 0.0,
        "rating_count": 120, "rating_avg": pytest.approx(sum(r.rating for r in rows) / 120)}
    assert sum(_ratings(project).values()) == 120
    assert _score(project, "human:accuracy") == {"score_count": 60, "score_avg": pytest.approx(0.75)}
    assert SignalFold.objects.count() == 180


def test_beat_asks_for_a_fold_of_signals_left_queued(api: Api, project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollups import tasks

    _ingest(api, [call_event(1, timestamp=_at(1))])
    _process(project)
    asked: list[int] = []
    monkeypatch.setattr(tasks.fold_signals, "delay", asked.append)
    PendingSignal.objects.create(kind="f", row_id=10**9, project_id=project.id)  # its message was lost
    tasks.compact()
    assert asked == []  # too fresh: the run that queued it folds it
    PendingSignal.objects.update(enqueued_at=NOW - timedelta(minutes=5))
    tasks.compact()
    assert asked == [project.id]
    assert tasks.fold_signals(project.id) == 1 and not PendingSignal.objects.exists()  # gone: nothing to fold
