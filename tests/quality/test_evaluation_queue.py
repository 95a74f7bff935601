"""The evaluation queue under load: a claim immune to stale planner statistics, sampling and load
shedding that say why a call was skipped, the evaluated counts flag rates divide by, and huge
payloads that cost no more than small ones."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection

from quality.models import Evaluation, Flag, PendingEvaluation, QualitySettings
from quality.services import _CLAIM_SQL, project_evaluate, project_evaluate_threads, shed_rate
from rollups.selectors import Query, aggregate
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _ingest(api: Api, project: Any, n: int, **fields: Any) -> None:
    events = [call_event(i, **{"timestamp": (NOW - timedelta(seconds=i)).isoformat(),
                               "input": f"Question {i}: how do I reset my password?",
                               "output": "Open Settings, then Security, and choose Reset password." if i % 3 else
                               "Write to jane.doe@example.com and we will reset it.", **fields}) for i in range(n)]
    for lo in range(0, n, 500):
        assert api.ingest(events[lo:lo + 500]).status_code == 202
    project_process(project_id=project.id)


def _evaluated_total(project_id: int, name: str) -> int:
    query = Query(project_id=project_id, start=NOW - timedelta(days=1), end=NOW + timedelta(hours=1), score=name)
    return sum(int(row.get("score_count") or 0) for row in aggregate(query, ["score_count"]).values())


def test_sampled_out_calls_are_skipped_with_the_reason_and_rates_divide_by_what_was_evaluated(
        api: Api, project: Any) -> None:
    QualitySettings.objects.create(project=project, sample_rate=0.25)
    _ingest(api, project, 400)

    assert project_evaluate(project_id=project.id) == 400

    done = Evaluation.objects.filter(project_id=project.id, status="done")
    skipped = Evaluation.objects.filter(project_id=project.id, status="skipped")
    assert 60 < done.count() < 140 and done.count() + skipped.count() == 400
    assert set(skipped.values_list("reason", flat=True)) == {"sampled out at the project's sample rate 0.25"}
    # The denominators the flag rates use: every evaluated call once, and pii's own score.
    assert _evaluated_total(project.id, "evaluated:*") == done.count()
    assert _evaluated_total(project.id, "pii.count") == done.count()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality_evaluation e JOIN telemetry_callpayload p ON p.call_id = e.call_id"
                    " WHERE e.project_id = %s AND e.status = 'done' AND p.output::text LIKE '%%jane.doe%%'",
                    [project.id])
        with_email = cur.fetchone()[0]
    assert Flag.objects.filter(project_id=project.id, name="pii.email").count() == with_email > 0


def test_past_the_max_lag_new_calls_are_sampled_down_and_marked_skipped_with_the_reason(
        api: Api, project: Any) -> None:
    QualitySettings.objects.create(project=project, max_lag_seconds=60)
    _ingest(api, project, 300)
    PendingEvaluation.objects.filter(project_id=project.id).update(
        enqueued_at=datetime.now(timezone.utc) - timedelta(seconds=600))

    project_evaluate(project_id=project.id)

    skipped = Evaluation.objects.filter(project_id=project.id, status="skipped")
    done = Evaluation.objects.filter(project_id=project.id, status="done").count()
    assert 5 < done < 80  # ~10%: the limit over the lag
    reasons = set(skipped.values_list("reason", flat=True))
    assert len(reasons) == 1 and reasons.pop().startswith("evaluation lag 6")


def test_threads_of_one_worker_evaluate_each_call_exactly_once(api: Api, project: Any) -> None:
    _ingest(api, project, 1700)

    assert project_evaluate_threads(project_id=project.id, max_batches=20, threads=3) == 1700

    assert Evaluation.objects.filter(project_id=project.id, status="done").count() == 1700
    assert PendingEvaluation.objects.filter(project_id=project.id).count() == 0
    assert _evaluated_total(project.id, "evaluated:*") == 1700
    assert _evaluated_total(project.id, "pii.count") == 1700


def test_the_shed_rate_follows_the_lag_and_never_stops_all_evaluation() -> None:
    assert shed_rate(lag_seconds=50, max_lag_seconds=60) is None
    assert shed_rate(lag_seconds=120, max_lag_seconds=60)[0] == pytest.approx(0.5)
    assert shed_rate(lag_seconds=10**6, max_lag_seconds=60)[0] == pytest.approx(0.02)
    assert shed_rate(lag_seconds=10**6, max_lag_seconds=None) is None


def test_a_5_mb_json_answer_is_cut_in_sql_and_not_judged_invalid(api: Api, project: Any) -> None:
    body = json.dumps({"rows": [{"id": i, "text": "lorem ipsum dolor sit amet " * 4} for i in range(40_000)]})
    assert len(body) > 5_000_000
    _ingest(api, project, 1, params={"response_format": {"type": "json_object"}})
    # Past the default ingest limit (OBSERVATORY_INGEST_MAX_PAYLOAD_BYTES, 1 MB), as an install
    # that raised it would store: written directly.
    with connection.cursor() as cur:
        cur.execute("UPDATE telemetry_callpayload SET output = to_jsonb(%s::text)", [body])

    project_evaluate(project_id=project.id)

    evaluation = Evaluation.objects.get(project_id=project.id)
    assert evaluation.status == "done"
    assert not Flag.objects.filter(project_id=project.id, name="output.invalid_json").exists()


def test_the_claim_runs_once_even_with_statistics_taken_on_an_empty_queue(project: Any) -> None:
    """The 13-minute incident: statistics said the queue was empty, and the planner re-ran the
    locked LIMIT subquery for every queue row. The claim's CTE is MATERIALIZED: one scan."""
    with connection.cursor() as cur:
        cur.execute("ANALYZE quality_pendingevaluation")
        cur.execute("INSERT INTO quality_pendingevaluation (call_id, project_id, enqueued_at)"
                    " SELECT g, %s, now() FROM generate_series(1, 50000) g", [project.id])
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _CLAIM_SQL, [project.id, 500])
        plan = cur.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    text = json.dumps(plan)
    assert '"CTE Name": "picked"' in text
    # The locked LIMIT scan ran once, reading the queue at most once (the incident's plan re-ran it
    # per queue row: 500 x 50,000 rows), and the delete looked each claimed id up by primary key.
    nodes = _nodes(plan[0]["Plan"])
    picked = next(n for n in nodes if n.get("Subplan Name") == "CTE picked")
    assert all(n["Actual Loops"] == 1 for n in _nodes(picked))
    assert sum(n.get("Actual Rows", 0) * n["Actual Loops"] for n in _nodes(picked)) <= 3 * 50_000
    lookups = [n for n in nodes if n.get("Relation Name") == "quality_pendingevaluation"
               and n["Node Type"] != "ModifyTable" and n not in _nodes(picked)]
    assert lookups
    # One row per claimed id (a primary-key probe, as an index or bitmap scan), or one pass (a hash
    # join's scan): never a scan repeated per queue row.
    assert all(n["Actual Loops"] == 1 or n.get("Actual Rows", 0) <= 1 for n in lookups)
    assert sum(n.get("Actual Rows", 0) * n["Actual Loops"] for n in lookups) <= 3 * 50_000
    # EXPLAIN ANALYZE ran the claim: exactly one batch left the queue.
    assert PendingEvaluation.objects.filter(project_id=project.id).count() == 50_000 - 500


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


