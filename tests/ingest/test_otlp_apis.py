"""POST /v1/traces through the full Django stack: encodings, OTLP answers, limits, auth, idempotency."""
from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from django.test import Client, override_settings
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest import limits
from telemetry.models import Call, CallPayload
from tenancy.services import api_key_create, api_key_revoke
from tests.ingest.otlp_payloads import GENAI_CHAT, json_request, new_span_id, new_trace_id, protobuf_request, span_dict

pytestmark = pytest.mark.django_db
PB = "application/x-protobuf"


def post(body: bytes, key: str | None, *, content_type: str = PB, path: str = "/v1/traces", **headers: str) -> Any:
    if key and "HTTP_AUTHORIZATION" not in headers and "HTTP_X_API_KEY" not in headers:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    headers.setdefault("CONTENT_TYPE", content_type)  # the test client drops it for empty bodies
    return Client().post(path, data=body, content_type=content_type, **headers)


def pb_answer(response: Any) -> ExportTraceServiceResponse:
    assert response["Content-Type"] == PB
    return ExportTraceServiceResponse.FromString(response.content)


def test_a_protobuf_genai_span_becomes_a_priced_call(ingest_key: str, project: Any, prices: None) -> None:
    span = span_dict(attributes=GENAI_CHAT)
    response = post(protobuf_request([span], {"service.name": "support-bot", "service.version": "2.1.0",
                                              "deployment.environment.name": "prod"}), ingest_key)
    assert response.status_code == 200, response.content
    assert not pb_answer(response).HasField("partial_success")
    call = Call.objects.get(project=project, external_id=f"{span['trace_id']}:{span['span_id']}")
    assert (call.kind, call.provider, call.model, call.operation) == ("llm", "openai", "gpt-4o-mini-2024-07-18", "chat")
    assert (call.input_tokens, call.output_tokens, call.cached_input_tokens, call.reasoning_tokens) == (
        1200, 300, 200, 50)
    assert call.cost_source == "computed" and call.cost_total_usd > 0
    assert (call.user_id, call.session_id, call.feature, call.release, call.environment) == (
        "u-1", "conv-9", "support-bot", "2.1.0", "prod")
    assert call.trace_id == span["trace_id"] and call.parent_id == ""
    assert call.latency_ms == pytest.approx(850, abs=0.01)
    assert call.params == {"temperature": 0.2, "max_tokens": 512, "model": "gpt-4o-mini"}
    assert call.metadata["finish_reasons"] == ["stop"] and call.metadata["response_id"] == "chatcmpl-1"
    assert call.metadata["http.route"] == "/chat" and call.metadata["otel.span_kind"] == "client"
    payload = CallPayload.objects.get(call=call)
    assert payload.input == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
    assert payload.output == [{"role": "assistant", "content": "Hi!", "finish_reason": "stop"}]


