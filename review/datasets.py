"""Golden datasets from reviewed items. Each export writes a new immutable version: the items as
they were reviewed at that moment, whatever happens to the queue or the calls afterwards.

An item's expected output is the latest corrected answer a reviewer gave; without one, the call's
own output when every verdict approves it (rubric questions with "approve"; a rubric without such
a question approves whatever was not corrected). Items neither corrected nor approved are left out
of the dataset: they are not golden.

Items can also be added by hand, one call at a time (dataset_item_add): that writes the next version
too, the previous one plus the item; exports carry such items forward."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from review.errors import Conflict, Invalid
from review.models import Dataset, DatasetItem, DatasetVersion, Item, ItemStatus, Queue
from review.rubric import approves
from review.services import _audit
from telemetry.models import CallPayload
from tenancy.models import Project

CHUNK = 500
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def dataset_create(*, project: Project, actor: Any, name: Any, description: Any = "", queue: Queue | None = None
                   ) -> Dataset:
    if not isinstance(name, str) or not name or len(name) > 100 or not set(name) <= _NAME_CHARS:
        raise Invalid("name", "1-100 lower-case letters, digits, - and _ (it is part of the URL)")
    if not isinstance(description, str) or len(description) > 5000:
        raise Invalid("description", "a text of at most 5,000 characters")
    if queue is not None and queue.project_id != project.id:
        raise Invalid("queue", "no such queue in this project")
    with transaction.atomic():
        if Dataset.objects.filter(project=project, name=name).exists():
            raise Conflict("name", f"a dataset named '{name}' exists already")
        dataset = Dataset.objects.create(project=project, name=name, description=description, queue=queue)
        _audit(actor=actor, action="review.dataset.create", project=project, target=dataset, before=None,
               after={"name": name, "queue": queue.id if queue else None})
    return dataset


def _majority(values: list[Any]) -> Any:
    return Counter(json.dumps(v, sort_keys=True) for v in values).most_common(1)[0][0]


def _item_row(item: Item, payload: CallPayload | None, rubric: list[dict[str, Any]]) -> dict[str, Any] | None:
    verdicts = sorted(item.verdicts.all(), key=lambda v: (v.created_at, v.id))
    if not verdicts:
        return None
    final = item.resolution  # an admin's final verdict on a disputed item wins
    corrected = (final or {}).get("corrected_output", "").strip() if final else next(
        (v.corrected_output for v in reversed(verdicts) if v.corrected_output.strip()), "")
    if corrected:
        expected: Any = corrected
    elif all(approves(rubric, answers) for answers in ([final["answers"]] if final else
                                                        [v.answers for v in verdicts])):
        expected = payload.output if payload else None
    else:
        return None
    if expected is None:
        return None
    labels = {}
    for question in rubric:
        given = [v.answers[question["name"]] for v in verdicts if question["name"] in v.answers]
        if final is not None:
            given = [final["answers"][question["name"]]] if question["name"] in final["answers"] else []
        if given:
            labels[question["name"]] = json.loads(_majority(given))
    call = item.call
    metadata = {"queue": item.queue.slug, "item": item.id, "status": item.status, "corrected": bool(corrected),
                "final_verdict": final,
                "model": call.model, "feature": call.feature, "prompt_name": call.prompt_name,
                "prompt_version": call.prompt_version, "environment": call.environment,
                "reviews": [{"reviewer": v.reviewer.username if v.reviewer else None, "answers": v.answers,
                             "comment": v.comment} for v in verdicts]}
    return {"call_id": call.id, "call_external_id": call.external_id, "input": payload.input if payload else None,
            "expected_output": expected, "labels": labels, "metadata": metadata}


def dataset_export(*, dataset: Dataset, actor: Any, queue: Queue | None = None) -> DatasetVersion:
    """Write the next version of `dataset` from the reviewed items of `queue` (default: the dataset's)."""
    queue = queue or dataset.queue
    if queue is None:
        raise Invalid("queue", "name the queue whose reviewed items to export")
    if queue.project_id != dataset.project_id:
        raise Invalid("queue", "no such queue in this project")
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()  # one export per dataset at a time
        previous = dataset.versions.order_by("-version").first()
        number = (previous.version if previous else 0) + 1
        version = DatasetVersion.objects.create(dataset=dataset, version=number, created_at=timezone.now(),
                                                created_by=actor if getattr(actor, "pk", None) else None)
        items = (Item.objects.filter(queue=queue, status__in=[ItemStatus.DONE, ItemStatus.ESCALATED])
                 .select_related("call", "queue").prefetch_related("verdicts__reviewer").order_by("done_at", "id"))
        position = 0
        batch: list[DatasetItem] = []
        for item in items.iterator(chunk_size=CHUNK):
            payload = CallPayload.objects.filter(call_id=item.call_id).first()
            row = _item_row(item, payload, queue.rubric)
            if row is None:
                continue
            batch.append(DatasetItem(version=version, position=position, **row))
            position += 1
            if len(batch) >= CHUNK:
                DatasetItem.objects.bulk_create(batch)
                batch = []
        DatasetItem.objects.bulk_create(batch)
        position += _carry(old=previous, new=version, start=position, manual_only=True)  # added by hand
        version.item_count = position
        version.save(update_fields=["item_count"])
        _audit(actor=actor, action="review.dataset.export", project=dataset.project, target=dataset, before=None,
               after={"version": number, "items": position, "queue": queue.id})
    return version


# A new version's copy of the previous one: every item (a manual add) or the manual ones only (an
# export, which rebuilds the reviewed ones from the queue), renumbered from `start`.
_CARRY_SQL = """
INSERT INTO review_datasetitem (version_id, position, call_id, call_external_id, input, expected_output, labels,
                                metadata)
SELECT %(new)s, %(start)s + row_number() OVER (ORDER BY position) - 1, call_id, call_external_id, input,
       expected_output, labels, metadata
FROM review_datasetitem WHERE version_id = %(old)s AND (NOT %(manual_only)s OR metadata->>'source' = 'manual')
ORDER BY position
"""
MAX_LABELS = 20


def _carry(*, old: DatasetVersion | None, new: DatasetVersion, start: int, manual_only: bool) -> int:
    if old is None:
        return 0
    with connection.cursor() as cur:
        cur.execute(_CARRY_SQL, {"new": new.id, "old": old.id, "start": start, "manual_only": manual_only})
        return cur.rowcount


def labels_validate(labels: Any) -> dict[str, Any]:
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS or not all(
            isinstance(k, str) and 0 < len(k) <= 40 for k in labels):
        raise Invalid("labels", f"an object of at most {MAX_LABELS} labels, names of 1-40 characters")
    if not all(v is None or isinstance(v, (str, int, float, bool)) and len(str(v)) <= 200 for v in labels.values()):
        raise Invalid("labels", "each label a text or number of at most 200 characters")
    return labels


def call_output(call: Any) -> Any:
    payload = CallPayload.objects.filter(call_id=call.id).only("output").first()
    return payload.output if payload else None


def expected_from_form(call: Any, text: str) -> Any:
    """The expected output typed on call detail: the text, or JSON again when the call's output was
    structured (a message list, an object) and the text still parses."""
    payload = CallPayload.objects.filter(call_id=call.id).only("output").first()
    if payload is not None and payload.output is not None and not isinstance(payload.output, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def dataset_item_add(*, dataset: Dataset, call: Any, expected_output: Any, labels: Any, actor: Any
                     ) -> DatasetVersion:
    """Add one call by hand (call detail, the API): the next version is the previous one plus this
    item, so every version stays a snapshot. The item is marked `"source": "manual"` and later
    exports from a queue carry it forward."""
    labels = labels_validate(labels)
    if expected_output is None or expected_output == "":
        raise Invalid("expected_output", "the output this input should give")
    if len(json.dumps(expected_output, default=str)) > 200_000:
        raise Invalid("expected_output", "at most 200,000 characters")
    if call.project_id != dataset.project_id:
        raise Invalid("call_id", "no such call in this project")
    payload = CallPayload.objects.filter(call_id=call.id).first()
    metadata = {"source": "manual", "added_by": getattr(actor, "username", "") or None, "model": call.model,
                "feature": call.feature, "prompt_name": call.prompt_name, "prompt_version": call.prompt_version,
                "environment": call.environment}
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()  # one new version at a time
        previous = dataset.versions.order_by("-version").first()
        version = DatasetVersion.objects.create(dataset=dataset, version=(previous.version if previous else 0) + 1,
                                                created_at=timezone.now(),
                                                created_by=actor if getattr(actor, "pk", None) else None)
        position = _carry(old=previous, new=version, start=0, manual_only=False)
        DatasetItem.objects.create(version=version, position=position, call_id=call.id,
                                   call_external_id=call.external_id, input=payload.input if payload else None,
                                   expected_output=expected_output, labels=labels, metadata=metadata)
        version.item_count = position + 1
        version.save(update_fields=["item_count"])
        _audit(actor=actor, action="review.dataset.add", project=dataset.project, target=dataset, before=None,
               after={"version": version.version, "call": call.external_id})
    return version


def item_dict(item: DatasetItem) -> dict[str, Any]:
    return {"position": item.position, "call_id": item.call_external_id, "input": item.input,
            "expected_output": item.expected_output, "labels": item.labels, "metadata": item.metadata}


def _rows(version: DatasetVersion) -> Iterator[DatasetItem]:
    yield from version.items.order_by("position").iterator(chunk_size=CHUNK)


def jsonl_lines(version: DatasetVersion) -> Iterator[str]:
    for item in _rows(version):
        yield json.dumps(item_dict(item), ensure_ascii=False, default=str) + "\n"


CSV_COLUMNS = ("position", "call_id", "input", "expected_output", "labels", "metadata")


def csv_lines(version: DatasetVersion) -> Iterator[str]:
    """CSV with JSON in the structured columns. A cell starting with = + - @ gets a leading
    apostrophe: spreadsheets would run it as a formula (CSV injection), and LLM text is untrusted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(list(CSV_COLUMNS))
    for item in _rows(version):
        cells = []
        for column in CSV_COLUMNS:
            value = item_dict(item)[column]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            cells.append("'" + text if text[:1] in ("=", "+", "-", "@") else text)
        yield line(cells)
