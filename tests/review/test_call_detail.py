"""Call detail's Review panel: "Add to a dataset" (owners and admins) writes the dataset's next
version, the previous one plus the call, with the expected output and labels given; exports from
a queue carry such items forward; members add to queues only, viewers see neither."""
from __future__ import annotations

import json
from typing import Any

import pytest

from review import datasets
from review.models import Dataset, DatasetVersion
from review.reviewing import item_claim_next, verdict_submit
from review.services import items_add
from tests.conftest import Api
from tests.review.conftest import call, feed, signed_in

pytestmark = pytest.mark.django_db
XSS = '<script>alert(1)</script>'
ANSWERS = {"correct": "correct", "helpfulness": 4}


def _items(dataset: Dataset, version: int) -> list[dict[str, Any]]:
    found = dataset.versions.get(version=version)
    return [datasets.item_dict(i) for i in found.items.order_by("position")]


def test_admins_add_a_call_to_a_dataset_as_a_new_version(api: Api, project: Any, owner: Any, admin_user: Any,
                                                          member: Any, viewer: Any) -> None:
    feed(api, project, [call(1, output=f"Reset it under Settings. {XSS}"),
                        call(2, output={"role": "assistant", "content": "Use the link we emailed."})],
         evaluate=False)
    admin = signed_in(admin_user)
    page = admin.get(f"/projects/{project.id}/calls/c-1").content.decode()
    assert 'data-testid="add-to-dataset"' in page
    assert "Reset it under Settings. &lt;script&gt;" in page and XSS not in page  # the default, escaped
    assert 'data-testid="add-to-dataset"' not in signed_in(member).get(f"/projects/{project.id}/calls/c-1").content.decode()
    assert 'data-testid="review-actions"' not in signed_in(viewer).get(f"/projects/{project.id}/calls/c-1").content.decode()

    url = f"/projects/{project.id}/review/datasets/add"
    added = admin.post(url, {"call_id": "c-1", "dataset": "support-golden", "expected_output": "Settings → Security.",
                             "labels": "topic=password, verdict = corrected"})
    assert added.status_code == 302 and added["Location"] == f"/projects/{project.id}/calls/c-1"
    dataset = Dataset.objects.get(project=project, name="support-golden")  # created on first use
    [first] = _items(dataset, 1)
    assert first["call_id"] == "c-1" and first["expected_output"] == "Settings → Security."
    assert first["labels"] == {"topic": "password", "verdict": "corrected"}
    assert first["input"][0]["content"] == "How do I reset my password? (1)"
    assert first["metadata"]["source"] == "manual" and first["metadata"]["added_by"] == "admin"

    # A structured output comes back as JSON when its text still parses.
    structured = json.dumps({"role": "assistant", "content": "Use the link we emailed."})
    admin.post(url, {"call_id": "c-2", "dataset": "support-golden", "expected_output": structured, "labels": ""})
    assert [i["expected_output"] for i in _items(dataset, 2)] == [
        "Settings → Security.", {"role": "assistant", "content": "Use the link we emailed."}]
    assert len(_items(dataset, 1)) == 1  # version 1 is a snapshot: unchanged
    assert DatasetVersion.objects.get(dataset=dataset, version=2).item_count == 2

    refused = admin.post(url, {"call_id": "c-1", "dataset": "support-golden", "expected_output": "x",
                               "labels": "no equals sign"}, follow=True)
    assert "labels: &#x27;no equals sign&#x27; is not name=value" in refused.content.decode()
    refused = admin.post(url, {"call_id": "c-1", "dataset": "Bad Name", "expected_output": "x"}, follow=True)
    assert "Not added to the dataset: dataset: 1-100 lower-case letters" in refused.content.decode()
    assert dataset.versions.count() == 2
    assert signed_in(member).post(url, {"call_id": "c-1", "dataset": "support-golden",
                                        "expected_output": "x"}).status_code == 403
    assert admin.post(url, {"call_id": "nope", "dataset": "support-golden", "expected_output": "x"}).status_code == 404


def test_an_export_from_a_queue_keeps_the_items_added_by_hand(api: Api, project: Any, queue: Any, owner: Any,
                                                              member: Any) -> None:
    feed(api, project, [call(1), call(2)], evaluate=False)
    dataset = datasets.dataset_create(project=project, actor=owner, name="golden", queue=queue)
    from telemetry.models import Call

    datasets.dataset_item_add(dataset=dataset, call=Call.objects.get(external_id="c-2"), actor=owner,
                              expected_output="By hand.", labels={"source": "support"})
    items_add(queue=queue, call_ids=["c-1"], actor=owner)
    item = item_claim_next(queue=queue, user=member)
    verdict_submit(item_id=item.id, queue=queue, user=member, answers=ANSWERS)
    version = datasets.dataset_export(dataset=dataset, actor=owner)
    assert version.version == 2 and version.item_count == 2
    rows = _items(dataset, 2)
    assert [(r["call_id"], r["metadata"].get("source")) for r in rows] == [("c-1", None), ("c-2", "manual")]
    assert [r["position"] for r in rows] == [0, 1]
    with pytest.raises(datasets.Invalid) as raised:
        datasets.dataset_item_add(dataset=dataset, call=Call.objects.get(external_id="c-1"), actor=owner,
                                  expected_output="", labels={})
    assert raised.value.field == "expected_output"


def test_the_api_adds_a_call_to_a_dataset(api: Api, project: Any, owner: Any, member: Any, read_key: str) -> None:
    from django.test import Client

    feed(api, project, [call(1, output="Open Settings.")], evaluate=False)
    datasets.dataset_create(project=project, actor=owner, name="golden")
    path = f"/api/v1/datasets/golden/items?project={project.id}"

    def post(client: Client, body: Any) -> Any:
        return client.post(path, data=json.dumps(body), content_type="application/json")

    created = post(signed_in(owner), {"call_id": "c-1", "labels": {"topic": "settings"}})
    assert created.status_code == 201, created.content
    assert created.json()["version"] == 1 and created.json()["items"] == 1
    rows = signed_in(owner).get(f"/api/v1/datasets/golden/versions/1/items?project={project.id}").json()["data"]
    assert rows[0]["expected_output"] == "Open Settings." and rows[0]["labels"] == {"topic": "settings"}
    assert post(signed_in(owner), {"call_id": "c-9"}).json()["error"]["details"].keys() == {"call_id"}
    assert "labels" in post(signed_in(owner), {"call_id": "c-1", "labels": ["x"]}).json()["error"]["details"]
    assert post(signed_in(member), {"call_id": "c-1"}).status_code == 403
    assert post(Client(HTTP_AUTHORIZATION=f"Bearer {read_key}"), {"call_id": "c-1"}).status_code == 403
