"""An experiment's results from real calls through ingest and the worker: arms from the rollups,
SRM, comparisons with verdicts; the results API and page; ship from the page."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client

from prompts import selectors
from prompts.models import Experiment
from prompts.services import experiment_start
from telemetry.services import project_process
from tests.conftest import Api, call_event
from tests.prompts.conftest import OWNER

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(project: Any, greeting: Any, full_api: Api, prices: None) -> Experiment:
    experiment = experiment_start(prompt=greeting, label="production", arms=[(1, 1), (2, 1)], actor=OWNER,
                                  salt="s", name="shorter")
    Experiment.objects.filter(pk=experiment.pk).update(started_at=datetime.now(timezone.utc) - timedelta(hours=1))
    now = datetime.now(timezone.utc)
    events = []
    for i in range(400):  # 200 per arm; v2 errs 30% of the time, v1 5%
        version = 1 + i % 2
        failed = (i // 2) % 20 == 0 if version == 1 else (i // 2) % 10 < 3
        fields = {"status": "error", "error": "boom"} if failed else {}
        events.append(call_event(i, trace_id=f"t{i}", timestamp=(now - timedelta(minutes=30, seconds=i)).isoformat(),
                                 prompt={"name": "greeting", "version": str(version)}, **fields))
    # Calls of another prompt with the same version numbers never count.
    events += [call_event(1000 + i, trace_id="o", timestamp=(now - timedelta(minutes=20)).isoformat(),
                          prompt={"name": "other", "version": "2"}) for i in range(50)]
    assert full_api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    experiment.refresh_from_db()
    return experiment


def test_results_compare_the_arms(running: Experiment) -> None:
    results = selectors.experiment_results(running)
    assert [(a["version"], a["calls"]) for a in results["arms"]] == [(1, 200), (2, 200)]
    assert results["arms"][0]["errors"] == 10 and results["arms"][1]["errors"] == 60
    assert results["srm"]["mismatch"] is False
    error = next(c for c in results["comparisons"] if c["metric"] == "error_rate")
    assert error["control"] == pytest.approx(0.05) and error["treatment"] == pytest.approx(0.30)
    assert error["verdict"] == "worse" and error["p_adjusted"] < 0.001
    thumbs = next(c for c in results["comparisons"] if c["metric"] == "thumbs_down_rate")
    assert thumbs["verdict"] == "inconclusive" and thumbs["p"] is None  # no feedback at all


def test_results_api_page_and_ship(running: Experiment, reader: Api, owner: Any, project: Any) -> None:
    response = reader.get(f"/api/v1/prompts/greeting/experiments/{running.id}/results")
    assert response.status_code == 200 and response.json()["arms"][1]["calls"] == 200
    client = Client()
    client.force_login(owner)
    url = f"/projects/{project.id}/prompts/{running.prompt_id}/experiments/{running.id}/"
    html = client.get(url).content.decode()
    assert 'data-testid="comparisons"' in html and ">worse<" in html and "Split OK" in html
    assert client.post(url + "end", {"action": "ship", "version": 1}).status_code == 302
    running.refresh_from_db()
    assert running.status == "shipped" and running.winner.version == 1
    assert selectors.resolve(project=project, name="greeting", unit="u1").version.version == 1
