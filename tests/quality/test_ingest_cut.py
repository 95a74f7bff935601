"""A payload ingest stored truncated (its marker, ingest.payloads) is not judged as if its preview,
or the marker's own JSON, were the whole answer: whole-text evaluators say "not judged", the
others read the preview ingest kept."""
from __future__ import annotations

import json
from typing import Any

import pytest

from ingest import limits
from quality.evaluators.base import Sample
from quality.evaluators.cut import ingest_cut
from quality.evaluators.output import CompletenessEvaluator, JsonEvaluator, RefusalEvaluator
from quality.services import project_evaluate
from telemetry.models import Score
from telemetry.services import project_process
from tests.conftest import Api, call_event

JSON_MODE = {"response_format": {"type": "json_object"}}


def marker_text(preview: str, size: int, limit: int) -> str:
    # What a Sample holds for a cut field: jsonb's key order (shortest first), written back by json.dumps.
    return json.dumps({"preview": preview, "truncated": True, "limit_bytes": limit, "original_bytes": size},
                      ensure_ascii=False)


def test_a_sample_reads_the_preview_and_knows_the_field_was_cut() -> None:
    sample = Sample(output_text=marker_text('{"items": [1, 2', 5000, 2048), input_text="question",
                    json_requested=True)
    assert sample.output_text == '{"items": [1, 2' and sample.truncated == ("output",)
    assert sample.cut_at_ingest["output"].original_bytes == 5000 and sample.input_text == "question"
    judged = JsonEvaluator().evaluate(sample, {}).scores[0]
    assert (judged.value, judged.label) == (None, "skipped")  # not "invalid": the rest was never stored
    assert judged.reasons == ("not judged: the output was stored truncated (5,000 bytes, over the 2,048-byte limit)",)
    assert RefusalEvaluator().evaluate(sample, {}).scores[0].value is None
    complete = CompletenessEvaluator().evaluate(sample, {}).scores[0]
    assert complete.value == 1.0 and "stored truncated" in complete.reasons[-1]


def test_ordinary_json_answers_are_not_taken_for_a_marker() -> None:
    for text in ('{"truncated": true}', '{"preview": "x", "truncated": false, "original_bytes": 3}',
                 '{"truncated": true, "original_bytes": 9, "preview": 3, "x": [}'):
        assert ingest_cut(text) is None, text
    sample = Sample(output_text='{"truncated": true}', json_requested=True)
    assert JsonEvaluator().evaluate(sample, {}).scores[0].value == 1.0


def test_a_marker_the_worker_cut_again_is_recognised_from_its_ends() -> None:
    # quality.batch cuts a field past PAYLOAD_CAP to its start and end: the marker's JSON no longer parses.
    whole = marker_text("I can't help with that. " + "é" * 300_000, 1_500_000, 1_048_576)
    cut = ingest_cut(whole[:100_000] + " … " + whole[-100_000:])
    assert cut is not None and (cut.original_bytes, cut.limit_bytes) == (1_500_000, 1_048_576)
    assert cut.preview.startswith("I can't help with that. éé") and " … " in cut.preview


def _scores(project: Any, external_id: str) -> dict[str, Score]:
    return {s.name: s for s in Score.objects.filter(call__project=project, call__external_id=external_id)}


@pytest.mark.django_db
def test_the_worker_does_not_judge_a_cut_answer(api: Api, project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PAYLOAD_BYTES", 2048)
    events = [
        call_event(1, output='{"items": [' + "1, " * 2000 + "1]}", params=JSON_MODE),  # valid JSON, cut at 2 KB
        call_event(2, output="I'm sorry, but I can't help with that. " + "x" * 3000, params=JSON_MODE),
        call_event(3, output='{"items": [1, 2', params=JSON_MODE),  # stored whole: judged invalid
    ]
    assert api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    while project_evaluate(project_id=project.id):
        pass
    # The worker writes no score an evaluator could not give (as for a field past PAYLOAD_CAP): the
    # cut calls count as neither valid nor invalid JSON, neither refused nor answered.
    for external_id in ("call-1", "call-2"):
        scores = _scores(project, external_id)
        assert "json_valid" not in scores and "refusal" not in scores, external_id
        assert scores["completeness"].value == 1.0, external_id
        assert scores["completeness"].comment == "judged from the finish reason: the answer was stored truncated"
    whole = _scores(project, "call-3")
    assert whole["json_valid"].value == 0.0 and whole["refusal"].value == 0.0