def test_otlp_json_with_string_integers_and_gzip_is_accepted(ingest_key: str, project: Any) -> None:
    span = span_dict(attributes=GENAI_CHAT)
    response = post(gzip.compress(json_request([span])), ingest_key, content_type="application/json",
                    path="/api/v1/otlp/v1/traces", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json" and response.json() == {}
    call = Call.objects.get(project=project, external_id=f"{span['trace_id']}:{span['span_id']}")
    assert call.input_tokens == 1200 and call.model == "gpt-4o-mini-2024-07-18"


def test_a_resent_export_is_stored_once(ingest_key: str, project: Any) -> None:
    body = protobuf_request([span_dict(attributes=GENAI_CHAT) for _ in range(3)])
    assert post(body, ingest_key).status_code == 200
    again = post(body, ingest_key)
    assert again.status_code == 200 and not pb_answer(again).HasField("partial_success")
    assert Call.objects.filter(project=project).count() == 3


def test_a_trace_tree_keeps_parents_and_non_llm_kinds(ingest_key: str, project: Any) -> None:
    trace = new_trace_id()
    root, retrieve, tool, llm, http_span = (new_span_id() for _ in range(5))
    spans = [
        span_dict(trace, root, name="agent run", kind=1, attributes={"gen_ai.operation.name": "invoke_agent"}),
        span_dict(trace, retrieve, parent=root, name="search docs", attributes={
            "openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.content": "doc A",
            "retrieval.documents.0.document.score": 0.9, "retrieval.documents.1.document.content": "doc B"}),
        span_dict(trace, tool, parent=root, name="get_weather", attributes={"gen_ai.operation.name": "execute_tool"}),
        span_dict(trace, llm, parent=root, attributes=GENAI_CHAT),
        span_dict(trace, http_span, parent=llm, name="POST", attributes={"http.request.method": "POST"}),
    ]
    assert post(protobuf_request(spans), ingest_key).status_code == 200
    calls = {c.external_id.split(":")[1]: c for c in Call.objects.filter(project=project, trace_id=trace)}
    assert {k: calls[k].kind for k in calls} == {root: "agent", retrieve: "retrieval", tool: "tool", llm: "llm",
                                                 http_span: "other"}
    assert calls[llm].parent_id == f"{trace}:{root}" and calls[http_span].parent_id == f"{trace}:{llm}"
    assert calls[root].cost_source == "unknown" and calls[root].input_tokens is None
    assert CallPayload.objects.get(call=calls[retrieve]).context == [{"content": "doc A", "score": 0.9},
                                                                     {"content": "doc B"}]
    assert calls[http_span].metadata["http.request.method"] == "POST"


def test_bad_spans_are_refused_alone_with_partial_success(ingest_key: str, project: Any) -> None:
    good = span_dict(attributes=GENAI_CHAT)
    spans = [good, span_dict(span_id="abc"), span_dict(trace_id="00" * 16),
             span_dict(duration_ms=-5), span_dict(attributes={"gen_ai.usage.input_tokens": "many"})]
    response = post(protobuf_request(spans), ingest_key)
    assert response.status_code == 200
    answer = pb_answer(response).partial_success
    assert answer.rejected_spans == 3
    assert "spanId must be 8 bytes" in answer.error_message and "all zeros" in answer.error_message
    assert "end_time: is before timestamp" in answer.error_message
    assert Call.objects.filter(project=project).count() == 2  # the bad token count is dropped, not the span


def test_json_spans_with_bad_ids_or_shapes_are_refused_alone(ingest_key: str, project: Any) -> None:
    good = span_dict()
    body = json.loads(json_request([good, span_dict(trace_id="not-hex-at-all"), span_dict()]))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][2]["attributes"] = "oops"
    response = post(json.dumps(body).encode(), ingest_key, content_type="application/json")
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "traceId must be 16 bytes" in partial["errorMessage"] and "not valid OTLP/JSON" in partial["errorMessage"]
    assert list(Call.objects.filter(project=project).values_list("external_id", flat=True)) == [
        f"{good['trace_id']}:{good['span_id']}"]


