"""/healthz, /metrics, the OpenAPI schema and its browsable page."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_metrics_count_events_and_show_queue_lag(api: Api) -> None:
    api.ingest([call_event(1), {"type": "call", "bad": 1}])
    text = Client().get("/metrics").content.decode()
    assert 'observatory_ingest_events_total{outcome="accepted",type="call"}' in text
    assert 'observatory_ingest_events_total{outcome="rejected",type="call"}' in text
    assert "observatory_queue_pending_calls 1.0" in text
    assert "observatory_queue_lag_seconds" in text
    assert "observatory_ingest_batch_seconds_bucket" in text


def test_metrics_show_the_evaluation_queue_and_its_oldest_call(project: Any) -> None:
    from quality.models import PendingEvaluation

    PendingEvaluation.objects.create(call_id=101, project_id=project.id)
    PendingEvaluation.objects.filter(call_id=101).update(enqueued_at=timezone.now() - timedelta(seconds=300))
    PendingEvaluation.objects.create(call_id=102, project_id=project.id)

    text = Client().get("/metrics").content.decode()

    # Install-wide figures (other tests' workers may have left calls queued): the two are in them.
    assert f"observatory_evaluation_pending_calls {float(PendingEvaluation.objects.count())}" in text
    lag = float(re.search(r"^observatory_evaluation_lag_seconds (\S+)$", text, re.M).group(1))
    assert lag >= 299


def test_openapi_schema_documents_every_endpoint() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/ingest", "/api/v1/calls", "/api/v1/calls/{call_id}", "/api/v1/traces/{trace_id}"} <= set(
        schema["paths"])
    ingest = schema["paths"]["/api/v1/ingest"]["post"]
    assert {"202", "207", "400", "401", "403", "413", "415", "429"} <= set(ingest["responses"])


def test_api_docs_page_is_served_without_a_cdn() -> None:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_home_opens_one_of_my_projects_and_the_switcher_lists_only_mine(member: Any, project: Any,
                                                                        other_project: Any) -> None:
    client = Client()
    assert client.get("/")["Location"].startswith("/accounts/login/")
    client.force_login(member)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == f"/projects/{project.id}/"
    html = response.content.decode()
    assert project.name in html and other_project.name not in html
    assert client.get(f"/switch?project={other_project.id}")["Location"] == "/"


@pytest.mark.parametrize("path, params", [
    ("/api/v1/calls", {"model": "a\x00b"}), ("/api/v1/calls/a\x00b", {}), ("/api/v1/traces/x\x00", {}),
    ("/api/v1/metrics", {"measure": "count", "filter": "model:a\x00"}),
    ("/api/v1/metrics/top", {"entity": "user", "from": "2026-01-01T00:00:00\x00"}),
])
def test_nul_characters_in_urls_are_400_not_500(full_api: Api, path: str, params: dict[str, str]) -> None:
    response = full_api.get(path, **params)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
