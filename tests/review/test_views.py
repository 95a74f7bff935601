"""Review pages: roles, empty states, the queue form's errors, the review page (escaped LLM text,
sanitised instructions, submit and skip), call detail's "Add to queue", the Review tab."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from review.models import Item, Queue, Verdict
from review.services import items_add, rule_create
from tests.conftest import Api
from tests.review.conftest import RUBRIC, call, feed, signed_in

pytestmark = pytest.mark.django_db
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_the_review_tab_and_the_empty_state(project: Any, owner: Any, viewer: Any) -> None:
    page = signed_in(owner).get(f"/projects/{project.id}/review/")
    assert page.status_code == 200 and b'data-testid="no-queues"' in page.content
    assert b'data-testid="tab-review"' in page.content and b"Create the first queue" in page.content
    seen = signed_in(viewer).get(f"/projects/{project.id}/review/")
    assert b"Owners and admins create queues" in seen.content


def test_queue_form_for_admins_with_errors_naming_the_field(project: Any, owner: Any, member: Any) -> None:
    assert signed_in(member).get(f"/projects/{project.id}/review/new").status_code == 403
    client = signed_in(owner)
    assert client.get(f"/projects/{project.id}/review/new").status_code == 200
    form = {"name": "Flagged", "instructions": "", "reviewers_per_item": "1", "assignment": "pool",
            "lock_minutes": "10", "daily_cap": "", "active": "on"}
    bad = client.post(f"/projects/{project.id}/review/new", {**form, "rubric": json.dumps(
        [{"name": "ok", "kind": "categorical", "labels": ["yes"]}])})
    assert bad.status_code == 400 and b"rubric[0].labels" in bad.content
    good = client.post(f"/projects/{project.id}/review/new", {**form, "rubric": json.dumps(RUBRIC)})
    queue = Queue.objects.get(name="Flagged")
    assert good.status_code == 302 and good["Location"] == f"/projects/{project.id}/review/{queue.id}/"
    assert queue.daily_cap is None and queue.rubric[0]["values"] == [1.0, 0.5, 0.0]


def test_rules_from_the_queue_page(project: Any, queue: Any, owner: Any, member: Any) -> None:
    url = f"/projects/{project.id}/review/{queue.id}/rules"
    assert signed_in(member).post(url, {"kind": "error"}).status_code == 403
    client = signed_in(owner)
    client.post(url, {"kind": "sample", "rate_percent": "2", "features": "support", "environments": "production"})
    client.post(url, {"kind": "flag", "flags": "pii.emial"})
    page = client.get(f"/projects/{project.id}/review/{queue.id}/").content.decode()
    assert "random 2% (only feature support; environment production)" in page
    assert queue.rules.count() == 1


def test_the_review_page_escapes_llm_text_and_sanitises_instructions(api: Api, project: Any, queue: Any,
                                                                     owner: Any, member: Any) -> None:
    queue.instructions = "Look for **facts**. <script>alert(3)</script> [x](javascript:alert(4))"
    queue.save()
    feed(api, project, [call(1, output=f"Here: {XSS}", context=[{"text": XSS}]),
                        {"type": "feedback", "call_id": "c-1", "thumbs": "down", "comment": XSS}], evaluate=False)
    items_add(queue=queue, call_ids=["c-1"], actor=owner)
    client = signed_in(member)
    claimed = client.get(f"/projects/{project.id}/review/{queue.id}/next")
    assert claimed.status_code == 302
    page = client.get(claimed["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and "<script>alert" not in html and "onerror=\"alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<strong>facts</strong>" in html and 'href="javascript' not in html
    assert "added by hand by owner" in html and 'data-key="3"' in html
    # keys.js under its plain name, or its hashed one once collectstatic has run (the test command's).
    assert re.search(r'src="/static/review/keys(\.[0-9a-f]{12})?\.js"', html) and " onclick=" not in html


def test_submit_and_skip_from_the_page(api: Api, project: Any, queue: Any, owner: Any, member: Any,
                                       viewer: Any) -> None:
    feed(api, project, [call(1), call(2)], evaluate=False)
    items_add(queue=queue, call_ids=["c-1", "c-2"], actor=owner)
    client = signed_in(member)
    first = client.get(f"/projects/{project.id}/review/{queue.id}/next")["Location"]
    assert signed_in(viewer).post(first, {"action": "skip"}).status_code == 403
    refused = client.post(first, {"q-correct": "maybe", "q-helpfulness": "3"})
    assert refused.status_code == 400 and b"answers.correct" in refused.content
    done = client.post(first, {"q-correct": "partially", "q-helpfulness": "3", "q-hallucination": "true",
                               "comment": "meh", "corrected_output": "Better."})
    assert done.status_code == 302 and done["Location"].endswith("/next")
    verdict = Verdict.objects.get()
    assert verdict.answers == {"correct": "partially", "helpfulness": 3, "hallucination": True}
    second = client.get(done["Location"])["Location"]
    assert client.post(second, {"action": "skip"}).status_code == 302
    empty = client.get(f"/projects/{project.id}/review/{queue.id}/next")
    assert empty.status_code == 200 and b'data-testid="queue-empty"' in empty.content
    listing = client.get(f"/projects/{project.id}/review/").content.decode()
    assert 'data-testid="backlog">1<' in listing and "member 1" in listing


def test_add_to_queue_from_call_detail(api: Api, project: Any, queue: Any, member: Any, viewer: Any) -> None:
    feed(api, project, [call(1)], evaluate=False)
    detail = signed_in(member).get(f"/projects/{project.id}/calls/c-1")
    assert b'data-testid="add-to-queue"' in detail.content
    assert b'data-testid="add-to-queue"' not in signed_in(viewer).get(f"/projects/{project.id}/calls/c-1").content
    added = signed_in(member).post(f"/projects/{project.id}/review/add", {"call_id": "c-1", "queue": queue.id})
    assert added.status_code == 302 and added["Location"] == f"/projects/{project.id}/calls/c-1"
    assert Item.objects.filter(queue=queue, reason__manual="member").count() == 1


def test_the_queue_page_shows_health_agreement_and_left_out(api: Api, project: Any, queue: Any, owner: Any,
                                                            django_assert_max_num_queries: Any) -> None:
    queue.daily_cap, queue.reviewers_per_item = 1, 2
    queue.save()
    rule_create(queue=queue, actor=owner, data={"kind": "sample", "rate": 1.0})
    feed(api, project, [call(1), call(2), call(3)])
    client = signed_in(owner)
    with django_assert_max_num_queries(40):
        page = client.get(f"/projects/{project.id}/review/{queue.id}/").content.decode()
    assert 'data-testid="left-out">2<' in page and 'data-testid="agreement"' in page
    assert "review.support-answers.correct" in page


def test_nul_characters_are_a_400_not_a_500(project: Any, queue: Any, owner: Any) -> None:
    client = signed_in(owner)
    assert client.post(f"/projects/{project.id}/review/{queue.id}/rules", {"kind": "flag", "flags": "a\x00"}
                       ).status_code == 400
    api = client.post(f"/api/v1/queues/{queue.id}/rules", data=json.dumps({"kind": "flag", "flags": ["x\x00"]}),
                      content_type="application/json")
    assert api.status_code == 400 and "flags[0]" in api.json()["error"]["details"]
    assert client.get("/api/v1/queues/nope").status_code == 404
    assert client.get("/api/v1/queues/nope").json()["error"]["code"]


def test_export_from_the_queue_page_and_download(api: Api, project: Any, queue: Any, owner: Any, member: Any) -> None:
    feed(api, project, [call(1)], evaluate=False)
    items_add(queue=queue, call_ids=["c-1"], actor=owner)
    client = signed_in(member)
    item = client.get(f"/projects/{project.id}/review/{queue.id}/next")["Location"]
    client.post(item, {"q-correct": "wrong", "q-helpfulness": "2", "corrected_output": "Use the reset link."})
    assert client.post(f"/projects/{project.id}/review/{queue.id}/export", {"name": "golden"}).status_code == 403
    admin = signed_in(owner)
    assert admin.post(f"/projects/{project.id}/review/{queue.id}/export", {"name": "golden"}).status_code == 302
    listing = admin.get(f"/projects/{project.id}/review/").content.decode()
    assert "v1 (1 items" in listing
    body = b"".join(client.get(f"/projects/{project.id}/review/datasets/golden/1.jsonl").streaming_content)
    assert json.loads(body)["expected_output"] == "Use the reset link."
    assert client.get(f"/projects/{project.id}/review/datasets/golden/2.jsonl").status_code == 404


def test_a_disputed_item_offers_admins_the_final_verdict(api: Api, project: Any, queue: Any, owner: Any,
                                                         member: Any, second: Any) -> None:
    from review.reviewing import verdict_submit

    queue.reviewers_per_item = 2
    queue.save()
    feed(api, project, [call(1)], evaluate=False)
    items_add(queue=queue, call_ids=["c-1"], actor=owner)
    item = Item.objects.get(queue=queue)
    verdict_submit(item_id=item.id, queue=queue, user=member, answers={"correct": "correct", "helpfulness": 5})
    verdict_submit(item_id=item.id, queue=queue, user=second, answers={"correct": "wrong", "helpfulness": 1})
    url = f"/projects/{project.id}/review/{queue.id}/items/{item.id}"
    assert b'data-testid="disputed"' not in signed_in(member).get(url).content
    assert b'data-testid="disputed"' in signed_in(owner).get(url).content
    assert signed_in(member).post(url, {"action": "resolve", "q-correct": "wrong"}).status_code == 403
    done = signed_in(owner).post(url, {"action": "resolve", "q-correct": "wrong", "q-helpfulness": "2"})
    assert done.status_code == 302
    assert b'data-testid="final-verdict"' in signed_in(member).get(url).content
