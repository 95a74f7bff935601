"""Review queues under load: "next item" and submit with 100,000 pending items, and routing's share
of evaluation time.

    .venv/bin/python bench/review.py [--items 100000] [--calls 2000]

On embedded PostgreSQL and Redis in a fresh folder (or DATABASE_URL / REDIS_URL). Part 1 writes
`--items` calls and as many pending items of one queue in SQL, then 20 reviewers claim and submit
300 items in turn; it prints the p50/p95 server time (the service call, in this process) of the
claim and of the submit. Target: p95 under 100 ms each. Part 2 loads `--calls` calls of the
scoring mix (bench/scoring_mix.py) through the ingest service with four rules on a queue (any flag,
a score below a value, thumbs-down, a 2% sample), evaluates them in this process, and prints the
time spent in routing as a share of evaluation time. Target: under 10%.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, whose rollups.py would shadow the rollups app
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))

RUBRIC = [{"name": "correct", "kind": "categorical", "labels": ["correct", "partially", "wrong"]},
          {"name": "helpfulness", "kind": "numeric", "min": 1, "max": 5}]
_FILLERS = {"character varying": "''", "text": "''", "jsonb": "'{}'", "ARRAY": "'{}'", "integer": "0",
            "bigint": "0", "double precision": "0", "numeric": "0", "boolean": "false",
            "timestamp with time zone": "now()", "smallint": "0"}


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def _calls_sql(cur: object, project_id: int, n: int) -> None:
    """n calls of one project in one statement; columns without a database default get a neutral value."""
    cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'telemetry_call'"
                " AND is_nullable = 'NO' AND column_default IS NULL")
    given = {"project_id": str(project_id), "external_id": "'bench-' || g", "kind": "'llm'", "status": "'ok'",
             "start_time": "now() - g * interval '1 second'", "received_at": "now()", "model": "'gpt-4o-mini'",
             "cost_source": "'unknown'"}
    columns = {name: given.get(name, _FILLERS.get(kind, "''")) for name, kind in cur.fetchall() if name != "id"}
    cur.execute(f"INSERT INTO telemetry_call ({', '.join(columns)}) SELECT {', '.join(columns.values())}"
                f" FROM generate_series(1, {n}) g")
    cur.execute("DELETE FROM telemetry_pendingcall WHERE project_id = %s", [project_id])


def part_claims(items: int) -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from review.models import Item
    from review.reviewing import item_claim_next, verdict_submit
    from review.services import queue_create
    from tenancy.models import Role
    from tenancy.services import membership_set, organization_create, project_create

    owner = get_user_model().objects.create_user("bench-owner-" + os.urandom(3).hex())
    org = organization_create(name="Bench review " + os.urandom(3).hex(), owner=owner)
    project = project_create(organization=org, name="review")
    reviewers = []
    for i in range(20):
        user = get_user_model().objects.create_user(f"bench-r{i}-{os.urandom(3).hex()}")
        membership_set(organization=org, user=user, role=Role.MEMBER)
        reviewers.append(user)
    queue = queue_create(project=project, actor=owner, data={"name": "Bench", "rubric": RUBRIC})
    began = time.perf_counter()
    with connection.cursor() as cur:
        _calls_sql(cur, project.id, items)
        cur.execute("INSERT INTO review_item (queue_id, call_id, reason, status, submissions, created_at)"
                    " SELECT %s, id, '{\"rules\": []}', 'pending', 0, start_time FROM telemetry_call"
                    " WHERE project_id = %s", [queue.id, project.id])
        cur.execute("ANALYZE review_item")
    print(f"  {items:,} calls and pending items written in {time.perf_counter() - began:.1f} s", flush=True)
    claims: list[float] = []
    submits: list[float] = []
    for n in range(300):
        user = reviewers[n % len(reviewers)]
        t0 = time.perf_counter()
        item = item_claim_next(queue=queue, user=user)
        t1 = time.perf_counter()
        verdict_submit(item_id=item.id, queue=queue, user=user, answers={"correct": "correct", "helpfulness": 4})
        t2 = time.perf_counter()
        claims.append((t1 - t0) * 1000)
        submits.append((t2 - t1) * 1000)
    assert Item.objects.filter(queue=queue, status="done").count() == 300
    return {"claim_p50": _pct(claims, 50), "claim_p95": _pct(claims, 95), "submit_p50": _pct(submits, 50),
            "submit_p95": _pct(submits, 95)}


def part_routing(calls: int) -> dict[str, float]:
    from scoring_mix import make_calls

    from ingest.services import batch_ingest
    from quality import batch
    from quality.services import project_evaluate
    from review import routing
    from review.services import queue_create, rule_create
    from telemetry.services import project_process
    from tenancy.services import organization_create, project_create

    project = project_create(organization=organization_create(name="Bench routing " + os.urandom(3).hex()),
                             name="routing")
    queue = queue_create(project=project, actor=None, data={"name": "Routed", "rubric": RUBRIC, "daily_cap": 100000})
    for rule in ({"kind": "flag"}, {"kind": "score", "score": "relevance", "direction": "below", "threshold": 0.2},
                 {"kind": "feedback", "feedback": "thumbs_down"}, {"kind": "sample", "rate": 0.02}):
        rule_create(queue=queue, actor=None, data=rule)
    events = make_calls(calls)
    for lo in range(0, len(events), 500):
        batch_ingest(project_id=project.id, body=json.dumps({"events": events[lo:lo + 500]}).encode())
    while project_process(project_id=project.id):
        pass
    spent = [0.0]

    def timed(cur: object, project_id: int, call_ids: list[int]) -> None:
        t0 = time.perf_counter()
        routing.after_evaluation(cur, project_id, call_ids)
        spent[0] += time.perf_counter() - t0

    hooks = batch._AFTER_EVALUATION
    index = hooks.index(routing.after_evaluation)
    hooks[index] = timed
    try:
        began = time.perf_counter()
        evaluated = 0
        while done := project_evaluate(project_id=project.id):
            evaluated += done
        total = time.perf_counter() - began
    finally:
        hooks[index] = routing.after_evaluation
    from review.models import Item

    return {"evaluated": evaluated, "evaluation_s": total, "routing_s": spent[0],
            "share": spent[0] / (total - spent[0]) if total > spent[0] else 0.0,
            "routed": Item.objects.filter(queue=queue).count()}


def run(items: int, calls: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatory.settings")
    django.setup()
    print("part 1: claims and submits", flush=True)
    claims = part_claims(items)
    print(f"  next item: p50 {claims['claim_p50']:.1f} ms, p95 {claims['claim_p95']:.1f} ms (target < 100 ms)")
    print(f"  submit:    p50 {claims['submit_p50']:.1f} ms, p95 {claims['submit_p95']:.1f} ms (target < 100 ms)")
    print("part 2: routing's share of evaluation", flush=True)
    result = part_routing(calls)
    print(f"  {result['evaluated']:,} calls evaluated in {result['evaluation_s']:.1f} s; routing "
          f"{result['routing_s'] * 1000:.0f} ms ({result['share'] * 100:.2f}% of evaluation; target < 10%); "
          f"{result['routed']} items routed")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.items, args.calls)
        return 0
    from harness import servers

    with servers():
        subprocess.run([sys.executable, __file__, "--run", "--items", str(args.items), "--calls", str(args.calls)],
                       cwd=ROOT, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
