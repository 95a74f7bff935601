"""Reviewing: claims and locks with two reviewers, expiry, skip, N-reviewer completion, agreement,
and verdicts as human scores that roll up."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from review.errors import Conflict, Invalid
from review.models import Item
from review.reviewing import item_claim_next, item_skip, verdict_submit
from review.selectors import queue_agreement, queues_health
from review.services import items_add
from rollups.selectors import Query, aggregate
from rollups.signals import project_signals_fold
from telemetry.models import Score
from tests.conftest import Api
from tests.review.conftest import call, feed

pytestmark = pytest.mark.django_db
GOOD = {"correct": "correct", "helpfulness": 5, "hallucination": False, "notes": "fine"}
BAD = {"correct": "wrong", "helpfulness": 1, "hallucination": True}


@pytest.fixture
def items(api: Api, project: Any, queue: Any, owner: Any) -> list[Item]:
    feed(api, project, [call(i) for i in range(3)])
    assert items_add(queue=queue, call_ids=["c-0", "c-1", "c-2"], actor=owner) == 3
    return list(Item.objects.filter(queue=queue).order_by("created_at", "id"))


def test_two_reviewers_never_hold_the_same_item_and_a_reload_resumes_yours(queue: Any, items: list[Item],
                                                                           member: Any, second: Any) -> None:
    mine = item_claim_next(queue=queue, user=member)
    theirs = item_claim_next(queue=queue, user=second)
    assert mine and theirs and mine.id != theirs.id
    assert item_claim_next(queue=queue, user=member).id == mine.id  # resumed, not a new one
    mine.refresh_from_db()
    assert mine.status == "in_review" and mine.locked_by == member and mine.locked_until > timezone.now()
    with pytest.raises(Conflict, match="another reviewer holds"):
        verdict_submit(item_id=mine.id, queue=queue, user=second, answers=GOOD)


def test_an_expired_lock_returns_the_item_to_the_pool(queue: Any, items: list[Item], member: Any,
                                                      second: Any, owner: Any) -> None:
    held = item_claim_next(queue=queue, user=member)
    item_claim_next(queue=queue, user=second)
    item_claim_next(queue=queue, user=owner)
    assert item_claim_next(queue=queue, user=Item.objects.get(pk=items[0].pk).locked_by) is not None
    Item.objects.filter(pk=held.id).update(locked_until=timezone.now() - timedelta(seconds=1))
    other = type(member).objects.create_user("third", "t@example.com", "x")
    taken = item_claim_next(queue=queue, user=other)
    assert taken is not None and taken.id == held.id


def test_a_skip_gives_the_item_to_others_not_back_to_the_skipper(queue: Any, items: list[Item], member: Any,
                                                                 second: Any) -> None:
    first = item_claim_next(queue=queue, user=member)
    item_skip(item=first, user=member)
    following = item_claim_next(queue=queue, user=member)
    assert following.id != first.id
    assert item_claim_next(queue=queue, user=second).id == first.id


def test_an_item_completes_after_n_reviewers_and_disagreement_escalates_it(queue: Any, items: list[Item],
                                                                          member: Any, second: Any,
                                                                          owner: Any) -> None:
    queue.reviewers_per_item = 2
    queue.save()
    for item, (a, b) in zip(items[:2], [(GOOD, GOOD), (GOOD, BAD)], strict=True):
        verdict_submit(item_id=item.id, queue=queue, user=member, answers=a)
        item.refresh_from_db()
        assert item.status == "pending" and item.submissions == 1
        verdict_submit(item_id=item.id, queue=queue, user=second, answers=b)
    statuses = dict(Item.objects.filter(queue=queue).values_list("id", "status"))
    assert [statuses[i.id] for i in items] == ["done", "escalated", "pending"]
    with pytest.raises(Conflict, match="already complete"):
        verdict_submit(item_id=items[0].id, queue=queue, user=owner, answers=GOOD)
    with pytest.raises(Conflict, match="already reviewed"):
        verdict_submit(item_id=items[2].id, queue=queue, user=member, answers=GOOD)
        verdict_submit(item_id=items[2].id, queue=queue, user=member, answers=GOOD)
    agreement = {a.question: a for a in queue_agreement(queue=queue)}
    assert agreement["correct"].items == 2 and agreement["correct"].percent == 0.5
    assert agreement["correct"].alpha is not None and agreement["correct"].alpha < 1
    assert agreement["notes"].alpha is None
    health = queues_health(project_id=queue.project_id)[0]
    assert (health.backlog, health.done_total, health.escalated) == (1, 2, 1)
    assert dict(health.reviewers) == {"member": 3, "second": 2}


def test_a_verdict_outside_the_rubric_names_the_field(queue: Any, items: list[Item], member: Any) -> None:
    for answers, field in [({**GOOD, "correct": "maybe"}, "answers.correct"),
                           ({**GOOD, "helpfulness": 9}, "answers.helpfulness"),
                           ({**GOOD, "tone": "nice"}, "answers.tone"),
                           ({"helpfulness": 3}, "answers.correct")]:
        with pytest.raises(Invalid) as refused:
            verdict_submit(item_id=items[0].id, queue=queue, user=member, answers=answers)
        assert refused.value.field == field


def test_verdicts_become_human_scores_that_roll_up(project: Any, queue: Any, items: list[Item], member: Any) -> None:
    verdict_submit(item_id=items[0].id, queue=queue, user=member, answers=GOOD, comment="solid")
    verdict_submit(item_id=items[1].id, queue=queue, user=member, answers=BAD)
    scores = Score.objects.filter(project_id=project.id, source="human")
    assert sorted(scores.values_list("name", flat=True)) == sorted(
        [f"review.support-answers.{q}" for q in ("correct", "helpfulness", "hallucination")] * 2)
    assert scores.get(name="review.support-answers.correct", call=items[0].call).label == "correct"
    project_signals_fold(project_id=project.id)
    now = timezone.now()
    query = Query(project_id=project.id, start=now - timedelta(days=1), end=now + timedelta(hours=1),
                  score="human:review.support-answers.helpfulness")
    (row,) = aggregate(query, ["score_count", "score_avg"]).values()
    assert row["score_count"] == 2 and row["score_avg"] == pytest.approx(3.0)


def test_round_robin_gives_each_chosen_member_their_turns(api: Api, project: Any, queue: Any, owner: Any,
                                                          member: Any, second: Any, viewer: Any) -> None:
    from review.services import queue_update

    queue_update(queue=queue, actor=owner, data={"assignment": "round_robin", "members": [member.pk, second.pk]})
    feed(api, project, [call(i) for i in range(6)], evaluate=False)
    items_add(queue=queue, call_ids=[f"c-{i}" for i in range(6)], actor=owner)
    taken: dict[str, set[int]] = {"member": set(), "second": set()}
    for user in (member, second):
        while (item := item_claim_next(queue=queue, user=user)) is not None:
            taken[user.username].add(item.id)
            verdict_submit(item_id=item.id, queue=queue, user=user, answers=GOOD)
    ids = sorted(Item.objects.filter(queue=queue).values_list("id", flat=True))
    assert taken["member"] | taken["second"] == set(ids) and not taken["member"] & taken["second"]
    assert len(taken["member"]) == 3 and item_claim_next(queue=queue, user=owner) is None  # not a chosen member
    with pytest.raises(Invalid) as refused:
        queue_update(queue=queue, actor=owner, data={"members": [viewer.pk]})
    assert refused.value.field == "members"


def test_an_admin_gives_the_final_verdict_on_an_escalated_item_and_datasets_take_it(
        project: Any, queue: Any, items: list[Item], member: Any, second: Any, owner: Any) -> None:
    from review.datasets import dataset_create, dataset_export
    from review.reviewing import item_resolve

    queue.reviewers_per_item = 2
    queue.save()
    verdict_submit(item_id=items[0].id, queue=queue, user=member, answers=GOOD)
    with pytest.raises(Conflict, match="only an escalated item"):
        item_resolve(item_id=items[0].id, queue=queue, user=owner, answers=GOOD)
    verdict_submit(item_id=items[0].id, queue=queue, user=second, answers=BAD)
    with pytest.raises(Invalid):
        item_resolve(item_id=items[0].id, queue=queue, user=owner, answers={"correct": "maybe"})
    item = item_resolve(item_id=items[0].id, queue=queue, user=owner,
                        answers={"correct": "wrong", "helpfulness": 2}, corrected_output="The fix.")
    assert item.status == "done" and item.resolution["by"] == "owner"
    version = dataset_export(dataset=dataset_create(project=project, actor=owner, name="final", queue=queue),
                             actor=owner)
    row = version.items.get()
    assert row.expected_output == "The fix." and row.labels == {"correct": "wrong", "helpfulness": 2}
