"""Routing: each rule kind, once only under re-scoring and late feedback, the daily cap, backfill."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from quality.batch import sampled
from quality.services import calls_requeue, project_evaluate
from review import routing
from review.models import Backfill, Item, PendingFeedback, QueueDay
from review.services import backfill_start, rule_create
from telemetry.models import Call
from telemetry.services import project_process
from tests.conftest import Api
from tests.review.conftest import EMAIL_OUTPUT, call, feed

pytestmark = pytest.mark.django_db


def _routed(queue: Any) -> set[str]:
    return set(Item.objects.filter(queue=queue).values_list("call__external_id", flat=True))


def test_a_flag_rule_routes_flagged_calls_with_the_flags_as_the_reason(api: Api, project: Any, queue: Any,
                                                                      owner: Any) -> None:
    rule = rule_create(queue=queue, actor=owner, data={"kind": "flag", "flags": ["pii.email"]})
    feed(api, project, [call(1), call(2, output=EMAIL_OUTPUT)])
    assert _routed(queue) == {"c-2"}
    item = Item.objects.get(queue=queue)
    assert item.status == "pending" and item.reason["rules"][0]["rule"] == rule.id
    assert item.reason["rules"][0]["flags"][0]["name"] == "pii.email"


def test_a_flag_rule_honours_the_minimum_severity_and_the_filters(api: Api, project: Any, queue: Any,
                                                                 owner: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "flag", "min_severity": "critical"})
    rule_create(queue=queue, actor=owner, data={"kind": "flag", "models": ["other-model"]})
    feed(api, project, [call(1, output=EMAIL_OUTPUT)])
    assert _routed(queue) == set()  # the email flag is below critical; the other rule wants another model


def test_a_score_rule_routes_below_and_above(api: Api, project: Any, queue: Any, owner: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "score", "score": "pii.count", "direction": "above",
                                                "threshold": 0})
    feed(api, project, [call(1), call(2, output=EMAIL_OUTPUT)])
    assert _routed(queue) == {"c-2"}
    assert "heuristic:pii.count" in Item.objects.get(queue=queue).reason["rules"][0]["scores"]


def test_error_and_sample_rules(api: Api, project: Any, queue: Any, owner: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "error"})
    rule_create(queue=queue, actor=owner, data={"kind": "sample", "rate": 0.3, "features": ["support"]})
    events = [call(i) for i in range(30)] + [call(99, status="error",
                                                  error={"type": "Timeout", "message": "took too long"})]
    events[5]["feature"] = "billing"
    feed(api, project, events)
    ids = dict(Call.objects.filter(project=project).values_list("external_id", "id"))
    expected = {e["id"] for e in events if e.get("feature") == "support" and sampled(ids[e["id"]], 0.3)} | {"c-99"}
    assert _routed(queue) == expected and 3 <= len(expected) <= 20


def test_feedback_rules_route_at_evaluation_and_when_feedback_comes_late_once_only(
        api: Api, project: Any, queue: Any, owner: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "feedback", "feedback": "thumbs_down"})
    rule_create(queue=queue, actor=owner, data={"kind": "feedback", "feedback": "rating", "rating_max": 2})
    # c-1's thumbs-down arrives before its call is evaluated; the others come later.
    feed(api, project, [call(1), call(2), call(3), call(4),
                        {"type": "feedback", "call_id": "c-1", "thumbs": "down"}])
    assert _routed(queue) == {"c-1"}
    feed(api, project, [{"type": "feedback", "call_id": "c-2", "thumbs": "down"},
                        {"type": "feedback", "call_id": "c-3", "rating": 1},
                        {"type": "feedback", "call_id": "c-4", "rating": 4},
                        {"type": "feedback", "call_id": "c-1", "thumbs": "down", "id": "again"}], evaluate=False)
    assert _routed(queue) == {"c-1", "c-2", "c-3"}
    assert Item.objects.filter(queue=queue).count() == 3
    assert not PendingFeedback.objects.exists()


def test_a_comment_rule_and_feedback_before_its_call(api: Api, project: Any, queue: Any, owner: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "feedback", "feedback": "comment"})
    feed(api, project, [{"type": "feedback", "call_id": "c-7", "thumbs": "up", "comment": "wrong link"}],
         evaluate=False)
    feed(api, project, [call(7), call(8)])
    assert _routed(queue) == {"c-7"}


def test_feedback_is_not_queued_for_projects_without_a_feedback_rule(api: Api, project: Any, queue: Any) -> None:
    feed(api, project, [call(1), {"type": "feedback", "call_id": "c-1", "thumbs": "down"}])
    assert not PendingFeedback.objects.exists()


def test_re_scoring_does_not_route_a_call_twice_or_re_roll_samples(api: Api, project: Any, queue: Any,
                                                                   owner: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "flag"})
    rule_create(queue=queue, actor=owner, data={"kind": "sample", "rate": 0.5})
    feed(api, project, [call(i, output=EMAIL_OUTPUT if i % 2 else "Fine.") for i in range(20)])
    first = {(i.call_id, i.created_at) for i in Item.objects.filter(queue=queue)}
    Item.objects.filter(queue=queue).update(status="done")
    assert calls_requeue(start=Call.objects.earliest("start_time").start_time,
                         end=Call.objects.latest("start_time").start_time, project_id=project.id) > 0
    while project_evaluate(project_id=project.id):
        pass
    assert {(i.call_id, i.created_at) for i in Item.objects.filter(queue=queue)} == first
    assert QueueDay.objects.get(queue=queue).routed == len(first)


def test_the_daily_cap_leaves_calls_out_and_counts_them(api: Api, project: Any, queue: Any, owner: Any) -> None:
    queue.daily_cap = 4
    queue.save()
    rule_create(queue=queue, actor=owner, data={"kind": "sample", "rate": 1.0})
    feed(api, project, [call(i) for i in range(10)])
    feed(api, project, [call(i) for i in range(10, 13)])
    day = QueueDay.objects.get(queue=queue)
    assert Item.objects.filter(queue=queue).count() == 4
    assert (day.routed, day.left_out) == (4, 9)


def test_a_backfill_applies_a_new_rule_to_past_calls_in_batches(api: Api, project: Any, queue: Any,
                                                                 owner: Any) -> None:
    feed(api, project, [call(i, output=EMAIL_OUTPUT if i < 5 else "Fine.") for i in range(12)])
    assert _routed(queue) == set()
    rule = rule_create(queue=queue, actor=owner, data={"kind": "flag", "flags": ["pii.email"]})
    backfill = backfill_start(rule=rule, days=1, actor=owner)
    steps = 0
    while routing.backfill_step(backfill_id=backfill.id, batch=5):
        steps += 1
    backfill.refresh_from_db()
    assert steps == 2 and backfill.finished_at is not None
    assert (backfill.scanned, backfill.routed) == (12, 5)
    assert _routed(queue) == {f"c-{i}" for i in range(5)}
    assert not routing.backfill_step(backfill_id=backfill.id)  # finished: nothing more
    assert Backfill.objects.count() == 1


def test_routing_costs_a_few_statements_per_batch(api: Api, project: Any, queue: Any, owner: Any,
                                                 django_assert_max_num_queries: Any) -> None:
    for kind in ({"kind": "flag"}, {"kind": "error"}, {"kind": "sample", "rate": 0.5},
                 {"kind": "feedback", "feedback": "comment"}):
        rule_create(queue=queue, actor=owner, data=kind)
    queue.daily_cap = 100
    queue.save()
    feed(api, project, [call(i, output=EMAIL_OUTPUT) for i in range(40)], evaluate=False)
    ids = list(Call.objects.filter(project=project).values_list("id", flat=True))
    with django_assert_max_num_queries(5), connection.cursor() as cur:
        added = routing.calls_route(cur, project.id, ids)
    assert sum(added.values()) > 0
    assert project_process(project_id=project.id) == 0


def test_the_retention_purge_and_an_erasure_delete_calls_in_queues(api: Api, project: Any, queue: Any, owner: Any,
                                                                   member: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from review.models import Verdict
    from review.reviewing import verdict_submit
    from review.services import items_add
    from rollups.retention import _delete_calls

    feed(api, project, [call(1), call(2)], evaluate=False)
    items_add(queue=queue, call_ids=["c-1", "c-2"], actor=owner)
    first = Item.objects.filter(queue=queue).order_by("id").first()
    verdict_submit(item_id=first.id, queue=queue, user=member, answers={"correct": "correct", "helpfulness": 3})
    with connection.cursor() as cur:  # an erasure's raw delete of one call
        for table in ("telemetry_score", "telemetry_callpayload"):
            cur.execute(f"DELETE FROM {table} WHERE call_id = %s", [first.call_id])
        cur.execute("DELETE FROM telemetry_call WHERE id = %s", [first.call_id])
    assert not Verdict.objects.exists() and Item.objects.filter(queue=queue).count() == 1
    assert _delete_calls(project.id, timezone.now() + timedelta(days=1)) == 1
    assert not Item.objects.exists()
