"""Clients correcting their scores and feedback (telemetry/edits.py, PATCH and DELETE
/api/v1/scores/<id> and /api/v1/feedback/<id>): the rollups follow once the signals are folded."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone as dj_timezone

from telemetry import edits
from telemetry.models import Call, Feedback, Score
from telemetry.services import project_process
from tenancy.services import api_key_create
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db
STARTED = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()


def _send(api: Api, *signals: dict[str, Any]) -> None:
    response = api.ingest([call_event(1, timestamp=STARTED), *signals])
    assert response.status_code == 202 and response.json()["accepted"] == 1 + len(signals), response.content
    project_process(project_id=Call.objects.get(external_id="call-1").project_id)


def _patch(api: Api, path: str, body: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.client.patch(path, data=raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.key}")


def _delete(api: Api, path: str) -> Any:
    return api.client.delete(path, HTTP_AUTHORIZATION=f"Bearer {api.key}")


def _metric(reader: Api, measure: str, **params: str) -> Any:
    response = reader.get("/api/v1/metrics", measure=measure, **params)
    assert response.status_code == 200, response.content
    series = response.json()["series"]
    return series[0]["points"][0]["value"] if series and series[0]["points"] else None


def _helpfulness(reader: Api) -> tuple[Any, Any]:
    params = {"score": "helpfulness", "source": "human"}
    return _metric(reader, "score_avg", **params), _metric(reader, "score_count", **params)


HUMAN_SCORE = {"type": "score", "id": "s-1", "call_id": "call-1", "name": "helpfulness", "value": 0.2,
               "source": "human", "label": "poor", "metadata": {"reviewer": "ann"}}
THUMBS_DOWN = {"type": "feedback", "id": "f-1", "call_id": "call-1", "thumbs": "down", "comment": "wrong"}


def test_a_patched_score_moves_its_rollup_to_the_new_value_and_a_deleted_one_leaves_it(
        api: Api, reader: Api, project: Any) -> None:
    _send(api, HUMAN_SCORE)
    assert _helpfulness(reader) == (pytest.approx(0.2), 1)

    response = _patch(api, "/api/v1/scores/s-1", {"value": 0.9, "comment": "on reflection, fine"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["value"], body["label"], body["comment"]) == ("s-1", 0.9, "poor", "on reflection, fine")
    assert body["metadata"] == {"reviewer": "ann"}  # left out, so kept
    project_process(project_id=project.id)
    assert _helpfulness(reader) == (pytest.approx(0.9), 1)

    assert _delete(api, "/api/v1/scores/s-1").status_code == 204
    assert not Score.objects.filter(external_id="s-1").exists()
    project_process(project_id=project.id)
    assert _helpfulness(reader)[1] in (0, None)
    assert _delete(api, "/api/v1/scores/s-1").status_code == 404


def test_patched_feedback_moves_the_thumbs_and_deleted_feedback_no_longer_counts(
        api: Api, reader: Api, project: Any) -> None:
    _send(api, THUMBS_DOWN)
    assert (_metric(reader, "thumbs_down_rate"), _metric(reader, "feedback_count")) == (1, 1)

    response = _patch(api, "/api/v1/feedback/f-1", {"thumbs": "up", "rating": 4})
    assert response.status_code == 200, response.content
    assert (response.json()["thumbs"], response.json()["rating"], response.json()["comment"]) == ("up", 4, "wrong")
    project_process(project_id=project.id)
    assert (_metric(reader, "thumbs_down_rate"), _metric(reader, "feedback_count")) == (0, 1)
    assert _metric(reader, "rating_avg") == pytest.approx(4)

    assert _delete(api, "/api/v1/feedback/f-1").status_code == 204
    project_process(project_id=project.id)
    assert _metric(reader, "feedback_count") in (0, None)


def test_null_clears_a_field_and_a_score_keeps_a_value_or_a_label(api: Api, project: Any) -> None:
    _send(api, HUMAN_SCORE, THUMBS_DOWN)
    response = _patch(api, "/api/v1/scores/s-1", {"label": None, "metadata": None})
    assert response.status_code == 200
    score = Score.objects.get(external_id="s-1")
    assert (score.label, score.metadata, score.value) == ("", {}, 0.2)

    refused = _patch(api, "/api/v1/scores/s-1", {"value": None})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"value": "a score needs a numeric value, a label, or both"}
    assert _patch(api, "/api/v1/feedback/f-1", {"thumbs": None}).json()["error"]["details"] == {
        "thumbs": "feedback needs thumbs ('up' or 'down') or a rating (1-5)"}
    assert Score.objects.get(external_id="s-1").value == 0.2 and Feedback.objects.get().thumbs == -1


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/scores/s-1", {"value": "high"}, "value"),
    ("/api/v1/scores/s-1", {"value": 1e13}, "value"),
    ("/api/v1/scores/s-1", {"name": "other"}, "name"),
    ("/api/v1/scores/s-1", {"label": "x" * 101}, "label"),
    ("/api/v1/scores/s-1", {"comment": "a\u0000b"}, "comment"),
    ("/api/v1/scores/s-1", {"metadata": {"k": "\u0000"}}, "metadata"),
    ("/api/v1/scores/s-1", [1], "body"),
    ("/api/v1/scores/s-1", b"{not json", "body"),
    ("/api/v1/feedback/f-1", {"rating": 7}, "rating"),
    ("/api/v1/feedback/f-1", {"thumbs": "sideways"}, "thumbs"),
])
def test_it_refuses_invalid_changes_naming_the_field(api: Api, path: str, body: Any, field: str) -> None:
    _send(api, HUMAN_SCORE, THUMBS_DOWN)
    response = _patch(api, path, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["details"]) == [field], error
    assert Score.objects.get().value == 0.2 and Feedback.objects.get().thumbs == -1


@pytest.mark.parametrize("path", ["/api/v1/scores/nope", "/api/v1/feedback/nope"])
def test_unknown_ids_are_not_found(api: Api, path: str) -> None:
    assert _patch(api, path, {"comment": "x"}).status_code == 404
    response = _delete(api, path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_another_projects_key_cannot_touch_them(api: Api, project: Any, other_project: Any) -> None:
    _send(api, HUMAN_SCORE, THUMBS_DOWN)
    stranger = Api(api_key_create(project=other_project, scopes=["ingest", "read"]).raw_key)
    for path in ("/api/v1/scores/s-1", "/api/v1/feedback/f-1"):
        assert _patch(stranger, path, {"comment": "mine now"}).status_code == 404
        assert _delete(stranger, path).status_code == 404
    assert Score.objects.get().comment == "" and Feedback.objects.get().comment == "wrong"


def test_a_key_without_the_ingest_scope_and_a_person_get_403(api: Api, reader: Api, member: Any,
                                                             project: Any) -> None:
    _send(api, HUMAN_SCORE)
    assert _patch(reader, "/api/v1/scores/s-1", {"value": 1}).status_code == 403
    assert _delete(reader, "/api/v1/scores/s-1").status_code == 403
    person = Client()
    person.force_login(member)
    assert person.delete(f"/api/v1/scores/s-1?project={project.id}").status_code == 403
    assert Score.objects.get().value == 0.2
    assert Api(None).client.delete("/api/v1/scores/s-1").status_code == 401


def test_an_evaluators_score_is_read_only(api: Api, project: Any) -> None:
    _send(api)
    call = Call.objects.get()
    Score.objects.create(project=project, external_id=f"eval:{call.id}:toxicity", call=call,
                         call_external_id="call-1", name="toxicity", value=0.1, source="model",
                         created_at=dj_timezone.now())
    path = f"/api/v1/scores/eval:{call.id}:toxicity"
    for response in (_patch(api, path, {"value": 0.9}), _delete(api, path)):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "read_only" and "evaluators" in response.json()["error"]["message"]
    assert Score.objects.get().value == 0.1


def test_an_edit_asks_for_a_processing_run_once_committed(api: Api, project: Any, monkeypatch: pytest.MonkeyPatch,
                                                           django_capture_on_commit_callbacks: Any) -> None:
    _send(api, HUMAN_SCORE, THUMBS_DOWN)
    asked: list[int] = []
    monkeypatch.setattr("telemetry.services.processing_request", lambda *, project_id: asked.append(project_id))
    for edit in (lambda: edits.score_update(project_id=project.id, external_id="s-1",
                                            changes=edits.ScoreChanges(value=0.5)),
                 lambda: edits.feedback_delete(project_id=project.id, external_id="f-1")):
        with django_capture_on_commit_callbacks(execute=True):
            edit()
    assert asked == [project.id, project.id]


def test_the_schema_documents_the_edit_endpoints() -> None:
    paths = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in ("/api/v1/scores/{score_id}", "/api/v1/feedback/{feedback_id}"):
        assert {"200", "400", "403", "404"} <= set(paths[path]["patch"]["responses"])
        assert {"204", "404"} <= set(paths[path]["delete"]["responses"])
    assert "409" in paths["/api/v1/scores/{score_id}"]["delete"]["responses"]
