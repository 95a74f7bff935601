"""Alerts fixtures: calls ingested through the API and folded into rollups by the real worker
code, rules made through the services, and local receivers (HTTP, SMTP) that record what arrives."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerts import services
from alerts.models import Rule
from telemetry.services import project_process
from tests.conftest import Api


def at_minute(minutes_from_now: float = 0) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes_from_now)).replace(second=0, microsecond=0)


def calls(n: int, *, latency: float, start: datetime, prefix: str = "c", spread_seconds: float = 50,
          **fields: Any) -> list[dict[str, Any]]:
    """n calls in [start, start + spread) with the given latency (and fields)."""
    model = fields.pop("model", "gpt-4o")
    return [{"type": "call", "id": f"{prefix}-{i}", "timestamp": (start + timedelta(seconds=spread_seconds * i / max(n, 1)))
             .isoformat(), "latency_ms": latency, "provider": "openai", "model": model,
             "usage": {"input_tokens": 10, "output_tokens": 5}, **fields} for i in range(n)]


def ingest(api: Api, project: Any, events: list[dict[str, Any]]) -> None:
    response = api.ingest(events)
    assert response.status_code == 202, response.content
    while project_process(project_id=project.id):
        pass


def make_rule(project: Any, **fields: Any) -> Rule:
    defaults: dict[str, Any] = {"name": "p95 latency", "measure": "latency_p95", "condition": "threshold",
                                "condition_config": {"op": "above", "critical": 1000}, "window_seconds": 300,
                                "min_count": 3}
    defaults.update(fields)
    return services.rule_create(project=project, actor=None, **defaults)


class Received:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[tuple[int, dict[str, str], bytes]] = []  # queued answers; then 200
        self.event = threading.Event()

    def json(self, i: int = -1) -> Any:
        return json.loads(self.requests[i]["body"])


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    """A local HTTP server recording every POST; answers come from `received.responses` (then 200)."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            status, headers, answer = received.responses.pop(0) if received.responses else (200, {}, b"ok")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            received.event.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_private(settings: Any) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = True
    settings.ALERTS_RETRY_BASE_SECONDS = 0.05


def wait(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")
