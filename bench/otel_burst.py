"""A burst through the OpenTelemetry SDK's own queue: how many spans the client drops before they are sent.

Each of N sender processes creates `--spans` GenAI chat spans as fast as it can with the real OTel SDK
(TracerProvider, BatchSpanProcessor, OTLPSpanExporter over HTTP/protobuf). The BatchSpanProcessor is
built with no arguments, so it takes the OTEL_BSP_* environment variables or the SDK's defaults
(queue 2,048 spans, batches of 512, a 5 s schedule delay): run the bench with and without
OTEL_BSP_MAX_QUEUE_SIZE=20000 to compare. The exporter is wrapped to count the spans handed to it
and time each export; what the processor never handed over was dropped from its full queue.

Against Observatory (the default: embedded PostgreSQL and Redis in a fresh folder under bench/ unless
DATABASE_URL / REDIS_URL are set, gunicorn as `dev.py run` configures it) the spans stored are counted
in the database. With --sink the exporters post to a stand-in receiver in this process that answers
200 at once without reading the spans: the drop an infinitely fast server would still see.

    .venv/bin/python bench/otel_burst.py [--senders 5] [--spans 10000] [--sink]
    OTEL_BSP_MAX_QUEUE_SIZE=20000 .venv/bin/python bench/otel_burst.py
"""
from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The SDK's defaults (opentelemetry-sdk, BatchSpanProcessor), shown beside what the environment sets.
BSP_DEFAULTS = {"OTEL_BSP_MAX_QUEUE_SIZE": "2048", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512",
                "OTEL_BSP_SCHEDULE_DELAY": "5000"}


def sender(index: int, spans: int, endpoint: str, key: str, ready: Any, go: Any, out: Any) -> None:
    """One application process: a burst of `spans` spans, then flush. Reports what it counted."""
    import logging

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    logging.getLogger("opentelemetry").setLevel(logging.ERROR)  # "Queue full" once per dropped span

    class Counting(SpanExporter):
        def __init__(self, inner: OTLPSpanExporter) -> None:
            self.inner = inner
            self.handed = self.failed = 0
            self.seconds: list[float] = []

        def export(self, batch: Any) -> SpanExportResult:
            self.handed += len(batch)
            began = time.perf_counter()
            result = self.inner.export(batch)
            self.seconds.append(time.perf_counter() - began)
            if result is not SpanExportResult.SUCCESS:
                self.failed += len(batch)
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    exporter = Counting(OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {key}"}))
    provider = TracerProvider(resource=Resource.create({"service.name": "burst-app"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_* or the SDK's defaults
    tracer = provider.get_tracer("bench.otel_burst")
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "where is my order?"}]}])
    answer = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "It ships today."}],
                          "finish_reason": "stop"}])
    ready.set()
    go.wait()
    began = time.perf_counter()
    for n in range(spans):
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 40 + n % 50, "gen_ai.usage.output_tokens": 12,
                "gen_ai.input.messages": messages, "gen_ai.output.messages": answer,
                "user.id": f"user-{index}-{n % 100}",
            })
    created = time.perf_counter() - began
    provider.force_flush(timeout_millis=300_000)
    provider.shutdown()
    out.put({"created": spans, "handed": exporter.handed, "failed": exporter.failed,
             "exports": len(exporter.seconds), "export_seconds": sum(exporter.seconds),
             "create_seconds": created, "total_seconds": time.perf_counter() - began})


def burst(args: argparse.Namespace, endpoint: str, key: str) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")  # senders inherit os.environ, OTEL_BSP_* included
    go, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(args.senders)]
    procs = [ctx.Process(target=sender, args=(i, args.spans, endpoint, key, readies[i], go, out))
             for i in range(args.senders)]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(120)
    go.set()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


class _Sink(http.server.BaseHTTPRequestHandler):
    """Answers every export 200 (an empty ExportTraceServiceResponse) without looking at it."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def report(results: list[dict[str, Any]], stored: int | None) -> None:
    sent = sum(r["created"] for r in results)
    handed = sum(r["handed"] for r in results)
    failed = sum(r["failed"] for r in results)
    exports = sum(r["exports"] for r in results)
    answer_ms = 1000 * sum(r["export_seconds"] for r in results) / max(exports, 1)
    print(f"senders: {len(results)} x {results[0]['created']} spans created in "
          f"{max(r['create_seconds'] for r in results):.2f} s; flushed after {max(r['total_seconds'] for r in results):.2f} s; "
          f"{exports} exports, {answer_ms:.0f} ms per export on average", flush=True)
    print(f"spans sent by the application: {sent}", flush=True)
    print(f"spans dropped by the SDK (its queue was full): {sent - handed}", flush=True)
    print(f"spans exported: {handed - failed} acknowledged, {failed} failed", flush=True)
    print(f"spans stored: {'n/a (sink)' if stored is None else stored}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--senders", type=int, default=5, help="application processes")
    parser.add_argument("--spans", type=int, default=10_000, help="spans each sender creates")
    parser.add_argument("--sink", action="store_true", help="export to a receiver that answers at once")
    args = parser.parse_args()
    settings = ", ".join(f"{name}={os.environ.get(name, default)}{'' if name in os.environ else ' (default)'}"
                         for name, default in BSP_DEFAULTS.items())
    print(f"BatchSpanProcessor: {settings}", flush=True)

    if args.sink:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"receiver: a sink answering 200 at once on port {server.server_port}", flush=True)
        report(burst(args, f"http://127.0.0.1:{server.server_port}/v1/traces", "sink"), None)
        server.shutdown()
        return 0

    from harness import project_key, servers, web

    with servers(OBSERVATORY_INGEST_RATE="1000000/min") as embedded_db, \
            web(os.environ.get("BENCH_PORT", "8767")) as target:
        key = project_key(["ingest"])
        print(f"receiver: Observatory, gunicorn at {target} ({os.environ.get('OBSERVATORY_WEB_WORKERS')} workers); "
              f"database {'embedded PostgreSQL' if embedded_db else os.environ['DATABASE_URL']}", flush=True)
        results = burst(args, f"http://{target}/v1/traces", key)
        import psycopg  # a 2xx means committed: what was acknowledged is in the table now

        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            stored = conn.execute("SELECT count(*) FROM telemetry_call").fetchone()[0]
        report(results, stored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
