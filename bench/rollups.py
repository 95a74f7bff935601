"""Rollup benchmark: 10 million calls over 30 days, rolled up by real Celery workers, then the
30-day "p95 latency per day by model" question answered by the metrics API and by
percentile_cont over raw calls.

Starts what it needs (embedded PostgreSQL and Redis in a fresh folder under bench/ unless
DATABASE_URL / REDIS_URL are set). Loads calls with COPY in time order (as ingestion would
have written them), marks them unprocessed, and times the workers until none is left.

    .venv/bin/python bench/rollups.py [--calls 10000000] [--workers 2]
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = [("openai", "gpt-4o-mini", 0.15, 0.6), ("openai", "gpt-4.1", 2.0, 8.0),
          ("anthropic", "claude-sonnet-4-5", 3.0, 15.0), ("google", "gemini-2.5-flash", 0.3, 2.5),
          ("mistral", "mistral-small-2603", 0.1, 0.3), ("deepseek", "deepseek-chat", 0.28, 0.42),
          ("acme", "in-house-llm", 0.0, 0.0)]
COLUMNS = ["project_id", "external_id", "trace_id", "kind", "start_time", "end_time", "latency_ms", "ttft_ms",
           "provider", "model", "status", "error_type", "input_tokens", "output_tokens", "cached_input_tokens",
           "total_tokens", "cost_total_usd", "cost_source", "prompt_name", "prompt_version", "user_id",
           "session_id", "feature", "team", "environment", "received_at"]
CONSTANT = {"parent_id": "", "name": "", "operation": "chat", "error_message": "", "release": "", "params": "{}",
            "tags": "{}", "metadata": "{}"}


def chunk_frame(project_id: int, rng: np.random.Generator, start: datetime, seconds: np.ndarray,
                offset: int) -> pd.DataFrame:
    n = len(seconds)
    m = rng.integers(0, len(MODELS), n)
    slow = rng.random(n) < 0.3
    latency = np.where(slow, rng.lognormal(7.2, 0.5, n), rng.lognormal(6.0, 0.4, n)) * (1 + m * 0.15)
    tokens_in = rng.integers(50, 4000, n)
    tokens_out = rng.integers(5, 800, n)
    price_in = np.array([p[2] for p in MODELS])[m]
    price_out = np.array([p[3] for p in MODELS])[m]
    cost = np.round((tokens_in * price_in + tokens_out * price_out) / 1e6, 12)
    starts = pd.to_datetime(start) + pd.to_timedelta(seconds, unit="s")
    error = rng.random(n) < 0.03
    unpriced = m == len(MODELS) - 1
    return pd.DataFrame({
        "project_id": project_id, "external_id": [f"b{offset + i}" for i in range(n)],
        "trace_id": [f"t{(offset + i) // 4}" for i in range(n)], "kind": "llm",
        "start_time": starts, "end_time": starts + pd.to_timedelta(latency, unit="ms"),
        "latency_ms": np.round(latency, 3), "ttft_ms": np.round(latency * rng.uniform(0.05, 0.4, n), 3),
        "provider": np.array([p[0] for p in MODELS])[m], "model": np.array([p[1] for p in MODELS])[m],
        "status": np.where(error, "error", "ok"), "error_type": np.where(error, "RateLimitError", ""),
        "input_tokens": tokens_in, "output_tokens": tokens_out, "cached_input_tokens": 0,
        "total_tokens": tokens_in + tokens_out,
        "cost_total_usd": np.where(unpriced, None, cost.astype(str)), "cost_source":
            np.where(unpriced, "unknown", "computed"),
        "prompt_name": "support", "prompt_version": (rng.integers(1, 6, n)).astype(str),
        "user_id": [f"user-{u}" for u in rng.integers(1, 20000, n)],
        "session_id": [f"s-{s}" for s in rng.integers(1, 200000, n)],
        "feature": np.array(["chat", "search", "summarize", "email"])[rng.integers(0, 4, n)],
        "team": np.array(["growth", "core", "support"])[rng.integers(0, 3, n)], "environment": "production",
        "received_at": starts,
    })


def load(conn_url: str, project_id: int, total: int, days: int) -> float:
    import psycopg

    rng = np.random.default_rng(2026)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = now - timedelta(days=days)
    seconds = np.sort(rng.uniform(0, days * 86400, total))
    began = time.perf_counter()
    columns = COLUMNS + list(CONSTANT)
    with psycopg.connect(conn_url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY telemetry_call ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
            for offset in range(0, total, 500_000):
                frame = chunk_frame(project_id, rng, start, seconds[offset:offset + 500_000], offset)
                for name, value in CONSTANT.items():
                    frame[name] = value
                buffer = io.StringIO()
                frame[columns].to_csv(buffer, header=False, index=False, na_rep=r"\N", date_format="%Y-%m-%dT%H:%M:%S.%f+00:00")
                copy.write(buffer.getvalue())
                print(f"  loaded {min(offset + 500_000, total):,} calls", flush=True)
        conn.commit()
        cur.execute("ANALYZE telemetry_call")
    return time.perf_counter() - began


def roll_up(project_id: int, calls: int, workers: int) -> float:
    """Seconds real Celery workers take to process (and so roll up) every loaded call."""
    from django.db import connection

    from rollups.compact import project_compact
    from telemetry.tasks import process_project

    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "observatory", "worker", "--loglevel=WARNING",
                               "--concurrency", str(workers), "--without-gossip", "--without-mingle"], cwd=ROOT)
    try:
        began = time.perf_counter()
        for _ in range(workers):
            process_project.delay(project_id)
        with connection.cursor() as cur:
            while True:
                time.sleep(5)
                cur.execute("SELECT count(*) FROM telemetry_pendingcall WHERE project_id = %s",
                            [project_id])
                done = calls - cur.fetchone()[0]
                elapsed = time.perf_counter() - began
                print(f"  rolled up {done:,} calls in {elapsed:.0f} s ({done / elapsed:,.0f} calls/s)", flush=True)
                if done == calls:
                    break
                if done == 0 and elapsed > 60:
                    raise SystemExit("workers made no progress in 60 s")
            # Rolled up means merged too: wait for the workers' compaction of the last parts.
            while True:
                cur.execute("SELECT 1 FROM rollups_rollup WHERE project_id = %s AND NOT compacted LIMIT 1",
                            [project_id])
                if not cur.fetchall():
                    return time.perf_counter() - began
                # What beat's rollups.tasks.compact would do (a no-op while a worker is compacting).
                project_compact(project_id=project_id)
                time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def time_api(target: str, key: str, query: str, queries: int) -> tuple[list[float], dict]:
    timings = []
    body: dict = {}
    host, port = target.split(":")
    for i in range(queries + 3):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        started = time.perf_counter()
        conn.request("GET", query, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"metrics API answered {response.status}: {body}")
        if i >= 3:  # the first requests warm up connections and caches
            timings.append((time.perf_counter() - started) * 1000)
    return timings, body


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()

    from harness import servers, web

    with servers(OBSERVATORY_READ_RATE="1000000/min"):
        import django

        django.setup()
        from django.db import connection

        from tenancy.services import api_key_create, organization_create, project_create

        project = project_create(organization=organization_create(name=f"Bench {time.time():.0f}"), name="bench")
        key = api_key_create(project=project, scopes=["read"]).raw_key
        # Rollup throughput alone: evaluators (quality/) are separate work, milliseconds per call.
        from quality.models import QualitySettings

        QualitySettings.objects.create(project=project, evaluate=False)
        connection.close()

        print(f"loading {args.calls:,} calls over {args.days} days with COPY...", flush=True)
        load_seconds = load(os.environ["DATABASE_URL"], project.id, args.calls, args.days)
        print(f"load: {load_seconds:.0f} s ({args.calls / load_seconds:,.0f} rows/s)", flush=True)

        rollup_seconds = roll_up(project.id, args.calls, args.workers)
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM rollups_rollup WHERE project_id = %s", [project.id])
            rollup_rows = cur.fetchone()[0]
        print(f"rollup: {args.calls:,} calls in {rollup_seconds:.0f} s = {args.calls / rollup_seconds:,.0f} calls/s "
              f"with {args.workers} worker processes ({rollup_rows:,} rollup rows)", flush=True)

        now = datetime.now(timezone.utc)
        query = (f"/api/v1/metrics?measure=latency_p95&interval=1d&group_by=model"
                 f"&from={(now - timedelta(days=args.days)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
                 f"&to={now.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        with web(os.environ.get("BENCH_PORT", "8767")) as target:
            timings, body = time_api(target, key, query, args.queries)
        api_p95 = float(np.percentile(timings, 95))
        points = sum(len(s["points"]) for s in body["series"])
        print(f"metrics API ({args.days} days, p95 latency per day by model, {points} points): "
              f"p50 {statistics.median(timings):.1f} ms, p95 {api_p95:.1f} ms over {len(timings)} calls", flush=True)

        raw_sql = ("SELECT date_trunc('day', start_time), model, percentile_cont(0.95) WITHIN GROUP "
                   "(ORDER BY latency_ms) FROM telemetry_call WHERE project_id = %s AND kind = 'llm' "
                   "AND start_time >= %s AND start_time < %s GROUP BY 1, 2")
        raw_times = []
        with connection.cursor() as cur:
            for _ in range(3):
                started = time.perf_counter()
                cur.execute(raw_sql, [project.id, now - timedelta(days=args.days), now])
                cur.fetchall()
                raw_times.append((time.perf_counter() - started) * 1000)
        raw_ms = statistics.median(raw_times)
        print(f"percentile_cont over raw calls (same question, median of 3): {raw_ms:.0f} ms", flush=True)
    # After the embedded servers have stopped (they log their shutdown), so this is the last line.
    print(f"speed-up: {raw_ms / api_p95:.0f}x (raw median / API p95)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