def test_huge_attributes_are_cut_and_the_span_kept(ingest_key: str, project: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PAYLOAD_BYTES", 10_000)
    attributes = {**GENAI_CHAT, "gen_ai.input.messages": json.dumps([{"role": "user", "content": "x" * 50_000}]),
                  "name": "y" * 400}
    attributes.update({f"custom.attr_{i}": "z" * 900 for i in range(40)})
    span = span_dict(attributes=attributes, name="n" * 400)
    response = post(protobuf_request([span, span_dict()]), ingest_key)
    answer = pb_answer(response).partial_success
    assert answer.rejected_spans == 0 and "input of" in answer.error_message and "cut" in answer.error_message
    call = Call.objects.get(project=project, external_id=f"{span['trace_id']}:{span['span_id']}")
    assert len(call.name) == limits.MAX_NAME and call.input_tokens == 1200
    assert len(json.dumps(call.metadata)) <= limits.MAX_METADATA_BYTES
    assert call.metadata["observatory.dropped_attributes"] > 0
    payload = CallPayload.objects.get(call=call).input
    assert payload["truncated"] is True and payload["original_bytes"] > 50_000
    assert Call.objects.filter(project=project).count() == 2


@pytest.mark.parametrize("body, content_type", [(b"\x0a\xff\xff\xff", PB), (b"{nope", "application/json"),
                                                (b"[1, 2]", "application/json")])
def test_undecodable_bodies_are_400_with_a_status(ingest_key: str, body: bytes, content_type: str) -> None:
    response = post(body, ingest_key, content_type=content_type)
    assert response.status_code == 400
    if content_type == PB:
        status = status_pb2.Status.FromString(response.content)
        assert status.code == 3 and "ExportTraceServiceRequest" in status.message
    else:
        assert response.json()["code"] == 3 and response.json()["message"]


def test_other_media_types_are_415(ingest_key: str) -> None:
    response = post(b"hello", ingest_key, content_type="text/plain")
    assert response.status_code == 415 and "application/x-protobuf" in response.json()["message"]
    assert post(protobuf_request([span_dict()]), ingest_key, HTTP_CONTENT_ENCODING="br").status_code == 415


def test_gzip_bombs_and_big_bodies_are_413(ingest_key: str, project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 1024 * 1024)
    bomb = gzip.compress(protobuf_request([span_dict(attributes={"a": "x" * (30 * 1024 * 1024)})]), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    response = post(bomb, ingest_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompressed body is larger" in status_pb2.Status.FromString(response.content).message
    monkeypatch.setattr(limits, "MAX_EVENTS", 2)
    response = post(protobuf_request([span_dict() for _ in range(3)]), ingest_key)
    assert response.status_code == 413 and Call.objects.filter(project=project).count() == 0


def test_an_empty_export_is_a_success(ingest_key: str) -> None:
    response = post(b"", ingest_key)
    assert response.status_code == 200 and not pb_answer(response).HasField("partial_success")


def test_keys_by_bearer_x_api_key_and_basic(ingest_key: str, project: Any) -> None:
    basic = base64.b64encode(f"pk-lf-anything:{ingest_key}".encode()).decode()
    for headers in ({"HTTP_X_API_KEY": ingest_key}, {"HTTP_AUTHORIZATION": f"Basic {basic}"}):
        assert post(protobuf_request([span_dict()]), None, **headers).status_code == 200
    assert Call.objects.filter(project=project).count() == 2


def test_auth_failures_are_otlp_statuses(project: Any, read_key: str) -> None:
    missing = post(protobuf_request([span_dict()]), None)
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert status_pb2.Status.FromString(missing.content).code == 16
    wrong = base64.b64encode(b"pk:obs_not-a-key").decode()
    assert post(b"", None, HTTP_AUTHORIZATION=f"Basic {wrong}").status_code == 401
    assert post(b"", None, HTTP_AUTHORIZATION="Basic !!!").status_code == 401
    revoked = api_key_create(project=project, scopes=["ingest"])
    api_key_revoke(api_key=revoked.api_key)
    assert post(b"", revoked.raw_key).status_code == 401
    forbidden = post(b"{}", read_key, content_type="application/json")
    assert forbidden.status_code == 403 and "'ingest' scope" in forbidden.json()["message"]


def test_rate_limit_is_429_with_retry_after(ingest_key: str) -> None:
    with override_settings(OBSERVATORY_INGEST_RATE="1/min"):
        assert post(b"", ingest_key).status_code == 200
        response = post(b"", ingest_key)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert status_pb2.Status.FromString(response.content).code == 8


def test_database_outage_is_503_with_retry_after(ingest_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    from ingest.otel import apis

    def down(**kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(apis, "otlp_traces_ingest", down)
    response = post(protobuf_request([span_dict()]), ingest_key)
    assert response.status_code == 503 and response["Retry-After"] == "5"
