"""Trace-level attributes (user, session, environment, release, tags) set on one span of a trace reach
every call of it before the fold, whichever export brought that span and in whichever order; a span
arriving after its trace was folded corrects the per-user and per-session figures, once."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.db.models import Sum
from django.test import Client
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans as encode_json
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as encode_protobuf
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from rollups.models import EntityRollup
from telemetry import services
from telemetry.models import Call, PendingCall
from telemetry.services import project_process
from telemetry.tasks import process_project
from tests.conftest import Api
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.django_db
NOW = datetime.now(timezone.utc)
RANGE = {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(days=1)).isoformat()}
ROOT = {"user.id": "u-1", "session.id": "s-1", "langfuse.environment": "prod", "langfuse.release": "2.0",
        "langfuse.trace.tags": ["beta"]}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200}


@pytest.fixture
def sdk() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agent"}))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    yield provider, captured
    provider.shutdown()


def _agent_trace(provider: TracerProvider, root: dict[str, Any], chat: dict[str, Any] | None = None,
                 chats: int = 2) -> None:
    """An agent span carrying `root`, with `chats` LLM calls and a tool call under it."""
    tracer = provider.get_tracer("tests.trace_attributes")
    with tracer.start_as_current_span("invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent",
                                                                          **root}):
        for _ in range(chats):
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT,
                                              attributes={**CHAT, **(chat or {})}):
                pass
        with tracer.start_as_current_span("execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool"}):
            pass


def _roots(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is None]


def _children(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None]


def _export(key: str, spans: list[ReadableSpan], *, encoding: str = "protobuf",
            path: str = "/v1/traces") -> None:
    """What the SDK's OTLP/HTTP exporters send for `spans`, posted to the receiver."""
    if encoding == "protobuf":
        body, content_type = encode_protobuf(spans).SerializeToString(), "application/x-protobuf"
    else:
        body, content_type = encode_json(spans).to_json().encode(), "application/json"
    response = Client().post(path, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content


def _top(api: Api, entity: str = "user") -> dict[str, tuple[int, float]]:
    response = api.get("/api/v1/metrics/top", entity=entity, limit=100, **RANGE)
    assert response.status_code == 200, response.content
    return {row["key"]: (row["calls"], row["cost_usd"]) for row in response.json()["rows"]}


def _llm_cost(project: Any, **filters: Any) -> Decimal:
    return Call.objects.filter(project=project, kind="llm", **filters).aggregate(c=Sum("cost_total_usd"))["c"]


def _entity_cost(project: Any, entity: str, key: str) -> Decimal:
    return EntityRollup.objects.filter(project=project, entity=entity, key=key).aggregate(c=Sum("cost_usd"))["c"]


def _assert_figures(project: Any, api: Api, users: dict[str, int], sessions: dict[str, int]) -> None:
    """Top users and sessions hold exactly the LLM calls (and their cost) that carry them."""
    for entity, expected in (("user", users), ("session", sessions)):
        column = f"{entity}_id"
        top = _top(api, entity)
        assert {key: calls for key, (calls, _) in top.items()} == expected, entity
        for key in expected:
            cost = _llm_cost(project, **{column: key})
            assert cost > 0 and _entity_cost(project, entity, key) == cost, (entity, key)
            assert top[key][1] == float(cost)


@pytest.mark.parametrize("root_first", [True, False], ids=["root first", "root last"])
def test_a_trace_split_across_two_exports_counts_for_its_user(full_api: Api, full_key: str, project: Any,
                                                              prices: None, sdk: Any, root_first: bool) -> None:
    provider, captured = sdk
    _agent_trace(provider, ROOT)
    spans = list(captured.get_finished_spans())
    first, second = (_roots(spans), _children(spans)) if root_first else (_children(spans), _roots(spans))
    _export(full_key, first)
    project_process(project_id=project.id)
    if not root_first:
        assert _top(full_api) == {}  # folded with no user: nothing carried one yet
    _export(full_key, second)
    project_process(project_id=project.id)

    calls = list(Call.objects.filter(project=project))
    assert len(calls) == 4
    assert {(c.user_id, c.session_id, c.release, tuple(c.tags)) for c in calls} == {("u-1", "s-1", "2.0", ("beta",))}
    # Environment is a rollup dimension: calls folded before the root keep theirs (empty).
    assert {c.environment for c in calls if c.parent_id} == ({"prod"} if root_first else {""})
    _assert_figures(project, full_api, {"u-1": 2}, {"s-1": 2})

    # Processing again, re-sending both exports (duplicates) and processing once more change nothing.
    project_process(project_id=project.id)
    _export(full_key, first)
    _export(full_key, second)
    project_process(project_id=project.id)
    _assert_figures(project, full_api, {"u-1": 2}, {"s-1": 2})


def test_two_hundred_agent_traces_with_the_user_on_the_root_only(full_api: Api, full_key: str, project: Any,
                                                                 prices: None, sdk: Any) -> None:
    """The report: the user on the root span, the cost on the LLM spans under it. Half the roots come
    in the export with their children, the others in the next one, after the children were folded."""
    provider, captured = sdk
    for n in range(200):
        _agent_trace(provider, {"user.id": f"u-{n % 7}", "session.id": f"s-{n % 50}"}, chats=1)
    spans = list(captured.get_finished_spans())
    late = {s.context.trace_id for s in _roots(spans)[1::2]}
    _export(full_key, [s for s in spans if not (s.parent is None and s.context.trace_id in late)])
    project_process(project_id=project.id)
    _export(full_key, [s for s in spans if s.parent is None and s.context.trace_id in late])
    project_process(project_id=project.id)

    assert not Call.objects.filter(project=project, user_id="").exists()
    users = {f"u-{k}": len(range(k, 200, 7)) for k in range(7)}
    _assert_figures(project, full_api, users, {f"s-{n}": 4 for n in range(50)})


def test_a_late_root_adds_only_what_the_folded_calls_lacked(full_api: Api, full_key: str, project: Any,
                                                            prices: None, sdk: Any) -> None:
    """The session on every span (propagated in context), the user on the root only: the calls folded
    before the root already count for the session, and must not count for it twice."""
    provider, captured = sdk
    _agent_trace(provider, {"user.id": "u-1", "session.id": "s-1"}, chat={"session.id": "s-1"})
    spans = list(captured.get_finished_spans())
    _export(full_key, _children(spans))
    project_process(project_id=project.id)
    assert _top(full_api, "session") == {"s-1": (2, float(_llm_cost(project)))} and _top(full_api) == {}
    _export(full_key, _roots(spans))
    project_process(project_id=project.id)
    _assert_figures(project, full_api, {"u-1": 2}, {"s-1": 2})


def test_a_child_arriving_after_its_folded_root_takes_its_values(full_api: Api, full_key: str, project: Any,
                                                                 prices: None, sdk: Any) -> None:
    provider, captured = sdk
    _agent_trace(provider, ROOT, chats=3)
    spans = list(captured.get_finished_spans())
    chats = [s for s in spans if s.name.startswith("chat")]
    for part in ([*_roots(spans), chats[0]], chats[1:2], [chats[2]]):
        _export(full_key, part)
        project_process(project_id=project.id)
    assert set(Call.objects.filter(project=project, kind="llm").values_list("user_id", "environment")) == {
        ("u-1", "prod")}
    _assert_figures(project, full_api, {"u-1": 3}, {"s-1": 3})


def test_langfuse_trace_attributes_on_the_root_span_only(full_api: Api, full_key: str, project: Any,
                                                         prices: None, sdk: Any) -> None:
    """Spans as the Langfuse SDK sends them (update_trace sets the trace's attributes on the root span),
    as OTLP/JSON to Langfuse's endpoint, the generation first and the root in a later export."""
    provider, captured = sdk
    tracer = provider.get_tracer("langfuse-sdk")
    with tracer.start_as_current_span("handle-request", attributes={
            "langfuse.observation.type": "span", "user.id": "lf-user", "session.id": "lf-session",
            "langfuse.trace.tags": ["checkout", "beta"], "langfuse.environment": "staging", "langfuse.release": "r7",
            "langfuse.trace.name": "checkout", "langfuse.trace.metadata.plan": "pro"}):
        with tracer.start_as_current_span("generation", attributes={
                "langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o-mini",
                "langfuse.observation.usage_details": '{"input": 500, "output": 50}',
                "langfuse.observation.cost_details": '{"total": 0.0125}'}):
            pass
    spans = list(captured.get_finished_spans())
    for part in (_children(spans), _roots(spans)):
        _export(full_key, part, encoding="json", path="/api/public/otel/v1/traces")
        project_process(project_id=project.id)

    generation = Call.objects.get(project=project, kind="llm")
    assert (generation.user_id, generation.session_id, generation.release, generation.tags) == (
        "lf-user", "lf-session", "r7", ["checkout", "beta"])
    assert generation.cost_total_usd == Decimal("0.0125")
    root = Call.objects.get(project=project, parent_id="")
    assert root.environment == "staging" and root.metadata["trace.plan"] == "pro"
    _assert_figures(project, full_api, {"lf-user": 1}, {"lf-session": 1})


def test_one_export_shares_the_root_values_before_they_are_written(full_key: str, project: Any, sdk: Any) -> None:
    provider, captured = sdk
    _agent_trace(provider, ROOT)
    _export(full_key, list(captured.get_finished_spans()))
    # Not processed yet: the rows were written complete, so the worker has nothing to rewrite.
    assert set(Call.objects.filter(project=project).values_list("user_id", "session_id", "environment")) == {
        ("u-1", "s-1", "prod")}


@pytest.mark.parametrize("root_first", [True, False], ids=["root first", "root last"])
def test_native_calls_of_one_trace_in_two_batches(full_api: Api, project: Any, prices: None,
                                                  root_first: bool) -> None:
    at = (NOW - timedelta(minutes=5)).isoformat()
    root = {"type": "span", "id": "agent-1", "trace_id": "conv-1", "kind": "agent", "name": "agent",
            "timestamp": at, "latency_ms": 900, "user_id": "n-user", "session_id": "n-session",
            "environment": "prod", "release": "3.1", "tags": ["native"]}
    children = [{"type": "call", "id": f"llm-{n}", "trace_id": "conv-1", "parent_id": "agent-1", "timestamp": at,
                 "latency_ms": 300, "provider": "openai", "model": "gpt-4o-mini",
                 "usage": {"input_tokens": 100, "output_tokens": 20}} for n in range(3)]
    for events in ([root], children) if root_first else (children, [root]):
        assert full_api.ingest(events).status_code == 202
        project_process(project_id=project.id)
    assert {(c.user_id, c.release, tuple(c.tags)) for c in Call.objects.filter(project=project, kind="llm")} == {
        ("n-user", "3.1", ("native",))}
    _assert_figures(project, full_api, {"n-user": 3}, {"n-session": 3})


@pytest.mark.django_db(transaction=True)
def test_a_root_processed_while_its_children_are_mid_batch_is_counted_once(
        full_api: Api, full_key: str, project: Any, prices: None, sdk: Any) -> None:
    """The race: worker A has claimed the children and filled them (the root was not there yet) but not
    committed; the root arrives and worker B processes it. B must not take the children for still
    queued (A's claim is not visible to it) and skip them: it waits for A's trace row, then corrects."""
    provider, captured = sdk
    _agent_trace(provider, ROOT)
    spans = list(captured.get_finished_spans())
    _export(full_key, _children(spans))
    mid_batch, resume = threading.Event(), threading.Event()
    a_results: list[Any] = []
    b_results: list[Any] = []

    def run(results: list[Any]) -> None:
        try:
            results.append(project_process(project_id=project.id))
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            results.append(error)
        finally:
            connection.close()

    worker_a = threading.Thread(target=run, args=(a_results,))
    worker_b = threading.Thread(target=run, args=(b_results,))

    def hold(cursor: Any, project_id: int, ids: list[int]) -> None:
        if threading.current_thread() is worker_a:  # after A's fill and fold, before its commit
            mid_batch.set()
            assert resume.wait(30)

    services.register_processor(hold)
    try:
        worker_a.start()
        assert mid_batch.wait(30)
        _export(full_key, _roots(spans))
        worker_b.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.05)
        resume.set()
        worker_a.join(30)
        worker_b.join(30)
    finally:
        resume.set()
        services._PROCESSORS.remove(hold)
    assert a_results == [3] and b_results == [1]
    _assert_figures(project, full_api, {"u-1": 2}, {"s-1": 2})


