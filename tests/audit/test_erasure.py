"""Erasing and exporting one end user's data (privacy.services), proved on the real database: after
an erasure no column of any table still holds the id, and the project's totals are unchanged."""
from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEntry
from privacy.services import end_user_erase, end_user_export, user_id_digest
from quality.services import project_evaluate
from rollups.models import EntityRollup
from rollups.signals import project_signals_fold
from telemetry.models import Call, Feedback, PendingCall, Score, Trace
from telemetry.services import project_process
from tests.conftest import Api, call_event

SUBJECT = "gdpr-subject-7f3a@example.com"  # unique enough that any match in the database is theirs
OTHER = "someone-else-19"
TEXT_TYPES = ("text", "character varying", "character", "jsonb", "json", "ARRAY", "tsvector")


def rows_holding(value: str) -> dict[str, int]:
    """{table.column: rows whose value, as text, contains `value`}, over every text-like column of
    every table in the schema (arrays, JSON and full-text vectors included)."""
    found: dict[str, int] = {}
    with connection.cursor() as cur:
        cur.execute("SELECT table_name, column_name FROM information_schema.columns c"
                    " JOIN information_schema.tables t USING (table_schema, table_name)"
                    " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
                    " AND c.data_type = ANY(%s) ORDER BY 1, 2", [list(TEXT_TYPES)])
        columns = cur.fetchall()
        assert len(columns) > 50  # the scan really covers the schema
        for table, column in columns:
            cur.execute(f'SELECT count(*) FROM "{table}" WHERE strpos("{column}"::text, %s) > 0', [value])
            count = cur.fetchone()[0]
            if count:
                found[f"{table}.{column}"] = count
    return found


def totals(project_id: int) -> tuple[int, Decimal, int]:
    """(calls, cost, feedback count) of the project from the rollups (no user dimension)."""
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(sum(calls), 0), COALESCE(sum(cost_usd), 0) FROM rollups_rollup"
                    " WHERE project_id = %s AND grain = 'd' AND cube = 'total' AND score = ''", [project_id])
        calls, cost = cur.fetchone()
        cur.execute("SELECT COALESCE(sum(score_count), 0) FROM rollups_rollup WHERE project_id = %s"
                    " AND grain = 'd' AND cube = 'total' AND score = 'feedback:count'", [project_id])
        return int(calls), cost, int(cur.fetchone()[0])


def process(project: Any) -> None:
    while project_process(project_id=project.id):
        pass
    while project_evaluate(project_id=project.id):
        pass
    while project_signals_fold(project_id=project.id):
        pass


def events() -> list[dict[str, Any]]:
    """The subject's calls (with PII in payloads, a score, feedback, a trace shared with someone
    else, a trace of their own), someone else's calls, and feedback the subject gave on those."""
    out = []
    for i in range(6):
        out.append(call_event(i, id=f"subject-{i}", trace_id="shared-trace" if i == 0 else f"own-{i}",
                              user_id=SUBJECT, session_id="sess-mixed" if i < 3 else "sess-own",
                              input=f"My email is {SUBJECT}, please help", output="Sure, jane.doe@example.com",
                              metadata={"who": SUBJECT}, timestamp="2026-11-20T10:0%d:00Z" % i))
    for i in range(4):
        out.append(call_event(100 + i, id=f"other-{i}", trace_id="shared-trace" if i == 0 else f"other-{i}",
                              user_id=OTHER, session_id="sess-mixed", timestamp="2026-11-20T11:0%d:00Z" % i))
    out += [
        {"type": "score", "id": "sc-subject", "call_id": "subject-1", "name": "helpfulness", "value": 0.5,
         "comment": f"about {SUBJECT}"},
        {"type": "feedback", "id": "fb-subject", "call_id": "subject-2", "thumbs": "down", "user_id": SUBJECT,
         "comment": "bad"},
        {"type": "feedback", "id": "fb-on-other", "call_id": "other-1", "thumbs": "up", "user_id": SUBJECT},
        {"type": "feedback", "id": "fb-other", "call_id": "other-2", "rating": 4, "user_id": OTHER},
        {"type": "score", "id": "sc-other", "call_id": "other-3", "name": "helpfulness", "value": 0.9},
    ]
    return out


@pytest.fixture
def subject_data(full_api: Api, project: Any, prices: None) -> Any:
    response = full_api.ingest(events())
    assert response.status_code == 202, response.content
    process(project)
    assert rows_holding(SUBJECT)  # the scan finds the id before the erasure
    return project


