"""Scoring throughput: the whole evaluation path in one worker process, all built-in evaluators on.

    .venv/bin/python bench/scoring.py [--calls 20000]

On embedded PostgreSQL and Redis in a fresh folder (or DATABASE_URL / REDIS_URL): loads a
realistic mix of calls (bench/scoring_mix.py: short chats, RAG answers with context, JSON, PII,
injections, refusals, ~10% non-English) through the real ingest service, processes them (rollups,
evaluation queue), then starts ONE worker process that drains the evaluation queue with
quality.services.project_evaluate (claim, evaluate, write scores, flags and state, fold score
rollups). Prints µs per call for each evaluator (measured inside the worker), the worker's peak
RSS, the cost of a 5 MB output against a 20 KB one, and, last, `N calls/s`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, whose rollups.py would shadow the rollups app
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))


def _setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatory.settings")
    django.setup()


def load(calls: int) -> int:
    """Ingest the mix through the ingest service and process it, leaving it queued for evaluation."""
    _setup()
    from django.db import connection
    from scoring_mix import make_calls

    from ingest.services import batch_ingest
    from telemetry.services import project_process
    from tenancy.services import organization_create, project_create

    project = project_create(organization=organization_create(name="Bench scoring " + os.urandom(3).hex()), name="scoring")
    events = make_calls(calls)
    for lo in range(0, len(events), 500):
        result = batch_ingest(project_id=project.id, body=json.dumps({"events": events[lo:lo + 500]}).encode())
        assert not result.rejected, result.rejected[:3]
    while project_process(project_id=project.id, max_batches=100):
        pass
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality_pendingevaluation WHERE project_id = %s", [project.id])
        queued = cur.fetchone()[0]
    assert queued == calls, (queued, calls)
    return project.id


def worker(project_id: int) -> None:
    """The measured process: drain the queue like quality.tasks.evaluate_project does."""
    _setup()
    from django.conf import settings

    import quality.batch
    from quality import services
    from quality.registry import EVALUATORS

    spent: dict[str, float] = {}
    original = quality.batch.evaluate_many

    # CPU time of the calling thread: the task runs two threads, and wall time would count the
    # moments one waits for the other to release the GIL.
    def timed(evaluator, samples, config):  # type: ignore[no-untyped-def]
        began = time.thread_time()
        try:
            return original(evaluator, samples, config)
        finally:
            spent[evaluator.name] = spent.get(evaluator.name, 0.0) + time.thread_time() - began

    quality.batch.evaluate_many = timed
    # Models load once per process (as in a long-running worker); loading is not throughput.
    from quality.evaluators.base import Sample

    warm = Sample(input_text="Hello there, how are you doing today? Tell me about the weather.",
                  output_text="I am fine, thank you. The weather is sunny and warm in most places today.")
    for evaluator in EVALUATORS.values():
        original(evaluator, [warm], evaluator.defaults)
    began, done = time.perf_counter(), 0
    while True:  # as quality.tasks.evaluate_project does, task after task
        n = services.project_evaluate_threads(project_id=project_id, max_batches=20)
        done += n
        if n < 20 * services.BATCH_SIZE:
            break
    seconds = time.perf_counter() - began
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"calls": done, "seconds": seconds, "rss_mb": rss_mb, "threads": settings.EVALUATION_THREADS,
                      "per_evaluator_us": {k: v / max(done, 1) * 1e6 for k, v in spent.items()}}))


def huge_inputs() -> list[tuple[str, float, float]]:
    """(evaluator, ms on a 20 KB output, ms on a 5 MB output), no database: the per-evaluator caps."""
    _setup()
    from quality.evaluators.base import Sample
    from quality.registry import EVALUATORS, configured
    from quality.samples import sample_of

    line = "The deployment finished and every service reports healthy status in the dashboard. "
    out = []
    for evaluator, config in configured({}, []):
        timings = []
        for size in (20_000, 5_000_000):
            text = (line * (size // len(line) + 1))[:size]
            sample: Sample = sample_of(model="m", params={}, metadata={}, input="Is the deployment healthy?",
                                       output=text, context=None)
            evaluator.evaluate(sample, config)  # warm
            runs = []
            for _ in range(5):  # the best of five: one run on a shared machine is noise
                began = time.perf_counter()
                evaluator.evaluate(sample, config)
                runs.append((time.perf_counter() - began) * 1000)
            timings.append(min(runs))
        out.append((evaluator.name, *timings))
    assert set(EVALUATORS) >= {name for name, *_ in out}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0
    from harness import servers

    with servers():
        print(f"loading {args.calls:,} calls through the ingest service...", flush=True)
        began = time.perf_counter()
        project_id = _in_child(f"import scoring; print(scoring.load({args.calls}))")
        print(f"loaded and processed in {time.perf_counter() - began:.0f} s; evaluating in one worker process...",
              flush=True)
        result = json.loads(subprocess.run([sys.executable, __file__, "--worker", project_id], cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print("\nevaluator           µs of CPU per call")
        for name, us in sorted(result["per_evaluator_us"].items(), key=lambda item: -item[1]):
            print(f"  {name:18s} {us:9.1f}")
        evaluators_us = sum(result["per_evaluator_us"].values())
        per_call_us = result["seconds"] / result["calls"] * 1e6
        print(f"  {'all evaluators':18s} {evaluators_us:9.1f}")
        print(f"  {'whole path':18s} {per_call_us:9.1f}  (wall time per call: claim, load, evaluate, write, fold;"
              f" {result['threads']} threads)")
        print("\ncost of a huge output (the caps): evaluator, 20 KB ms, 5 MB ms")
        for name, small, big in json.loads(_in_child("import scoring, json; print(json.dumps(scoring.huge_inputs()))")):
            print(f"  {name:18s} {small:8.2f} {big:8.2f}")
        print(f"\nworker peak RSS: {result['rss_mb']:.0f} MB")
        print(f"{result['calls']:,} calls in {result['seconds']:.1f} s")
        print(f"{result['calls'] / result['seconds']:.0f} calls/s")
    return 0


def _in_child(code: str) -> str:
    """Run code in a fresh interpreter (bench/ on the path); its last output line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True, env=env)
    return proc.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    sys.exit(main())
