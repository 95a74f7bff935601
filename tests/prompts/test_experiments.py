"""An experiment's results from real calls through ingest and the worker: arms from the rollups,
SRM, comparisons with verdicts; the results API and page; ship from the page."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from django.test import Client
from scipy import stats as sps

from prompts import selectors
from prompts.models import Experiment
from prompts.services import experiment_start
from telemetry.services import project_process
from tests.conftest import Api, call_event
from tests.prompts.conftest import OWNER

pytestmark = pytest.mark.django_db
RNG = np.random.default_rng(16)
# Per call i: cost (v2 about 20% dearer), latency, and a human helpfulness score (equal in both arms).
COSTS = np.round(RNG.gamma(2.0, 0.0005, 400) * np.where(np.arange(400) % 2, 1.2, 1.0), 6)
LATENCIES = np.round(RNG.lognormal(6.2, 0.5, 400), 1)
HELPFUL = np.round(RNG.beta(4, 2, 400), 3)


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
                                 prompt={"name": "greeting", "version": str(version)}, cost_usd=float(COSTS[i]),
                                 latency_ms=float(LATENCIES[i]), **fields))
        events.append({"type": "score", "call_id": f"call-{i}", "name": "helpfulness", "value": float(HELPFUL[i]),
                       "source": "human"})
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
    assert error["low"] < error["difference"] < error["high"] and error["p_sequential"] >= error["p"]


def test_score_means_and_cost_per_call_get_welchs_test_as_scipy_on_the_raw_calls(running: Experiment) -> None:
    results = selectors.experiment_results(running)
    control, treatment = np.arange(400) % 2 == 0, np.arange(400) % 2 == 1
    for metric, raw in (("cost_per_call", COSTS), ("score_avg:human:helpfulness", HELPFUL)):
        found = next(c for c in results["comparisons"] if c["metric"] == metric)
        expected = sps.ttest_ind(raw[treatment], raw[control], equal_var=False)
        assert found["test"] == "welch" and found["n_control"] == found["n_treatment"] == 200
        assert found["control"] == pytest.approx(raw[control].mean(), rel=1e-6)
        assert found["z"] == pytest.approx(expected.statistic, rel=1e-5)
        assert found["p"] == pytest.approx(expected.pvalue, rel=1e-5)
    helpful = next(c for c in results["comparisons"] if c["metric"] == "score_avg:human:helpfulness")
    assert helpful["verdict"] == "inconclusive" and helpful["lower_is_better"] is False
    # p50 and p95 per arm from the merged sketches, with intervals around numpy's on the raw latencies.
    for arm, pick in zip(results["arms"], (control, treatment), strict=True):
        for q in (0.5, 0.95):
            low, high = arm[f"latency_p{round(q * 100)}_interval"]
            assert arm[f"latency_p{round(q * 100)}"] == pytest.approx(np.quantile(LATENCIES[pick], q), rel=0.03)
            assert low * 0.99 <= np.quantile(LATENCIES[pick], q) <= high * 1.01 and low < high


def test_results_api_page_and_ship(running: Experiment, reader: Api, owner: Any, project: Any) -> None:
    response = reader.get(f"/api/v1/prompts/greeting/experiments/{running.id}/results")
    assert response.status_code == 200 and response.json()["arms"][1]["calls"] == 200
    client = Client()
    client.force_login(owner)
    url = f"/projects/{project.id}/prompts/{running.prompt_id}/experiments/{running.id}/"
    html = client.get(url).content.decode()
    assert 'data-testid="comparisons"' in html and ">worse<" in html and "Split OK" in html
    refused = client.post(url + "end", {"action": "ship", "version": "v1"}, follow=True)
    assert "Choose the version to ship: a version number." in refused.content.decode()
    too_big = client.post(url + "end", {"action": "ship", "version": "9" * 30}, follow=True)
    assert too_big.status_code == 200 and "has no version" in too_big.content.decode()
    running.refresh_from_db()
    assert running.status == "running"
    assert client.post(url + "end", {"action": "ship", "version": 1}).status_code == 302
    running.refresh_from_db()
    assert running.status == "shipped" and running.winner.version == 1
    assert selectors.resolve(project=project, name="greeting", unit="u1").version.version == 1