def test_erasure_leaves_nothing_of_the_user_anywhere_and_keeps_totals(subject_data: Any, owner: Any) -> None:
    project = subject_data
    before = totals(project.id)
    assert before[0] == 10 and before[2] == 3
    counts = end_user_erase(project=project, user_id=SUBJECT, actor=owner)
    assert rows_holding(SUBJECT) == {}
    # The workers run again and change nothing: no signal is folded out, no call folded twice.
    process(project)
    assert totals(project.id) == before
    assert rows_holding(SUBJECT) == {}
    # Per table counts; other users' data untouched.
    assert counts["telemetry_call"] == 6 and counts["telemetry_callpayload"] == 6
    assert counts["telemetry_feedback"] == 2 and counts["telemetry_score"] >= 1
    assert Call.objects.filter(project=project, user_id=OTHER).count() == 4
    assert set(Feedback.objects.filter(project=project).values_list("external_id", flat=True)) == {"fb-other"}
    assert Score.objects.filter(project=project, external_id="sc-other").exists()
    # The shared trace keeps the other user's span, its own traces are gone, the mixed session keeps the other's.
    shared = Trace.objects.get(project=project, trace_id="shared-trace")
    assert shared.call_count == 1 and shared.user_id != SUBJECT
    assert not Trace.objects.filter(project=project, trace_id__startswith="own-").exists()
    mixed = EntityRollup.objects.get(project=project, entity="session", key="sess-mixed")
    assert mixed.calls == 4
    assert not EntityRollup.objects.filter(project=project, entity="session", key="sess-own").exists()
    assert EntityRollup.objects.filter(project=project, entity="user", key=OTHER).exists()


def test_erasure_leaves_a_receipt_without_the_id(subject_data: Any, owner: Any) -> None:
    counts = end_user_erase(project=subject_data, user_id=SUBJECT, actor=owner)
    receipt = AuditEntry.objects.get(action="end_user.erased", project_id=subject_data.id)
    assert receipt.actor_label == "owner" and receipt.actor_user_id == owner.id
    assert receipt.after["user_id_hmac"] == user_id_digest(project_id=subject_data.id, user_id=SUBJECT)
    assert receipt.after["rows_removed"] == dict(sorted(counts.items()))
    assert SUBJECT not in json.dumps([receipt.before, receipt.after, receipt.target_label, receipt.target_id])


def test_calls_not_yet_processed_are_dequeued_and_workers_do_not_trip(full_api: Api, project: Any,
                                                                     prices: None) -> None:
    assert full_api.ingest([call_event(1, user_id=SUBJECT), call_event(2, user_id=OTHER)]).status_code == 202
    assert PendingCall.objects.filter(project_id=project.id).count() == 2
    end_user_erase(project=project, user_id=SUBJECT, actor="system:test")
    assert PendingCall.objects.filter(project_id=project.id).count() == 1
    process(project)  # the worker meets no missing call
    assert totals(project.id)[0] == 1  # never counted: erased before it was processed
    assert rows_holding(SUBJECT) == {}


def test_a_second_erasure_finds_nothing_and_says_so(subject_data: Any) -> None:
    end_user_erase(project=subject_data, user_id=SUBJECT, actor="system:test")
    again = end_user_erase(project=subject_data, user_id=SUBJECT, actor="system:test")
    assert sum(again.values()) == 0
    assert AuditEntry.objects.filter(action="end_user.erased").count() == 2


def test_small_batches_give_the_same_result(subject_data: Any) -> None:
    before = totals(subject_data.id)
    counts = end_user_erase(project=subject_data, user_id=SUBJECT, actor="system:test", batch_size=2)
    assert counts["telemetry_call"] == 6
    assert rows_holding(SUBJECT) == {}
    assert totals(subject_data.id) == before


def test_an_empty_user_id_is_refused(project: Any) -> None:
    with pytest.raises(ValueError):
        end_user_erase(project=project, user_id="", actor="system:test")


def test_export_holds_the_users_data_and_nothing_of_others(subject_data: Any) -> None:
    document = json.loads("".join(end_user_export(project=subject_data, user_id=SUBJECT)))
    assert document["user_id"] == SUBJECT
    assert sorted(c["id"] for c in document["calls"]) == [f"subject-{i}" for i in range(6)]
    by_id = {c["id"]: c for c in document["calls"]}
    assert SUBJECT in json.dumps(by_id["subject-0"]["input"])
    assert [s["id"] for s in by_id["subject-1"]["scores"] if s["source"] != "evaluator"
            and not s["id"].startswith("eval:")] == ["sc-subject"]
    assert [f["id"] for f in by_id["subject-2"]["feedback"]] == ["fb-subject"]
    assert [f["id"] for f in document["feedback_given"]] == ["fb-on-other"]
    text = json.dumps(document)
    assert OTHER not in text and "fb-other" not in text and "sc-other" not in text


def test_export_of_an_unknown_user_is_an_empty_document(project: Any) -> None:
    document = json.loads("".join(end_user_export(project=project, user_id="<nobody>")))
    assert document["calls"] == [] and document["feedback_given"] == []


