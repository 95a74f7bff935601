"""The worker's queue claims under load: immune to statistics taken on an empty queue, and a batch
cancelled by the worker's statement_timeout claimed again smaller, every call processed once."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction

from observatory.celery import worker_statement_timeout_bind, worker_statement_timeout_unbind
from rollups.selectors import Query, aggregate
from telemetry import services
from telemetry.models import Call, PendingCall
from telemetry.services import _CLAIM_SQL, _INDEX_SQL, project_process
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
BURST = 50_000


def _analyze_empty(cur: Any, table: str, columns: str, values: str) -> None:
    """What autoanalyze recorded in the incident: 0 rows on 1 page (a page once used, now empty).
    The planner scales rows per page by the current size, so a burst is still estimated at 0 rows,
    where a table never written has no density and gets a default estimate instead."""
    cur.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})")
    cur.execute(f"DELETE FROM {table}")
    cur.execute(f"ANALYZE {table}")
    cur.execute("SELECT reltuples, relpages FROM pg_class WHERE relname = %s", [table])
    rows, pages = cur.fetchone()
    assert rows == 0 and pages >= 1


def _plan(cur: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
    plan = cur.fetchone()[0]
    return plan if isinstance(plan, list) else json.loads(plan)


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


def _assert_claimed_once_then_looked_up(plan: list[dict[str, Any]], *, cte: str, table: str) -> None:
    """The locked LIMIT scan ran once, reading the queue at most once (the incident's plan re-ran it
    per queue row: 500 x 50,000 rows), and the write found the claimed rows by primary key or in one pass."""
    assert f'"CTE Name": "{cte}"' in json.dumps(plan)
    nodes = _nodes(plan[0]["Plan"])
    picked = next(n for n in nodes if n.get("Subplan Name") == f"CTE {cte}")
    assert all(n["Actual Loops"] == 1 for n in _nodes(picked))
    assert sum(n.get("Actual Rows", 0) * n["Actual Loops"] for n in _nodes(picked)) <= 3 * BURST
    lookups = [n for n in nodes if n.get("Relation Name") == table and n["Node Type"] != "ModifyTable"
               and n not in _nodes(picked)]
    assert lookups
    # One row per claimed id (a primary-key probe, as an index or bitmap scan), or one pass (a hash
    # join's scan): never a scan repeated per queue row.
    assert all(n["Actual Loops"] == 1 or n.get("Actual Rows", 0) <= 1 for n in lookups)
    assert sum(n.get("Actual Rows", 0) * n["Actual Loops"] for n in lookups) <= 3 * BURST


def test_the_processing_claim_runs_once_even_with_statistics_taken_on_an_empty_queue(project: Any) -> None:
    """The 13-minute incident: statistics said the queue was empty, and the planner re-ran the
    locked LIMIT subquery for every queue row. The claim's CTE is MATERIALIZED: one scan."""
    with connection.cursor() as cur:
        _analyze_empty(cur, "telemetry_pendingcall", "call_id, project_id, received_at", "0, 0, now()")
        # Queue rows only: the claim's join to telemetry_call is a LEFT JOIN (a purged call's row).
        cur.execute("INSERT INTO telemetry_pendingcall (call_id, project_id, received_at)"
                    " SELECT g, %s, now() FROM generate_series(1, %s) g", [project.id, BURST])
        plan = _plan(cur, _CLAIM_SQL, [project.id, 500])

    _assert_claimed_once_then_looked_up(plan, cte="picked", table="telemetry_pendingcall")
    # EXPLAIN ANALYZE ran the claim: exactly one batch left the queue.
    assert PendingCall.objects.filter(project_id=project.id).count() == BURST - 500


def test_the_search_index_claim_runs_once_even_with_statistics_taken_on_an_empty_table(project: Any) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        _analyze_empty(cur, "telemetry_callpayload", "call_id, redaction", "0, 'off'")
        # Payloads without their calls: the foreign key is deferred, and the transaction rolls back.
        cur.execute("INSERT INTO telemetry_callpayload (call_id, redaction) SELECT g, 'off'"
                    " FROM generate_series(1, %s) g", [BURST])
        plan = _plan(cur, _INDEX_SQL, [500])
        cur.execute("SELECT count(*) FROM telemetry_callpayload WHERE search IS NULL")
        assert cur.fetchone()[0] == BURST - 500
        transaction.set_rollback(True)

    _assert_claimed_once_then_looked_up(plan, cte="todo", table="telemetry_callpayload")


@pytest.fixture
def worker_timeout(settings: Any) -> Iterator[None]:
    """This process's connections as a worker's, with a 1 s statement_timeout."""
    settings.WORKER_STATEMENT_TIMEOUT_MS = 1000
    worker_statement_timeout_bind()
    try:
        yield
    finally:
        worker_statement_timeout_unbind()
        connection.close()


def _slow_over(limit: int, sizes: list[int], seen: list[int]) -> services.Processor:
    """A processor that outlasts the timeout on batches of more than `limit` calls."""
    def slow(cur: Any, project_id: int, ids: list[int]) -> None:
        sizes.append(len(ids))
        if len(ids) > limit:
            cur.execute("SELECT pg_sleep(3)")
        seen.extend(ids)  # reached only by a batch that will commit (this processor runs last)
    return slow


def _calls_in_rollups(project_id: int) -> int:
    query = Query(project_id=project_id, start=NOW - timedelta(days=1), end=NOW + timedelta(hours=1))
    return sum(int(row.get("count") or 0) for row in aggregate(query, ["count"]).values())


def test_a_batch_cancelled_by_the_worker_statement_timeout_is_claimed_again_smaller(
        api: Api, project: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, worker_timeout: None) -> None:
    settings.PROCESS_BATCH_SIZE = 200
    events = [call_event(i, trace_id=f"trace-{i % 20}", timestamp=(NOW - timedelta(seconds=i)).isoformat())
              for i in range(200)]
    assert api.ingest(events).status_code == 202
    sizes: list[int] = []
    seen: list[int] = []
    monkeypatch.setattr(services, "_PROCESSORS", [*services._PROCESSORS, _slow_over(60, sizes, seen)])

    with connection.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "1s"
    assert project_process(project_id=project.id) == 200

    # 200 and 100 were cancelled; 50 at a time went through, and the run kept that size.
    assert sizes == [200, 100, 50, 50, 50, 50]
    assert sorted(seen) == sorted(Call.objects.filter(project_id=project.id).values_list("id", flat=True))
    assert len(set(seen)) == 200
    assert not PendingCall.objects.filter(project_id=project.id).exists()
    assert _calls_in_rollups(project.id) == 200  # folded once: the cancelled attempts left nothing


def test_a_batch_still_cancelled_at_the_smallest_size_fails_and_its_calls_stay_queued(
        api: Api, project: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, worker_timeout: None) -> None:
    settings.PROCESS_BATCH_SIZE = 200
    assert api.ingest([call_event(i) for i in range(120)]).status_code == 202
    sizes: list[int] = []
    monkeypatch.setattr(services, "_PROCESSORS", [*services._PROCESSORS, _slow_over(0, sizes, [])])

    with pytest.raises(OperationalError):
        project_process(project_id=project.id)

    assert sizes == [120, 100, 50]
    assert PendingCall.objects.filter(project_id=project.id).count() == 120
    assert _calls_in_rollups(project.id) == 0


def test_web_connections_keep_the_servers_statement_timeout(settings: Any) -> None:
    settings.WORKER_STATEMENT_TIMEOUT_MS = 1000
    connection.close()
    with connection.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "0"
