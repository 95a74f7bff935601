"""Golden datasets: what an export holds, and versions that never change."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from review.datasets import csv_lines, dataset_create, dataset_export, jsonl_lines
from review.models import DatasetItem, Item
from review.reviewing import verdict_submit
from review.services import items_add
from tests.conftest import Api
from tests.review.conftest import call, feed

pytestmark = pytest.mark.django_db


def test_an_export_takes_corrected_and_approved_items_and_later_exports_leave_it_unchanged(
        api: Api, project: Any, queue: Any, owner: Any, member: Any) -> None:
    feed(api, project, [call(i, output="=HYPERLINK(\"http://evil\")" if i == 2 else f"answer {i}")
                        for i in range(4)], evaluate=False)
    items_add(queue=queue, call_ids=["c-0", "c-1", "c-2", "c-3"], actor=owner)
    by_call = {i.call.external_id: i for i in Item.objects.filter(queue=queue).select_related("call")}
    verdict_submit(item_id=by_call["c-0"].id, queue=queue, user=member, answers={"correct": "correct", "helpfulness": 5})
    verdict_submit(item_id=by_call["c-1"].id, queue=queue, user=member, answers={"correct": "wrong", "helpfulness": 1},
                   corrected_output="Use the reset link on the sign-in page.")
    verdict_submit(item_id=by_call["c-2"].id, queue=queue, user=member, answers={"correct": "correct", "helpfulness": 3})
    verdict_submit(item_id=by_call["c-3"].id, queue=queue, user=member, answers={"correct": "wrong", "helpfulness": 1})
    dataset = dataset_create(project=project, actor=owner, name="support-golden", queue=queue)
    first = dataset_export(dataset=dataset, actor=owner)
    rows = [json.loads(line) for line in jsonl_lines(first)]
    assert [r["call_id"] for r in rows] == ["c-0", "c-1", "c-2"]  # c-3: wrong and not corrected, so not golden
    assert rows[0]["expected_output"] == "answer 0" and rows[0]["input"][0]["role"] == "user"
    assert rows[1]["expected_output"] == "Use the reset link on the sign-in page."
    assert rows[1]["labels"] == {"correct": "wrong", "helpfulness": 1} and rows[1]["metadata"]["corrected"] is True
    assert rows[0]["metadata"]["reviews"][0]["reviewer"] == "member"
    table = list(csv.reader(io.StringIO("".join(csv_lines(first)))))
    assert table[0] == ["position", "call_id", "input", "expected_output", "labels", "metadata"]
    assert table[3][3].startswith("'=HYPERLINK")  # a formula is text in a spreadsheet

    Item.objects.filter(pk=by_call["c-0"].id).delete()
    second = dataset_export(dataset=dataset, actor=owner)
    assert (first.version, second.version) == (1, 2)
    assert [json.loads(line) for line in jsonl_lines(first)] == rows  # the snapshot did not move
    assert DatasetItem.objects.filter(version=second).count() == 2


def test_dataset_names_are_url_safe(project: Any, owner: Any) -> None:
    from review.errors import Invalid

    with pytest.raises(Invalid) as refused:
        dataset_create(project=project, actor=owner, name="Support Golden")
    assert refused.value.field == "name"