def test_commands_export_then_erase(subject_data: Any, tmp_path: Any) -> None:
    target = tmp_path / "export.json"
    call_command("export_end_user", "--project", str(subject_data.id), "--user-id", SUBJECT, "-o", str(target))
    assert len(json.loads(target.read_text())["calls"]) == 6
    out = StringIO()
    call_command("erase_end_user", "--project", str(subject_data.id), "--user-id", SUBJECT, "--yes", stdout=out)
    assert "telemetry_call: 6" in out.getvalue()
    assert rows_holding(SUBJECT) == {}
    assert AuditEntry.objects.get(action="end_user.erased").actor_label == "system:erase_end_user"


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'")
        return cur.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_an_erasure_waits_for_a_worker_holding_the_users_calls(full_api: Api, project: Any, prices: None) -> None:
    """A worker has claimed the user's calls and folded them, not yet committed, when the erasure
    starts: the erasure waits for it, then takes the folded calls' figures out of the per-session
    rows; the project totals keep them; neither side fails."""
    import threading
    import time

    from telemetry import services

    assert full_api.ingest(events()).status_code == 202
    mid_batch, resume = threading.Event(), threading.Event()
    worker_results: list[Any] = []
    erase_results: list[Any] = []

    def run(target: Any, results: list[Any]) -> None:
        try:
            results.append(target())
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            results.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=run, args=(lambda: project_process(project_id=project.id), worker_results))
    eraser = threading.Thread(target=run, args=(
        lambda: end_user_erase(project=project, user_id=SUBJECT, actor="system:test"), erase_results))

    def hold(cursor: Any, project_id: int, ids: list[int]) -> None:
        if threading.current_thread() is worker:  # after the fold, before the commit
            mid_batch.set()
            assert resume.wait(30)

    services.register_processor(hold)
    try:
        worker.start()
        assert mid_batch.wait(30)
        eraser.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert eraser.is_alive()  # waiting for the worker's claim
        resume.set()
        worker.join(30)
        eraser.join(30)
    finally:
        resume.set()
        services._PROCESSORS.remove(hold)
    assert not isinstance(worker_results[0], Exception), worker_results
    assert not isinstance(erase_results[0], Exception), erase_results
    assert erase_results[0]["telemetry_call"] == 6 and erase_results[0]["telemetry_pendingcall"] == 0
    process(project)
    assert totals(project.id)[0] == 10  # the worker folded them before the erasure: they stay, anonymous
    assert rows_holding(SUBJECT) == {}
    assert EntityRollup.objects.get(project=project, entity="session", key="sess-mixed").calls == 4
    assert not EntityRollup.objects.filter(project=project, entity="session", key="sess-own").exists()


def test_queued_evaluations_of_erased_calls_go_and_the_evaluator_does_not_trip(full_api: Api, project: Any,
                                                                               prices: None) -> None:
    from quality.models import PendingEvaluation

    assert full_api.ingest(events()).status_code == 202
    while project_process(project_id=project.id):
        pass
    queued = PendingEvaluation.objects.filter(project_id=project.id).count()
    assert queued == 10  # processed, not evaluated yet
    counts = end_user_erase(project=project, user_id=SUBJECT, actor="system:test")
    assert counts["quality_pendingevaluation"] == 6
    assert project_evaluate(project_id=project.id) == 4
    process(project)
    assert rows_holding(SUBJECT) == {}


def test_the_cached_top_users_forget_the_user(subject_data: Any) -> None:
    from datetime import datetime, timezone

    from dashboards.selectors.people import top_entities_cached

    span = {"project_id": subject_data.id, "entity": "user", "start": datetime(2026, 11, 20, tzinfo=timezone.utc),
            "end": datetime(2026, 11, 21, tzinfo=timezone.utc), "order": "calls", "limit": 10}
    assert SUBJECT in [row["key"] for row in top_entities_cached(**span)]  # now cached
    end_user_erase(project=subject_data, user_id=SUBJECT, actor="system:test")
    assert [row["key"] for row in top_entities_cached(**span)] == [OTHER]


def test_dataset_items_copied_from_the_users_calls_go(subject_data: Any) -> None:
    from django.utils import timezone

    from review.models import Dataset, DatasetItem, DatasetVersion

    dataset = Dataset.objects.create(project=subject_data, name="golden")
    version = DatasetVersion.objects.create(dataset=dataset, version=1, item_count=3, created_at=timezone.now())
    calls = {c.external_id: c for c in Call.objects.filter(project=subject_data)}
    for position, external_id in enumerate(["subject-0", "subject-1", "other-0"]):
        call = calls[external_id]
        DatasetItem.objects.create(version=version, position=position, call_id=call.id,
                                   call_external_id=external_id, input={"text": f"from {call.user_id}"})
    counts = end_user_erase(project=subject_data, user_id=SUBJECT, actor="system:test")
    assert counts["review_datasetitem"] == 2
    version.refresh_from_db()
    assert version.item_count == 1
    assert list(DatasetItem.objects.values_list("call_external_id", flat=True)) == ["other-0"]
    assert rows_holding(SUBJECT) == {}
