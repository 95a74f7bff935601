"""Real client libraries against a real gunicorn and PostgreSQL: the OTel SDK exporters (protobuf and
JSON), OpenInference's OpenAI instrumentor around the official `openai` client, and the Langfuse SDK."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from telemetry.models import Call
from tests.processes import celery_worker, http, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _calls(base: str, key: str, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, _, body = http("GET", f"{base}/api/v1/calls?limit=500&{query}", headers={"Authorization": f"Bearer {key}"})
    assert status == 200, body
    return body["data"]


def _genai_spans(provider: TracerProvider) -> str:
    tracer = provider.get_tracer("tests.sdk")
    with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.INTERNAL) as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 42,
                "gen_ai.usage.output_tokens": 7, "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
                "user.id": "u-sdk"})
        with tracer.start_as_current_span("execute_tool lookup") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_status(Status(StatusCode.ERROR, "lookup failed"))
        return format(root.get_span_context().trace_id, "032x")


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_the_otel_sdk_exporter_delivers_genai_spans(server: str, full_key: str, encoding: str) -> None:
    if encoding == "protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        gzip = Compression.Gzip
    else:
        from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
        gzip = JsonCompression.GZIP
    exporter = OTLPSpanExporter(endpoint=f"{server}/v1/traces", headers={"Authorization": f"Bearer {full_key}"},
                                compression=gzip)
    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-test", "service.version": "1.0"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    trace_id = _genai_spans(provider)
    assert provider.force_flush(10_000)

    calls = {c["name"]: c for c in _calls(server, full_key, trace_id=trace_id)}
    assert set(calls) == {"invoke_agent support", "chat gpt-4o-mini", "execute_tool lookup"}
    chat = calls["chat gpt-4o-mini"]
    assert (chat["kind"], chat["model"], chat["provider"], chat["feature"], chat["release"]) == (
        "llm", "gpt-4o-mini", "openai", "sdk-test", "1.0")
    assert chat["usage"]["input_tokens"] == 42 and chat["user_id"] == "u-sdk"
    assert chat["parent_id"] == calls["invoke_agent support"]["id"]
    assert calls["execute_tool lookup"]["kind"] == "tool" and calls["execute_tool lookup"]["status"] == "error"
    assert calls["invoke_agent support"]["kind"] == "agent"

    # An exporter retry of the same batch is acknowledged and stored once.
    retry = OTLPSpanExporter(endpoint=f"{server}/v1/traces", headers={"Authorization": f"Bearer {full_key}"})
    assert retry.export(captured.get_finished_spans()) == SpanExportResult.SUCCESS
    assert len(_calls(server, full_key, trace_id=trace_id)) == 3
    provider.shutdown()


class FakeOpenAI(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: chat completions, plain and streamed."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        usage = {"prompt_tokens": 25, "completion_tokens": 5, "total_tokens": 30,
                 "prompt_tokens_details": {"cached_tokens": 10}}
        if request.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": "gpt-4o-mini-2024-07-18"}
            chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
                      {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
                      {**base, "choices": [], "usage": usage}]
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"data: [DONE]\n\n")
            return
        body = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                           "model": "gpt-4o-mini-2024-07-18", "usage": usage,
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "Paris."}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_openai() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_openinference_openai_instrumentor_spans_become_calls(server: str, full_key: str, fake_openai: str) -> None:
    import openai
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{server}/v1/traces", headers={"X-API-Key": full_key})))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=fake_openai, api_key="sk-test", max_retries=0)
        answer = client.chat.completions.create(model="gpt-4o-mini",
                                                messages=[{"role": "user", "content": "Capital of France?"}])
        assert answer.choices[0].message.content == "Paris."
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "Say hello"}])
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello"
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush(10_000)
    provider.shutdown()

    calls = wait_for(lambda: (found := _calls(server, full_key, feature="rag-app")) and len(found) == 2 and found,
                     timeout=15, what="both instrumented calls")
    for call in calls:
        assert (call["kind"], call["provider"], call["model"]) == ("llm", "openai", "gpt-4o-mini-2024-07-18")
        assert call["usage"] == {"input_tokens": 25, "output_tokens": 5, "cached_input_tokens": 10,
                                 "reasoning_tokens": None, "total_tokens": 30}
    streamed = next(c for c in calls if c["ttft_ms"] is not None)
    assert 0 < streamed["ttft_ms"] <= streamed["latency_ms"]
    plain = next(c for c in calls if c["ttft_ms"] is None)
    status, _, detail = http("GET", f"{server}/api/v1/calls/{plain['id']}",
                             headers={"Authorization": f"Bearer {full_key}"})
    assert status == 200
    assert detail["input"] == [{"role": "user", "content": "Capital of France?"}]
    assert detail["output"] == [{"role": "assistant", "content": "Paris."}]


def test_the_langfuse_sdk_sends_a_generation_with_its_scores(server: str, full_key: str) -> None:
    from langfuse import Langfuse

    ARTIFACTS.mkdir(exist_ok=True)
    with celery_worker(log_path=ARTIFACTS / "worker-langfuse.log"):
        langfuse = Langfuse(public_key="pk-lf-observatory", secret_key=full_key, base_url=server,
                            flush_interval=0.2)
        assert langfuse.auth_check()
        with langfuse.start_as_current_observation(as_type="generation", name="answer", model="gpt-4o-mini",
                                                   input=[{"role": "user", "content": "Hi"}]) as generation:
            generation.update(output="Hello!", usage_details={"input": 12, "output": 3},
                              metadata={"feature_flag": "b"})
            generation.score(name="helpfulness", value=0.9, comment="good")
            generation.score_trace(name="resolved", value=1.0)
            trace_id, observation_id = generation.trace_id, generation.id
        langfuse.flush()
        langfuse.shutdown()

        call_id = f"{trace_id}:{observation_id}"

        def scored() -> dict[str, Any] | None:
            status, _, detail = http("GET", f"{server}/api/v1/calls/{call_id}",
                                     headers={"Authorization": f"Bearer {full_key}"})
            return detail if status == 200 and len(detail["scores"]) == 2 else None

        detail = wait_for(scored, timeout=30, what="the generation and both scores")
    assert (detail["kind"], detail["model"], detail["name"]) == ("llm", "gpt-4o-mini", "answer")
    assert detail["usage"]["input_tokens"] == 12 and detail["usage"]["output_tokens"] == 3
    assert detail["input"] == [{"role": "user", "content": "Hi"}] and detail["output"] == "Hello!"
    assert detail["metadata"]["feature_flag"] == "b"
    scores = {s["name"]: s for s in detail["scores"]}
    assert scores["helpfulness"]["value"] == 0.9 and scores["helpfulness"]["comment"] == "good"
    assert scores["resolved"]["value"] == 1.0
    assert Call.objects.filter(external_id=call_id).count() == 1