def test_score_directions_must_say_higher_or_lower() -> None:
    from quality.services import score_directions_validate

    assert score_directions_validate({"helpfulness": "higher", "hallucination_rate": "lower"}) == []
    assert score_directions_validate({"helpfulness": "up"}) == ["'helpfulness': say \"higher\" or \"lower\" "
                                                                "(which way is better)"]
    assert score_directions_validate(["higher"])[0].startswith("must be a JSON object")


def test_a_project_direction_wins_over_the_built_in_one_and_flags_are_always_lower_is_better(project: Any) -> None:
    from quality.selectors import score_direction

    QualitySettings.objects.create(project=project, score_directions={"hallucination_rate": "lower",
                                                                      "toxicity.output": "higher"})
    assert score_direction(project_id=project.id, name="hallucination_rate") == "lower"
    assert score_direction(project_id=project.id, name="helpfulness") == "higher"
    assert score_direction(project_id=project.id, name="pii.count") == "lower"
    assert score_direction(project_id=project.id, name="toxicity.output") == "higher"
    assert score_direction(project_id=project.id, name="flag:pii.email") == "lower"


def test_a_rollup_rebuild_keeps_the_evaluator_scores_flags_and_evaluated_counts(api: Api, project: Any) -> None:
    from django.core.management import call_command

    _ingest(api, project, 90)
    project_evaluate(project_id=project.id)
    names = ["evaluated:*", "pii.count", "flag:pii.email", "toxicity.output"]
    before = {name: _evaluated_total(project.id, name) for name in names}
    assert before["evaluated:*"] == 90 and before["flag:pii.email"] == 30

    call_command("rebuild_rollups", "--from", (NOW - timedelta(days=1)).isoformat(), "--to",
                 (NOW + timedelta(hours=1)).isoformat(), "--project", str(project.id), stdout=io.StringIO())

    assert {name: _evaluated_total(project.id, name) for name in names} == before


def test_after_evaluation_hooks_see_the_batch_flags_in_its_transaction_and_a_failure_rolls_it_back(
        api: Api, project: Any) -> None:
    from quality import batch

    seen: list[tuple[int, list[int], int]] = []

    def hook(cur: Any, project_id: int, call_ids: list[int]) -> None:
        cur.execute("SELECT count(*) FROM quality_flag WHERE call_id = ANY(%s)", [call_ids])
        seen.append((project_id, sorted(call_ids), cur.fetchone()[0]))

    def broken(cur: Any, project_id: int, call_ids: list[int]) -> None:
        raise RuntimeError("routing failed")

    _ingest(api, project, 30)
    batch.register_after_evaluation(broken)
    try:
        with pytest.raises(RuntimeError, match="routing failed"):
            project_evaluate(project_id=project.id)
    finally:
        batch._AFTER_EVALUATION.remove(broken)
    # Rolled back with the batch: nothing evaluated, every call still queued for the next claim.
    assert not Evaluation.objects.filter(project_id=project.id).exists()
    assert PendingEvaluation.objects.filter(project_id=project.id).count() == 30

    batch.register_after_evaluation(hook)
    try:
        assert project_evaluate(project_id=project.id) == 30
    finally:
        batch._AFTER_EVALUATION.remove(hook)
    ids = sorted(Evaluation.objects.filter(project_id=project.id).values_list("call_id", flat=True))
    flagged = Flag.objects.filter(project_id=project.id, name="pii.email").count()
    assert flagged == 10 and sum(len(c) for _, c, _ in seen) == 30
    assert [pid for pid, _, _ in seen] == [project.id] * len(seen)
    assert sorted(i for _, c, _ in seen for i in c) == ids and sum(n for *_, n in seen) >= flagged
