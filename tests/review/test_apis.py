"""The review API: roles and keys, 4xx naming the field, the reviewing flow, datasets for CI."""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from quality.models import Judge, QualitySettings
from review.models import Item, Queue
from review.services import rule_create
from tests.conftest import Api
from tests.review.conftest import RUBRIC, call, feed, signed_in

pytestmark = pytest.mark.django_db
ANSWERS = {"correct": "correct", "helpfulness": 4}


def post(client: Client, path: str, body: Any, **params: Any) -> Any:
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    return client.post(path + query, data=json.dumps(body), content_type="application/json")


def test_owners_create_queues_members_and_keys_may_not(project: Any, owner: Any, member: Any, read_key: str) -> None:
    body = {"name": "Flagged", "rubric": RUBRIC}
    assert post(signed_in(member), "/api/v1/queues", body, project=project.id).status_code == 403
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert post(keyed, "/api/v1/queues", body).status_code == 403
    created = post(signed_in(owner), "/api/v1/queues", body, project=project.id)
    assert created.status_code == 201, created.content
    assert created.json()["score_names"] == ["review.flagged.correct", "review.flagged.helpfulness",
                                             "review.flagged.hallucination"]
    listed = keyed.get("/api/v1/queues")
    assert listed.status_code == 200 and listed.json()["data"][0]["backlog"] == 0


def test_strangers_get_404(queue: Any, outsider: Any, other_project: Any) -> None:
    assert signed_in(outsider).get(f"/api/v1/queues/{queue.id}").status_code == 404
    assert post(signed_in(outsider), f"/api/v1/queues/{queue.id}/items/next", {}).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "rubric": []}, "rubric"),
    ({"name": "x", "rubric": [{"name": "c", "kind": "categorical", "labels": []}]}, "rubric[0].labels"),
    ({"name": "x", "rubric": [{"name": "c", "kind": "numeric", "min": 5, "max": 1}]}, "rubric[0].max"),
    ({"name": "x", "rubric": [{"name": "c", "kind": "stars"}]}, "rubric[0].kind"),
    ({"name": "x", "rubric": RUBRIC, "reviewers_per_item": 6}, "reviewers_per_item"),
    ({"name": "", "rubric": RUBRIC}, "name"),
])
def test_a_bad_queue_is_a_400_naming_the_field(project: Any, owner: Any, body: dict[str, Any], field: str) -> None:
    response = post(signed_in(owner), "/api/v1/queues", body, project=project.id)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "flag", "flags": ["pii.emial"]}, "flags"),
    ({"kind": "flag", "min_severity": "urgent"}, "min_severity"),
    ({"kind": "score", "score": "relevance", "direction": "under", "threshold": 0.2}, "direction"),
    ({"kind": "feedback", "feedback": "rating"}, "rating_max"),
    ({"kind": "sample", "rate": 2}, "rate"),
    ({"kind": "teleport"}, "kind"),
])
def test_a_bad_rule_is_a_400_naming_the_field(queue: Any, owner: Any, body: dict[str, Any], field: str) -> None:
    response = post(signed_in(owner), f"/api/v1/queues/{queue.id}/rules", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]


def test_known_flags_rules_judges_and_backfill(project: Any, queue: Any, owner: Any) -> None:
    client = signed_in(owner)
    for flags in (["rule.competitor"], ["judge.helpful"]):
        assert post(client, f"/api/v1/queues/{queue.id}/rules", {"kind": "flag", "flags": flags}).status_code == 400
    QualitySettings.objects.create(project=project, rules=[{"name": "competitor", "pattern": "acme"}])
    Judge.objects.create(project=project, name="helpful", template="helpfulness", base_url="http://judge:1/v1",
                         model="m")
    for flags in (["pii.email", "toxicity"], ["rule.competitor"], ["judge.helpful"]):
        assert post(client, f"/api/v1/queues/{queue.id}/rules", {"kind": "flag", "flags": flags}).status_code == 201
    rule = client.get(f"/api/v1/queues/{queue.id}/rules").json()["data"][0]
    assert rule["description"] == "pii.email, toxicity at severity low or more"
    started = post(client, f"/api/v1/queues/{queue.id}/rules/{rule['id']}/backfill", {"days": 7})
    assert started.status_code == 202
    assert post(client, f"/api/v1/queues/{queue.id}/rules/{rule['id']}/backfill", {"days": 0}).json()[
        "error"]["details"] == {"days": "a whole number of days from 1 to 90"}


def test_a_member_reviews_through_the_api(api: Api, project: Any, queue: Any, owner: Any, member: Any,
                                          viewer: Any) -> None:
    rule_create(queue=queue, actor=owner, data={"kind": "sample", "rate": 1.0})
    feed(api, project, [call(1, output="<b>bold</b>")])
    assert post(signed_in(viewer), f"/api/v1/queues/{queue.id}/items/next", {}).status_code == 403
    client = signed_in(member)
    claimed = post(client, f"/api/v1/queues/{queue.id}/items/next", {})
    assert claimed.status_code == 200 and claimed.json()["output"] == "<b>bold</b>"
    item = claimed.json()["id"]
    outside = post(client, f"/api/v1/queues/{queue.id}/items/{item}/submit", {"answers": {**ANSWERS, "correct": "meh"}})
    assert outside.status_code == 400 and "answers.correct" in outside.json()["error"]["details"]
    unknown = post(client, f"/api/v1/queues/{queue.id}/items/{item}/submit", {"answers": ANSWERS, "score": 1})
    assert unknown.status_code == 400 and "score" in unknown.json()["error"]["details"]
    done = post(client, f"/api/v1/queues/{queue.id}/items/{item}/submit", {"answers": ANSWERS})
    assert done.status_code == 201 and done.json()["item"]["status"] == "done"
    again = post(client, f"/api/v1/queues/{queue.id}/items/{item}/submit", {"answers": ANSWERS})
    assert again.status_code == 409
    assert post(client, f"/api/v1/queues/{queue.id}/items/next", {}).status_code == 204
    listed = client.get(f"/api/v1/queues/{queue.id}/items", {"status": "done"}).json()["data"]
    assert [i["id"] for i in listed] == [item]


