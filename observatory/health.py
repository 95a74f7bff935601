"""/healthz (database and broker reachable) and /metrics (Prometheus)."""
from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily

from observatory.celery import app as celery_app


def _check_database() -> str | None:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).splitlines()[0]


def _check_broker() -> str | None:
    # One attempt, no retry: the transport's timeouts (OBSERVATORY_REDIS_TIMEOUT_MS) bound it, so a
    # stopped or vanished Redis answers in a fraction of a second and load balancers see a 503 fast.
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=settings.REDIS_TIMEOUT_SECONDS)
        return None
    except Exception as exc:  # noqa: BLE001
        return "broker down: " + (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(error is None for error in checks.values())
    body = {"status": "ok" if healthy else "unhealthy",
            "checks": {name: ("ok" if error is None else f"error: {error}") for name, error in checks.items()}}
    return JsonResponse(body, status=200 if healthy else 503)


class QueueLagCollector:
    """Read at scrape time: the processing queue and the evaluation queue (count, oldest)."""

    def collect(self):  # type: ignore[no-untyped-def]
        from telemetry.services import queue_lag

        try:
            pending, age = queue_lag()
        except Exception:  # noqa: BLE001 - no database: report nothing rather than fail the scrape
            return
        yield GaugeMetricFamily("observatory_queue_pending_calls", "Ingested calls not yet processed", value=pending)
        yield GaugeMetricFamily("observatory_queue_lag_seconds", "Age of the oldest unprocessed call", value=age)
        from quality.selectors import evaluation_lag

        try:
            lag = evaluation_lag()
        except Exception:  # noqa: BLE001
            return
        yield GaugeMetricFamily("observatory_evaluation_pending_calls", "Processed calls waiting for the evaluators",
                                value=lag.count)
        yield GaugeMetricFamily("observatory_evaluation_lag_seconds",
                                "Age of the oldest call waiting for the evaluators", value=lag.oldest_seconds)


def _metrics_authorized(request: HttpRequest) -> bool:
    """True when OBSERVATORY_METRICS_TOKEN is unset, or the request carries `Authorization: Bearer <it>`."""
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    # Constant time, so the response time does not reveal how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _metrics_authorized(request):
        response = HttpResponse("Unauthorized: /metrics needs Authorization: Bearer <OBSERVATORY_METRICS_TOKEN>\n",
                                status=401, content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry)
    lag = CollectorRegistry()
    lag.register(QueueLagCollector())
    output += generate_latest(lag)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)
