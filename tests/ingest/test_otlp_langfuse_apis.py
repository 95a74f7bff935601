"""Langfuse's score ids as upsert keys and its score delete (ingest/otel/langfuse_apis.py,
langfuse.py): over HTTP with Basic auth as the SDKs send it, then with the real SDK against a
real server and worker."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone as dj_timezone

from telemetry.models import Call, Score
from telemetry.services import project_process
from tests.conftest import Api, call_event
from tests.processes import celery_worker, http, wait_for

TRACE, OBSERVATION = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
CALL_ID = f"{TRACE}:{OBSERVATION}"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Langfuse:
    """Requests as a Langfuse SDK makes them: Basic base64(public:secret), the secret our key."""

    def __init__(self, key: str) -> None:
        token = base64.b64encode(f"pk-lf-observatory:{key}".encode()).decode()
        self.headers = {"HTTP_AUTHORIZATION": f"Basic {token}"}
        self.client = Client()

    def score(self, **body: Any) -> Any:
        body = {"id": "lf-1", "traceId": TRACE, "observationId": OBSERVATION, "name": "helpfulness", **body}
        return self.client.post("/api/public/scores", data=json.dumps(body), content_type="application/json",
                                **self.headers)

    def ingestion(self, *bodies: dict[str, Any]) -> Any:
        batch = [{"id": f"event-{i}", "type": "score-create", "timestamp": "2026-11-20T10:00:00Z",
                  "body": {"traceId": TRACE, "observationId": OBSERVATION, "name": "helpfulness", **body}}
                 for i, body in enumerate(bodies)]
        return self.client.post("/api/public/ingestion", data=json.dumps({"batch": batch}),
                                content_type="application/json", **self.headers)

    def delete(self, score_id: str) -> Any:
        return self.client.delete(f"/api/public/scores/{score_id}", **self.headers)


@pytest.fixture
def langfuse(full_key: str, full_api: Api) -> Langfuse:
    started = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert full_api.ingest([call_event(1, id=CALL_ID, trace_id=TRACE, timestamp=started)]).status_code == 202
    return Langfuse(full_key)


def _helpfulness(api: Api, source: str = "api") -> tuple[Any, Any]:
    values = []
    for measure in ("score_avg", "score_count"):
        response = api.get("/api/v1/metrics", measure=measure, score="helpfulness", source=source)
        assert response.status_code == 200, response.content
        series = response.json()["series"]
        values.append(series[0]["points"][0]["value"] if series and series[0]["points"] else None)
    return values[0], values[1]


@pytest.mark.django_db
def test_a_score_resent_with_its_id_replaces_the_stored_one(langfuse: Langfuse, full_api: Api, project: Any) -> None:
    assert langfuse.score(value=0.2, source="ANNOTATION").status_code == 202
    project_process(project_id=project.id)
    assert _helpfulness(full_api, "human") == (pytest.approx(0.2), 1)

    assert langfuse.score(value=0.8, source="ANNOTATION", comment="second look").status_code == 202
    score = Score.objects.get()
    assert (score.external_id, score.value, score.comment, score.call.external_id) == (
        "lf-1", 0.8, "second look", CALL_ID)
    project_process(project_id=project.id)
    assert _helpfulness(full_api, "human") == (pytest.approx(0.8), 1)

    # Langfuse's ingestion batch upserts the same way; within one batch the last one wins.
    response = langfuse.ingestion({"id": "lf-1", "value": 0.3, "source": "ANNOTATION"},
                                  {"id": "lf-1", "value": 0.5, "source": "ANNOTATION"})
    assert response.status_code == 207 and not response.json()["errors"], response.json()
    assert Score.objects.get().value == 0.5
    project_process(project_id=project.id)
    assert _helpfulness(full_api, "human") == (pytest.approx(0.5), 1)


@pytest.mark.django_db
def test_a_native_ingest_resend_still_changes_nothing(langfuse: Langfuse, full_api: Api) -> None:
    event = {"type": "score", "id": "s-1", "call_id": CALL_ID, "name": "helpfulness", "value": 0.2}
    assert full_api.ingest([event]).json()["accepted"] == 1
    body = full_api.ingest([{**event, "value": 0.9}]).json()
    assert (body["accepted"], body["duplicates"]) == (0, 1)
    assert Score.objects.get().value == 0.2


@pytest.mark.django_db
def test_an_identical_resend_is_a_duplicate_that_queues_nothing(langfuse: Langfuse, project: Any) -> None:
    from ingest.otel.langfuse import scores_ingest

    body = {"id": "lf-1", "traceId": TRACE, "observationId": OBSERVATION, "name": "helpfulness", "value": 0.4}
    assert scores_ingest(project_id=project.id, scores=[body]).accepted == 1
    project_process(project_id=project.id)
    again = scores_ingest(project_id=project.id, scores=[body])
    assert (again.accepted, len(again.duplicates)) == (0, 1)
    changed = scores_ingest(project_id=project.id, scores=[{**body, "value": 0.6}])
    assert (changed.accepted, len(changed.duplicates)) == (1, 0)


@pytest.mark.django_db
def test_delete_removes_the_score_and_its_rollup(langfuse: Langfuse, full_api: Api, project: Any) -> None:
    langfuse.score(value=0.7)
    project_process(project_id=project.id)
    assert _helpfulness(full_api) == (pytest.approx(0.7), 1)

    response = langfuse.delete("lf-1")
    assert response.status_code == 200 and response.json() == {"message": "Score deleted successfully"}
    assert not Score.objects.exists()
    project_process(project_id=project.id)
    assert _helpfulness(full_api)[1] in (0, None)
    assert langfuse.delete("lf-1").status_code == 404


@pytest.mark.django_db
def test_evaluators_scores_are_neither_replaced_nor_deleted(langfuse: Langfuse, project: Any) -> None:
    call = Call.objects.get()
    evaluator_id = f"eval:{call.id}:helpfulness"
    Score.objects.create(project=project, external_id=evaluator_id, call=call, call_external_id=CALL_ID,
                         name="helpfulness", value=0.1, source="model", created_at=dj_timezone.now())
    assert langfuse.score(id=evaluator_id, value=0.9).status_code == 202
    assert langfuse.delete(evaluator_id).status_code == 409
    assert Score.objects.get().value == 0.1


@pytest.mark.django_db
def test_another_projects_key_cannot_delete_or_replace(langfuse: Langfuse, project: Any, other_project: Any) -> None:
    from tenancy.services import api_key_create

    langfuse.score(value=0.7)
    stranger = Langfuse(api_key_create(project=other_project, scopes=["ingest"]).raw_key)
    assert stranger.delete("lf-1").status_code == 404
    stranger.score(value=0.1)  # a score of the stranger's own project, under the same id
    assert Score.objects.get(project=project).value == 0.7


@pytest.mark.django_db
def test_a_key_without_the_ingest_scope_cannot_delete(langfuse: Langfuse, read_key: str) -> None:
    langfuse.score(value=0.7)
    assert Langfuse(read_key).delete("lf-1").status_code == 403
    assert Score.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field, value", [("source", {}), ("id", 7), ("traceId", ["x"]), ("dataType", 1)])
def test_a_field_that_must_be_a_string_is_refused_when_it_is_not(langfuse: Langfuse, field: str, value: Any) -> None:
    # str() used to turn them into a score silently: source {} became "api", id 7 became "7".
    response = langfuse.score(value=0.5, **{field: value})
    assert response.status_code == 207
    assert response.json()["errors"][0]["message"].endswith(f"{field} must be a string")
    assert not Score.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["traceId", "observationId", "id"])
def test_a_nul_in_an_id_is_refused_not_a_500(langfuse: Langfuse, field: str) -> None:
    # The trace lookup ran with it first, and PostgreSQL refuses a NUL in text (schemathesis found it).
    # Without an observation, the trace's root call is looked up by the trace id: the 500's path.
    response = langfuse.score(value=0.5, **{"observationId": None, field: "tr\x00ace"})
    assert response.status_code == 207
    assert "NUL character" in response.json()["errors"][0]["message"]
    assert not Score.objects.exists()


@pytest.mark.django_db
def test_the_schema_documents_the_score_delete() -> None:
    paths = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {"200", "404", "409"} <= set(paths["/api/public/scores/{score_id}"]["delete"]["responses"])


@pytest.mark.django_db(transaction=True)
def test_the_langfuse_sdk_rescores_and_deletes_and_the_worker_folds_it(server: str, full_key: str) -> None:
    from langfuse import Langfuse as LangfuseSdk

    ARTIFACTS.mkdir(exist_ok=True)
    bearer = {"Authorization": f"Bearer {full_key}"}

    def metric(measure: str) -> Any:
        status, _, body = http("GET", f"{server}/api/v1/metrics?measure={measure}&score=accuracy&source=api",
                               headers=bearer)
        assert status == 200, body
        return body["series"][0]["points"][0]["value"] if body["series"] else None

    with celery_worker(log_path=ARTIFACTS / "worker-langfuse-edits.log"):
        # The SDK keeps one set of exporters per public key for the process, and an earlier test's
        # shutdown() closed those of "pk-lf-observatory": a label of our own gets fresh ones.
        sdk = LangfuseSdk(public_key="pk-lf-edits", secret_key=full_key, base_url=server, flush_interval=0.2)
        with sdk.start_as_current_observation(as_type="generation", name="answer", model="gpt-4o-mini") as span:
            span.update(output="Paris.")
            trace_id, observation_id = span.trace_id, span.id
        sdk.flush()
        sdk.create_score(name="accuracy", value=0.25, trace_id=trace_id, observation_id=observation_id,
                         score_id="sdk-score")
        sdk.flush()
        wait_for(lambda: metric("score_avg") == pytest.approx(0.25), what="the first score folded")

        sdk.create_score(name="accuracy", value=0.75, trace_id=trace_id, observation_id=observation_id,
                         score_id="sdk-score")
        sdk.flush()
        wait_for(lambda: metric("score_avg") == pytest.approx(0.75), what="the re-score folded")
        assert metric("score_count") == 1

        sdk.api.scores.delete("sdk-score")
        wait_for(lambda: metric("score_count") in (0, None), what="the delete folded")
        sdk.shutdown()
    status, _, detail = http("GET", f"{server}/api/v1/calls/{trace_id}:{observation_id}", headers=bearer)
    assert status == 200 and "sdk-score" not in {score["id"] for score in detail["scores"]}
