"""Read API: filters, cursor pagination, call detail, trace tree, and who may read what."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from telemetry.models import PendingCall
from telemetry.services import project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(api: Api, project: Any, prices: None) -> None:
    events = [call_event(i, timestamp=f"2026-11-20T10:{i:02d}:00Z", model="gpt-4o" if i % 2 else "gpt-4o-mini",
                         user_id=f"user-{i % 3}", status="error" if i % 5 == 0 else "ok",
                         tags=["vip"] if i % 4 == 0 else [], trace_id=f"trace-{i // 10}") for i in range(1, 31)]
    assert api.ingest(events).status_code == 202


def test_it_pages_newest_first_with_a_cursor(reader: Api, seeded: None) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        response = reader.get("/api/v1/calls", **params)
        assert response.status_code == 200
        body = response.json()
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"call-{i}" for i in range(30, 0, -1)]


@pytest.mark.parametrize("params, expected", [
    ({"model": "gpt-4o"}, {f"call-{i}" for i in range(1, 31, 2)}),
    ({"status": "error"}, {"call-5", "call-10", "call-15", "call-20", "call-25", "call-30"}),
    ({"user_id": "user-1"}, {f"call-{i}" for i in range(1, 31) if i % 3 == 1}),
    ({"tag": "vip"}, {f"call-{i}" for i in range(4, 31, 4)}),
    ({"from": "2026-11-20T10:05:00Z", "to": "2026-11-20T10:08:00Z"}, {"call-5", "call-6", "call-7"}),
    ({"trace_id": "trace-0"}, {f"call-{i}" for i in range(1, 10)}),
])
def test_filters(reader: Api, seeded: None, params: dict[str, str], expected: set[str]) -> None:
    response = reader.get("/api/v1/calls", limit=100, **params)
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["data"]} == expected


@pytest.mark.parametrize("params, field", [
    ({"from": "last tuesday"}, "from"), ({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"),
    ({"cursor": "garbage!!"}, "cursor"), ({"status": "weird"}, "status"),
])
def test_bad_query_parameters_are_400(reader: Api, seeded: None, params: dict[str, str], field: str) -> None:
    response = reader.get("/api/v1/calls", **params)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_call_detail_has_payloads_scores_and_feedback(full_api: Api, project: Any, prices: None) -> None:
    full_api.ingest([call_event(1, input=[{"role": "user", "content": "<script>alert(1)</script>"}],
                                usage={"input_tokens": 1000, "cached_input_tokens": 200, "output_tokens": 50}),
                     {"type": "score", "call_id": "call-1", "name": "relevance", "value": 0.8},
                     {"type": "feedback", "call_id": "call-1", "thumbs": "up"}])
    response = full_api.get("/api/v1/calls/call-1")
    assert response.status_code == 200
    body = response.json()
    assert body["input"] == [{"role": "user", "content": "<script>alert(1)</script>"}]
    assert body["output"] == "answer"
    assert body["usage"]["cached_input_tokens"] == 200
    assert body["cost"]["source"] == "computed" and float(body["cost"]["total_usd"]) > 0
    assert [s["name"] for s in body["scores"]] == ["relevance"]
    assert [f["thumbs"] for f in body["feedback"]] == ["up"]
    assert full_api.get("/api/v1/calls/nope").status_code == 404


def test_trace_tree_nests_spans_by_parent(full_api: Api, project: Any) -> None:
    full_api.ingest([
        {"type": "span", "id": "root", "trace_id": "T", "kind": "agent", "name": "agent run",
         "timestamp": "2026-11-20T10:00:00Z", "latency_ms": 3000},
        {"type": "span", "id": "ret", "trace_id": "T", "parent_id": "root", "kind": "retrieval",
         "timestamp": "2026-11-20T10:00:00.100Z", "latency_ms": 200},
        call_event(1, id="llm", trace_id="T", parent_id="root", timestamp="2026-11-20T10:00:00.400Z"),
        {"type": "span", "id": "tool", "trace_id": "T", "parent_id": "llm", "kind": "tool",
         "timestamp": "2026-11-20T10:00:01Z", "latency_ms": 50},
    ])
    response = full_api.get("/api/v1/traces/T")
    assert response.status_code == 200
    body = response.json()
    assert body["span_count"] == 4 and body["name"] == "agent run"
    (root,) = body["roots"]
    assert root["span"]["id"] == "root"
    assert [c["span"]["id"] for c in root["children"]] == ["ret", "llm"]
    assert root["children"][1]["children"][0]["span"]["id"] == "tool"
    assert full_api.get("/api/v1/traces/missing").status_code == 404


def test_ingest_only_key_cannot_read(api: Api, seeded: None) -> None:
    response = api.get("/api/v1/calls")
    assert response.status_code == 403


def test_a_key_never_sees_another_projects_calls(seeded: None, other_project: Any) -> None:
    from tenancy.services import api_key_create

    other = Api(api_key_create(project=other_project, scopes=["read"]).raw_key)
    assert other.get("/api/v1/calls").json()["data"] == []
    assert other.get("/api/v1/calls/call-1").status_code == 404
    assert other.get("/api/v1/traces/trace-0").status_code == 404


def test_members_read_through_the_browsable_api(member: Any, outsider: Any, project: Any, seeded: None) -> None:
    client = Client()
    client.force_login(member)
    response = client.get("/api/v1/calls", {"project": project.id}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"call-30" in response.content
    assert client.get("/api/v1/calls", HTTP_ACCEPT="application/json").status_code == 400

    client.force_login(outsider)
    assert client.get("/api/v1/calls", {"project": project.id}).status_code == 404
    assert Client().get("/api/v1/calls", {"project": project.id}).status_code == 401


def test_processing_derives_traces_and_is_idempotent(api: Api, project: Any, seeded: None) -> None:
    from telemetry.models import Trace

    assert project_process(project_id=project.id) == 30
    assert project_process(project_id=project.id) == 0
    traces = {t.trace_id: t for t in Trace.objects.filter(project=project)}
    assert set(traces) == {"trace-0", "trace-1", "trace-2", "trace-3"}
    assert traces["trace-1"].call_count == 10 and traces["trace-0"].call_count == 9
    assert not PendingCall.objects.filter(project_id=project.id).exists()


def test_listed_json_matches_the_call_shape_of_the_detail(full_api: Api, project: Any, prices: None) -> None:
    """The list is rendered by PostgreSQL and the detail by Python: they must give the same document."""
    full_api.ingest([
        call_event(1, timestamp="2026-11-20T10:00:00Z", latency_ms=None, error={"type": "Timeout", "message": "slow"},
                   prompt={"name": "p", "version": 2}, tags=["a", "b"], params={"temperature": 0.5, "top_p": 1},
                   metadata={"nested": {"x": [1, 2]}}, usage={"input_tokens": 1000, "cached_input_tokens": 100,
                                                               "output_tokens": 10}),
        call_event(2, timestamp="2026-11-20T10:00:01.123456Z", cost_usd=10, model="unknown-model"),
        call_event(3, timestamp="2026-11-20T10:00:02.5Z", model="acme", usage=None, kind="tool"),
    ])
    listed = {row["id"]: row for row in full_api.get("/api/v1/calls").json()["data"]}
    assert set(listed) == {"call-1", "call-2", "call-3"}
    for call_id, row in listed.items():
        detail = full_api.get(f"/api/v1/calls/{call_id}").json()
        assert row == {key: detail[key] for key in row}, call_id
        assert set(detail) - set(row) == {"input", "output", "context", "scores", "feedback", "processed", "flags",
                                          "evaluation", "redaction"}
    assert listed["call-1"]["end_time"] is None and listed["call-1"]["error"] == {"type": "Timeout", "message": "slow"}
    assert listed["call-2"]["cost"] == {"input_usd": None, "output_usd": None, "total_usd": "10",
                                        "source": "provided"}
    assert listed["call-2"]["start_time"] == "2026-11-20T10:00:01.123456Z"


def test_an_id_with_a_line_break_is_found_and_an_unknown_one_is_a_json_404(api: Api, reader: Api) -> None:
    # Django's `path` converter stopped at a newline: the URL matched no route and got the HTML 404 page.
    assert api.ingest([call_event(1, id="two\nlines")]).status_code == 202
    found = reader.get("/api/v1/calls/two%0Alines")
    assert found.status_code == 200 and found.json()["id"] == "two\nlines"
    missing = reader.get("/api/v1/calls/a%0Ab%0Dc")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/calls", "/api/v1/metrics/summary"])
def test_a_key_naming_another_project_is_told_so(reader: Api, project: Any, other_project: Any, path: str) -> None:
    refused = reader.get(path, project=other_project.id)
    assert refused.status_code == 403 and "reaches project" in refused.json()["error"]["message"]
    assert reader.get(path, project="null").status_code == 400
    assert reader.get(path, project=project.id).status_code == 200