def test_skip_and_manual_add(api: Api, project: Any, queue: Any, member: Any, second: Any) -> None:
    feed(api, project, [call(1), call(2)], evaluate=False)
    client = signed_in(member)
    added = post(client, f"/api/v1/queues/{queue.id}/items", {"call_ids": ["c-1", "c-2", "missing"]})
    assert added.status_code == 201 and added.json() == {"added": 2}
    assert post(client, f"/api/v1/queues/{queue.id}/items", {"call_ids": "c-1"}).status_code == 400
    first = post(client, f"/api/v1/queues/{queue.id}/items/next", {}).json()["id"]
    assert post(client, f"/api/v1/queues/{queue.id}/items/{first}/skip", {}).status_code == 204
    assert post(client, f"/api/v1/queues/{queue.id}/items/next", {}).json()["id"] != first
    assert post(signed_in(second), f"/api/v1/queues/{queue.id}/items/next", {}).json()["id"] == first


def test_datasets_for_ci_paged_and_downloaded(api: Api, project: Any, queue: Any, owner: Any, member: Any,
                                              read_key: str) -> None:
    feed(api, project, [call(i) for i in range(3)], evaluate=False)
    client = signed_in(member)
    post(client, f"/api/v1/queues/{queue.id}/items", {"call_ids": ["c-0", "c-1", "c-2"]})
    for item in Item.objects.filter(queue=queue):
        post(client, f"/api/v1/queues/{queue.id}/items/{item.id}/submit", {"answers": ANSWERS})
    admin = signed_in(owner)
    assert post(admin, "/api/v1/datasets", {"name": "Bad Name!"}, project=project.id).status_code == 400
    assert post(admin, "/api/v1/datasets", {"name": "golden", "queue": queue.id}, project=project.id).status_code == 201
    assert post(admin, "/api/v1/datasets", {"name": "golden"}, project=project.id).status_code == 409
    assert post(admin, "/api/v1/datasets/golden/versions", {}, project=project.id).json()["items"] == 3
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    page = keyed.get("/api/v1/datasets/golden/versions/1/items", {"limit": 2}).json()
    assert [r["position"] for r in page["data"]] == [0, 1] and page["next_after"] == 1
    rest = keyed.get("/api/v1/datasets/golden/versions/1/items", {"after": 1, "limit": 2}).json()
    assert [r["position"] for r in rest["data"]] == [2] and rest["next_after"] is None
    assert keyed.get("/api/v1/datasets/golden/versions/9/items").status_code == 404
    jsonl = keyed.get("/api/v1/datasets/golden/versions/1/download")
    lines = b"".join(jsonl.streaming_content).decode().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["labels"] == {"correct": "correct", "helpfulness": 4}
    csv = keyed.get("/api/v1/datasets/golden/versions/1/download", {"as": "csv"})
    assert b"".join(csv.streaming_content).decode().startswith("position,call_id,input,expected_output")
    assert keyed.get("/api/v1/datasets/golden/versions/1/download", {"as": "xml"}).status_code == 400


def test_the_schema_documents_the_review_endpoints(client: Client) -> None:
    schema = client.get("/api/schema/", {"format": "json"}).json()
    submit = schema["paths"]["/api/v1/queues/{queue_id}/items/{item_id}/submit"]["post"]
    assert {"201", "400", "403", "404", "409"} <= set(submit["responses"])
    assert "/api/v1/datasets/{name}/versions/{version}/items" in schema["paths"]
    assert Queue.objects.count() == 0


def test_the_final_verdict_through_the_api_is_for_admins(api: Api, project: Any, queue: Any, owner: Any,
                                                         member: Any, second: Any) -> None:
    queue.reviewers_per_item = 2
    queue.save()
    feed(api, project, [call(1)], evaluate=False)
    post(signed_in(member), f"/api/v1/queues/{queue.id}/items", {"call_ids": ["c-1"]})
    item = Item.objects.get(queue=queue).id
    post(signed_in(member), f"/api/v1/queues/{queue.id}/items/{item}/submit", {"answers": ANSWERS})
    post(signed_in(second), f"/api/v1/queues/{queue.id}/items/{item}/submit",
         {"answers": {"correct": "wrong", "helpfulness": 1}})
    path = f"/api/v1/queues/{queue.id}/items/{item}/resolve"
    assert post(signed_in(member), path, {"answers": ANSWERS}).status_code == 403
    resolved = post(signed_in(owner), path, {"answers": ANSWERS})
    assert resolved.status_code == 200 and resolved.json()["status"] == "done"
    assert resolved.json()["resolution"]["answers"] == ANSWERS
    assert post(signed_in(owner), path, {"answers": ANSWERS}).status_code == 409
