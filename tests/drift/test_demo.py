"""The demo seed holds a real shift (a prompt version whose answers doubled, a topic that appeared)
and the drift page names both at first sight."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboards.demo import demo_seed
from drift.models import DriftRun, Finding

pytestmark = pytest.mark.django_db


def test_the_demo_drift_page_finds_the_longer_answers_and_the_new_topic(project: Any, prices: None,
                                                                         owner_client: Client) -> None:
    demo_seed(project_id=project.id, calls=60, days=3, seed=11)
    run = DriftRun.objects.get(project=project)
    longer = Finding.objects.get(run=run, comparison="24h", signal="output_chars", group={"feature": "help-center"})
    assert longer.verdict == "drift" and longer.current_value / longer.baseline_value >= 1.8
    topics = Finding.objects.get(run=run, comparison="24h", signal="topics")
    assert topics.verdict == "drift"
    assert {"migration", "residency"} & set(topics.details["current_words"])
    page = owner_client.get(f"/projects/{project.id}/drift/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Output length (characters)" in html and "Topics of inputs" in html and "help-center" in html
    overview = owner_client.get(f"/projects/{project.id}/?range=7d").content.decode()
    assert 'data-testid="overview-drift"' in overview and "Output length (characters)" in overview
