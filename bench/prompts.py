"""Experiment page benchmark (issue 16: under 300 ms at 10M calls): on a database already holding the
shared 10M-call seed (bench/pages.py's, organization "bench-pages", project "bench", prompt
"support" versions 1-5), register those versions, start experiments whose arms are existing
versions (v4 against v5 over the last 7 days; v1 against v2 over 30 days), then fetch the
experiment pages, the results API and the prompt page through gunicorn as the signed-in owner and
print the p95 of their server time (the `Server-Timing` header). Never run it on the shared seed:
copy it first (CREATE DATABASE <copy> TEMPLATE bench10m) and point DATABASE_URL at the copy.

    DATABASE_URL=postgresql://.../<copy> REDIS_URL=redis://... .venv/bin/python bench/prompts.py [--requests 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup() -> list[tuple[str, str]]:
    """Versions, labels and experiments on the seed's prompt; the paths to time."""
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from prompts.models import Experiment, Prompt
    from prompts.services import Actor, experiment_start, experiment_stop, prompt_version_create
    from tenancy.models import Project

    project = Project.objects.get(organization__slug="bench-pages", slug="bench")
    actor = Actor(label="bench", can_protect=True)
    prompt = Prompt.objects.filter(project=project, name="support").first()
    if prompt is None:
        for number in range(1, 6):
            prompt_version_create(project=project, name="support", kind="text", actor=actor,
                                  template=f"v{number}: answer {{{{question}}}} for {{{{customer}}}}",
                                  config={"model": "gpt-4.1-mini"}, commit_message=f"version {number}",
                                  labels=["production"] if number == 4 else [])
        prompt = Prompt.objects.get(project=project, name="support")
    for running in Experiment.objects.filter(prompt=prompt, status="running"):
        experiment_stop(experiment=running, actor=actor)
    now = timezone.now()
    paths = []
    for days, arms in ((7, [(4, 1), (5, 1)]), (30, [(1, 1), (2, 1)])):
        experiment = experiment_start(prompt=prompt, label="production", arms=arms, actor=actor,
                                      name=f"bench {days}d")
        Experiment.objects.filter(pk=experiment.pk).update(started_at=now - timedelta(days=days))
        base = f"/projects/{project.id}/prompts/{prompt.id}"
        paths += [(f"experiment page {days}d", f"{base}/experiments/{experiment.id}/"),
                  (f"results API {days}d", f"/api/v1/prompts/support/experiments/{experiment.id}/results"
                                           f"?project={project.id}")]
        if days == 7:
            experiment_stop(experiment=experiment, actor=actor)  # one running per label; its page stays
            Experiment.objects.filter(pk=experiment.pk).update(ended_at=now)
    paths.append(("prompt page 7d", f"/projects/{project.id}/prompts/{prompt.id}/?range=7d"))
    connection.close()
    return paths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (a copy of the 10M seed) and REDIS_URL")
    if urlsplit(url).path.lstrip("/") == "bench10m":
        raise SystemExit("bench/prompts.py writes: run it on a copy of bench10m, never on the shared seed")
    from harness import servers, web
    from pages import _collectstatic, _login, _time

    with servers(OBSERVATORY_READ_RATE="1000000/min"):
        targets = _setup()
        _collectstatic()
        results = []
        with web(os.environ.get("BENCH_PORT", "18540")) as target:
            cookie = _login(target)
            for _, path in targets:  # each gunicorn worker imports scipy on its first statistics: not timed
                _time(target, cookie, path, 4)
            for name, path in targets:
                timings, size = _time(target, cookie, path, args.requests)
                results.append((name, float(np.percentile(timings, 95)), statistics.median(timings), size))
                print(f"  {name:<22} p95 {results[-1][1]:7.1f} ms  p50 {results[-1][2]:7.1f} ms  "
                      f"({size / 1024:.0f} KB)", flush=True)
    load = os.getloadavg()
    print(f"\nServer time, 10M-call seed, {args.requests} requests each, load average {load[0]:.1f}:")
    for name, p95, p50, _ in results:
        print(f"{name:<22} p95 {p95:7.1f} ms   p50 {p50:7.1f} ms")
    pages = [r for r in results if r[0].startswith("experiment page")]
    worst = max(pages, key=lambda r: r[1])
    print(f"experiment page: slowest {worst[0]} at p95 {worst[1]:.1f} ms (target < 300 ms; load {load[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
