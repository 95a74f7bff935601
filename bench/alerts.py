"""Alerts benchmark: 1,000 rules on 10 million calls over 30 days.

Part 1, the evaluation cycle: 999 rules of every condition (threshold, change against the previous
window or a week ago, robust z-score, SLO burn rate on errors and on latency, calendar budget),
half of them grouped by model or feature, are made due and evaluated as one beat tick would, in
this process, as of the newest seeded minute (so every window has data). Prints the seconds per
cycle (wall and CPU) and rules per second; target: a whole cycle under 10 s of worker time.

Part 2, detection latency: gunicorn, one Celery worker with beat as its thread (as `dev.py run`)
and a local receiver of signed webhooks. A 1,000th rule pages when a feature's p95 latency over
5 minutes passes 5 s; bursts of slow calls, each under a feature of its own, are posted to the
ingest API every 20 s (the 999 rules are due every minute meanwhile). For each burst: the time
from the POST to the arrival of its verified (`standardwebhooks`) webhook; target: p95 <= 90 s.

The project is the shared seed's (organization "bench-pages", project "bench": bench/pages.py);
without it one is made and `--calls` calls are loaded and rolled up with bench/rollups.py's
loader. Point DATABASE_URL at a copy of the seed database, never the seed itself: the bench
writes rules, incidents and calls.

    DATABASE_URL=postgresql://postgres@127.0.0.1/<copy> .venv/bin/python bench/alerts.py [--bursts 12]
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, whose rollups.py would shadow the rollups app
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))

RULES = 999  # + the detection rule = the 1,000 a project may hold
CYCLE_TARGET_S, LATENCY_TARGET_S = 10.0, 90.0
BURST_CALLS, BURST_LATENCY_MS = 40, 9000.0


def _rollup_bench() -> Any:
    """bench/rollups.py (its loader and roll-up), imported under another name: `rollups` is the app."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_rollups", ROOT / "bench" / "rollups.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _project(calls: int, workers: int) -> Any:
    from quality.models import QualitySettings
    from telemetry.models import Call
    from tenancy.models import Project
    from tenancy.services import organization_create, project_create

    project = Project.objects.filter(organization__slug="bench-pages", slug="bench").first()
    if project is None:
        project = project_create(organization=organization_create(name="Bench pages", slug="bench-pages"),
                                 name="bench")
    QualitySettings.objects.update_or_create(project=project, defaults={"evaluate": False})
    if not Call.objects.filter(project_id=project.id).exists():
        from django.db import connection

        connection.close()
        loader = _rollup_bench()
        print(f"no seed: loading {calls:,} calls over 30 days...", flush=True)
        loader.load(os.environ["DATABASE_URL"], project.id, calls, 30)
        loader.roll_up(project.id, calls, workers)
    return project


