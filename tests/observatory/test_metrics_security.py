"""/metrics: label values drawn from fixed sets, and the optional bearer token."""
from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings

from ingest import metrics
from tests.conftest import Api

pytestmark = pytest.mark.django_db

_EVENTS_LINE = re.compile(r'^observatory_ingest_events_total\{([^}]*)\}', re.M)


def _series(text: str) -> set[tuple[str, str]]:
    """(type, outcome) of every observatory_ingest_events_total series on the page."""
    series = set()
    for labels in _EVENTS_LINE.findall(text):
        values = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        series.add((values["type"], values["outcome"]))
    return series


def test_bogus_event_types_do_not_create_series(api: Api) -> None:
    before = Client().get("/metrics").content.decode()

    response = api.ingest([{"type": f"bogus-{n}", "id": f"e-{n}"} for n in range(50)])

    assert response.status_code == 422  # every event refused
    assert response.json()["rejected"] == 50
    text = Client().get("/metrics").content.decode()
    types = {event_type for event_type, _ in _series(text)}
    assert types <= metrics.EVENT_TYPES | {metrics.OTHER}
    assert ("other", "rejected") in _series(text)
    assert not any(f"bogus-{n}" in text for n in range(50))
    # 50 bogus types add at most ("other", "rejected") and the per-batch ("any", "duplicate").
    assert _series(text) - _series(before) <= {("other", "rejected"), ("any", "duplicate")}
    assert len(_series(text)) <= (len(metrics.EVENT_TYPES) + 1) * (len(metrics.EVENT_OUTCOMES) + 1)


def test_every_labelled_metric_maps_unknown_values_to_other() -> None:
    metrics.EVENTS.labels("x" * 100, "weird").inc()
    metrics.REQUESTS.labels("999").inc()
    metrics.ENQUEUE_FAILURES.labels("exploded").inc()

    text = Client().get("/metrics").content.decode()
    assert 'observatory_ingest_events_total{outcome="other",type="other"}' in text
    assert 'observatory_ingest_requests_total{status="other"}' in text
    assert 'observatory_enqueue_failures_total{outcome="other"}' in text
    assert "x" * 100 not in text and '"999"' not in text and "exploded" not in text


def test_known_labels_pass_through(api: Api) -> None:
    api.ingest([{"type": "call", "bad": 1}])
    text = Client().get("/metrics").content.decode()
    assert 'observatory_ingest_events_total{outcome="rejected",type="call"}' in text
    assert 'observatory_ingest_requests_total{status="422"}' in text  # its only event refused


@override_settings(METRICS_TOKEN="")
def test_metrics_stay_open_without_a_token() -> None:
    assert Client().get("/metrics").status_code == 200


@override_settings(METRICS_TOKEN="s3cret-scrape-token")
def test_metrics_require_the_bearer_token_when_set() -> None:
    missing = Client().get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert b"observatory_" not in missing.content

    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-scrape-token").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token-x").status_code == 401

    ok = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200
    assert b"observatory_ingest_batch_seconds" in ok.content or b"observatory_queue_pending_calls" in ok.content


@override_settings(METRICS_TOKEN="s3cret-scrape-token")
def test_healthz_stays_open_when_the_metrics_token_is_set() -> None:
    assert Client().get("/healthz").status_code == 200
