"""Drift fixtures: calls sent through the real ingest path into a baseline window (2-6 days ago) and
a current window (the last 20 hours), processed into rollups; drift_run then compares them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from telemetry.services import project_process
from tests.conftest import Api


def at(hours_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_end() -> datetime:
    """The next whole hour: both windows then hold every call sent by these fixtures."""
    now = datetime.now(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def calls(prefix: str, n: int, *, current: bool, seed: int, model: str = "gpt-4o-mini", latency: float = 800.0,
          **fields: Any) -> list[dict[str, Any]]:
    """n calls spread over the window, latencies lognormal around `latency` ms."""
    rng = np.random.default_rng(seed)
    hours = rng.uniform(1, 20, n) if current else rng.uniform(48, 144, n)
    values = rng.lognormal(np.log(latency), 0.3, n)
    return [{"type": "call", "id": f"{prefix}-{i}", "trace_id": f"{prefix}-t{i}", "timestamp": at(float(h)),
             "latency_ms": round(float(v), 2), "provider": "openai", "model": model, "input": f"question {i}",
             "output": "answer", "usage": {"input_tokens": 100, "output_tokens": 20}, **fields}
            for i, (h, v) in enumerate(zip(hours, values, strict=True))]


def send(api: Api, project: Any, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        response = api.ingest(events[start:start + 1000])
        assert response.status_code == 202, response.content
    while project_process(project_id=project.id):
        pass


@pytest.fixture
def no_topics(settings: Any) -> None:
    """Runs without the topic classifier (a second or so per comparison): for tests about other signals."""
    settings.OBSERVATORY_DRIFT_TOPICS = False