def rule_specs(n: int) -> list[dict[str, Any]]:
    """n rules cycling through the conditions; every other one grouped by model or feature."""
    windows = [300, 900, 3600, 6 * 3600, 86400]
    specs = []
    for i in range(n):
        kind = i % 5
        group = [] if i % 2 == 0 else (["model"] if i % 4 == 1 else ["feature"])
        window = windows[(i // 5) % len(windows)]
        spec: dict[str, Any] = {"name": f"bench {i:03d}", "group_by": group, "window_seconds": window,
                                "min_count": 10}
        if kind == 0:
            measure = ["latency_p95", "latency_p99", "error_rate", "cost", "count", "tokens_total", "latency_avg",
                       "ttft_p90"][(i // 5) % 8]
            level = {"latency_p95": 3000, "latency_p99": 4000, "error_rate": 0.05, "cost": 50.0, "count": 10_000,
                     "tokens_total": 5e6, "latency_avg": 1500, "ttft_p90": 800}[measure]
            spec.update(measure=measure, condition="threshold",
                        condition_config={"op": "above", "critical": level, "warning": level * 0.8})
        elif kind == 1:
            measure = ["count", "error_rate", "latency_p95", "cost"][(i // 5) % 4]
            spec.update(measure=measure, condition="change",
                        condition_config={"baseline": "week_ago" if i % 3 else "previous_window", "mode": "relative",
                                          "direction": "up", "critical": 0.5, "min_baseline_count": 20})
        elif kind == 2:
            spec.update(measure=["count", "error_rate", "latency_p95"][(i // 5) % 3], condition="zscore",
                        window_seconds=3600, condition_config={"weeks": 3, "direction": "either", "critical": 4})
        elif kind == 3:
            measure = "error_rate" if i % 3 else "latency_over_2000"
            spec.update(measure=measure, condition="burn_rate", window_seconds=300,
                        condition_config={"objective": 0.99 if measure == "latency_over_2000" else 0.95})
        else:
            spec.update(measure="cost", condition="budget", window_seconds=86400,
                        condition_config={"period": "day" if i % 3 else "month", "amount": 40.0 + i,
                                          "tiers": [0.5, 0.8, 1.0, 1.2]})
        specs.append(spec)
    return specs


def make_rules(project: Any, n: int) -> list[int]:
    """The bench's rules, validated as the API would, written at once (earlier runs' replaced)."""
    from alerts.models import Rule
    from alerts.services import rule_validate

    Rule.objects.filter(project=project).delete()
    rules = []
    for spec in rule_specs(n):
        rule = Rule(project=project, **spec)
        rule_validate(rule)
        rules.append(rule)
    return [r.id for r in Rule.objects.bulk_create(rules)]


def evaluation_cycles(project: Any, cycles: int) -> list[tuple[float, float, int]]:
    """(wall s, CPU s of the worker and its database backend, rules) of `cycles` consecutive beat
    ticks as of the newest seeded minute, evaluated in this process as a worker would."""
    from django.db import connection
    from django.db.models import Max

    from alerts.evaluation import minute_of, rules_evaluate_due
    from alerts.models import Rule
    from telemetry.models import Call

    # The seed's newest call, not an earlier run's bursts (whose features are burst-…).
    newest = Call.objects.filter(project_id=project.id).exclude(feature__startswith="burst-").aggregate(
        t=Max("start_time"))["t"]
    at = minute_of(newest)
    print(f"evaluating as of {at:%Y-%m-%d %H:%M} UTC (the newest seeded minute)", flush=True)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    out = []
    for k in range(cycles):
        tick = at + timedelta(minutes=k)
        Rule.objects.filter(project=project).update(next_evaluation_at=tick)
        cpu, db_cpu = time.process_time(), _cpu_seconds(backend)
        began = time.perf_counter()
        done = rules_evaluate_due(now=tick)
        wall, cpu, db_cpu = time.perf_counter() - began, time.process_time() - cpu, _cpu_seconds(backend) - db_cpu
        out.append((wall, cpu + db_cpu, done))
        print(f"  cycle {k + 1}: {done} rules in {wall:.2f} s wall; CPU {cpu:.2f} s in the worker + {db_cpu:.2f} s in "
              f"its PostgreSQL backend (load average {os.getloadavg()[0]:.1f})", flush=True)
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a local process (the PostgreSQL backend serving this connection): the
    cycle's own work, whatever else the machine is doing, which wall time under load is not."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Receiver:
    """A local webhook endpoint: verifies each request with `standardwebhooks` and notes its arrival."""

    def __init__(self) -> None:
        arrivals: dict[str, float] = {}
        self.arrivals, self.rejected, self.verifier = arrivals, 0, None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                try:
                    payload = outer.verifier.verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception:  # noqa: BLE001 - any failure to verify is counted, not raised
                    outer.rejected += 1
                else:
                    if payload["type"] == "alert.triggered":
                        arrivals.setdefault(payload["data"]["group"].get("feature", ""), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _post(target: str, key: str, events: list[dict[str, Any]]) -> None:
    host, port = target.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/api/v1/ingest", body=json.dumps({"events": events}),
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 202:
        raise SystemExit(f"ingest answered {response.status}")


def detection_latency(project: Any, bursts: int, gap: float, port: str) -> list[float]:
    import standardwebhooks
    from django.db import connection
    from harness import web

    from alerts import services
    from alerts.models import Rule
    from tenancy.services import api_key_create

    key = api_key_create(project=project, scopes=["ingest"]).raw_key
    receiver = Receiver()
    channel, shown = services.channel_create(project=project, actor=None, kind="webhook", name="bench hook",
                                             secrets={"url": receiver.url})
    receiver.verifier = standardwebhooks.Webhook(shown["secret"])
    services.rule_create(project=project, actor=None, name="bench detection: p95 over 5 s", measure="latency_p95",
                         condition="threshold", condition_config={"op": "above", "critical": 5000},
                         window_seconds=300, min_count=5, group_by=["feature"],
                         routes=[{"channel": channel.id, "severities": ["critical"]}])
    # The 999 rules are due again from now on: the worker evaluates them every minute meanwhile.
    Rule.objects.filter(project=project).update(next_evaluation_at=datetime.now(timezone.utc))
    connection.close()
    log = open("/tmp/ac-bench-worker.log", "wb")  # noqa: SIM115 - closed with the worker
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "observatory", "worker", "--loglevel=INFO",
                               "--beat-thread", "--concurrency", "2", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    sent: dict[str, float] = {}
    run = f"{int(time.time()) % 100000}"
    try:
        with web(port) as target:
            time.sleep(5)  # the worker's start-up
            for i in range(bursts):
                feature = f"burst-{run}-{i}"
                now = datetime.now(timezone.utc)
                events = [{"type": "call", "id": f"{feature}-{j}", "timestamp": (now - timedelta(seconds=j % 20))
                           .isoformat(), "latency_ms": BURST_LATENCY_MS, "provider": "openai",
                           "model": "gpt-4o-mini", "feature": feature, "usage": {"input_tokens": 20, "output_tokens": 5}}
                          for j in range(BURST_CALLS)]
                sent[feature] = time.monotonic()
                _post(target, key, events)
                print(f"  burst {i + 1}/{bursts} posted ({BURST_CALLS} calls of {BURST_LATENCY_MS / 1000:.0f} s)",
                      flush=True)
                time.sleep(gap)
            deadline = time.monotonic() + 240
            while len(receiver.arrivals) < bursts and time.monotonic() < deadline:
                time.sleep(1)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        receiver.server.shutdown()
    latencies = [receiver.arrivals[f] - t for f, t in sent.items() if f in receiver.arrivals]
    missing = len(sent) - len(latencies)
    print(f"  {len(latencies)} of {bursts} bursts paged ({missing} missing within 4 min), "
          f"{receiver.rejected} webhooks failed verification", flush=True)
    for f, t in sent.items():
        print(f"    {f}: {receiver.arrivals[f] - t:.1f} s" if f in receiver.arrivals else f"    {f}: never", flush=True)
    return latencies + [float("inf")] * missing


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000_000, help="calls to load when there is no seed")
    parser.add_argument("--workers", type=int, default=2, help="Celery processes rolling up a new seed")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--bursts", type=int, default=12)
    parser.add_argument("--gap", type=float, default=20.0, help="seconds between bursts")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()

    from harness import servers

    with servers(OBSERVATORY_ALERTS_ALLOW_PRIVATE_URLS="true", OBSERVATORY_INGEST_RATE="1000000/min"):
        import django

        django.setup()
        from rollups.models import Rollup

        project = _project(args.calls, args.workers)
        rows = Rollup.objects.filter(project_id=project.id).count()
        print(f"project {project.id}: {rows:,} rollup rows; making {RULES} rules...", flush=True)
        make_rules(project, RULES)
        cycles = evaluation_cycles(project, args.cycles)
        latencies = [] if args.skip_latency else detection_latency(project, args.bursts, args.gap,
                                                                    os.environ.get("BENCH_PORT", "18110"))
    wall = statistics.median(c[0] for c in cycles)
    cpu = statistics.median(c[1] for c in cycles)
    rules = cycles[-1][2]
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores); cycles, wall s: "
          f"{', '.join(f'{c[0]:.1f}' for c in cycles)}; CPU s: {', '.join(f'{c[1]:.1f}' for c in cycles)}",
          flush=True)
    headline = (f"alerts: evaluation cycle of {rules} rules, median of {len(cycles)}: {cpu:.2f} s of CPU (worker + "
                f"database; {rules / cpu:,.0f} rules/s), {wall:.2f} s wall at load {os.getloadavg()[0]:.0f} "
                f"({rules / wall:,.0f} rules/s); target < {CYCLE_TARGET_S:.0f} s: "
                f"{'met' if cpu < CYCLE_TARGET_S else 'NOT met'} in CPU, "
                f"{'met' if wall < CYCLE_TARGET_S else 'not met'} in wall time")
    if latencies:
        p95 = sorted(latencies)[math.ceil(0.95 * len(latencies)) - 1]  # nearest rank
        headline += (f"; detection latency p95 {p95:.0f} s, median {statistics.median(latencies):.0f} s over "
                     f"{len(latencies)} bursts (target <= {LATENCY_TARGET_S:.0f} s: "
                     f"{'met' if p95 <= LATENCY_TARGET_S else 'NOT met'})")
    print(headline, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