@pytest.mark.django_db(transaction=True)
def test_two_real_workers_over_traces_split_across_exports(full_api: Api, full_key: str, project: Any,
                                                           prices: None, sdk: Any) -> None:
    """Children and late roots of 120 traces exported in turns while two workers process them."""
    provider, captured = sdk
    log = Path(__file__).resolve().parents[2] / "test-artifacts" / "worker-trace-attributes.log"
    log.parent.mkdir(exist_ok=True)
    with celery_worker(name="a", concurrency=2, log_path=log), \
            celery_worker(name="b", concurrency=2, log_path=log.with_suffix(".b.log")):
        for round_ in range(6):
            captured.clear()
            for n in range(20):
                _agent_trace(provider, {"user.id": f"u-{n % 5}", "session.id": f"s-{round_}-{n % 4}"}, chats=1)
            spans = list(captured.get_finished_spans())
            for part in (_children(spans), _roots(spans)):
                _export(full_key, part)
                process_project.delay(project.id)
                process_project.delay(project.id)
        wait_for(lambda: not PendingCall.objects.filter(project_id=project.id).exists(), timeout=60,
                 what="both workers to drain the queue")
    assert not Call.objects.filter(project=project, user_id="").exists()
    _assert_figures(project, full_api, {f"u-{k}": 24 for k in range(5)},
                    {f"s-{r}-{k}": 5 for r in range(6) for k in range(4)})


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'")
        return cur.fetchone()[0] > 0


def test_a_batch_rolled_back_by_a_deadlock_is_claimed_again(monkeypatch: pytest.MonkeyPatch, project: Any) -> None:
    class Deadlock(Exception):
        sqlstate = "40P01"

    attempts: list[int] = []

    def batch(project_id: int, **_: Any) -> int:
        attempts.append(project_id)
        if len(attempts) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return 0

    monkeypatch.setattr(services, "_process_batch", batch)
    assert project_process(project_id=project.id) == 0
    assert attempts == [project.id, project.id]
